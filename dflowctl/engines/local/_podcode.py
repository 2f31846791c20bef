"""Code the warm fork server compiles once for many pods, which its children inherit.

Part of the pod process starters (``_podserver.py``), which run as scripts under whichever
``python3`` a pod uses: standard library only, nothing from the package but its sibling
``_podproc.py``.

- ``precompile``: a pod's script, once per distinct text (a fan-out runs the same script
  for every item), and the texts the script compiles itself at run time (the bundled
  ``dflow.python`` of a bootstrap: ``_warm_texts``); a dflowctl bootstrap's definitions
  run once, each pod running only its main guard (``_warm_main``);
- ``layer_modules``: the modules of the run's shared layer that the pods import
  (``_podproc._compiled_once`` hands them to the import system).
"""

from __future__ import annotations
import __future__

import json
import os
import sys

if __package__:  # imported from the package
    from dflowctl.engines.local._podproc import _PRELOADED
else:  # run as a script: its own folder is sys.path[0]
    from _podproc import _PRELOADED  # type: ignore[no-redef]

_CODE_CACHE: dict[tuple[str, str], object] = {}
_CODE_CACHE_SIZE = 64


_TEXTS: dict[int, str] = {}  # script texts by the number the client gave them
TEXTS_KEPT = 64  # forkserver keeps as many: the same texts, forgotten in the same order


def restore_text(spec: dict) -> None:
    """Put back the script text a request names by number (``text_ref``, a text sent
    before with ``text_id``; forkserver.ForkServer._by_reference); LookupError: not known
    (the pod is then started without the server)."""
    py = spec.get("py")
    if not isinstance(py, dict):
        return
    if "text_id" in py:
        if len(_TEXTS) >= TEXTS_KEPT:
            _TEXTS.pop(next(iter(_TEXTS)))
        _TEXTS[int(py.pop("text_id"))] = py["source"]
    elif "text_ref" in py:
        number = int(py.pop("text_ref"))
        if number not in _TEXTS:
            raise LookupError(f"the fork server has no script text numbered {number}")
        py["source"] = _TEXTS[number]


def precompile(spec: dict) -> None:
    """Compile the pod's Python source once per distinct source; children inherit the code object.

    A fan-out runs the same script for every item (values come in env), and
    compiling a large script costs more than forking.
    """
    py = spec.get("py") if spec.get("mode") == "python" else None
    if not py or py.get("source") is None:
        return
    key = (py["target"], py["source"])
    code = _CODE_CACHE.get(key)
    if code is None:
        try:
            code = compile(
                py["source"].encode("utf-8", "surrogateescape"), py["target"], "exec", dont_inherit=True
            )
        except (SyntaxError, ValueError):
            return  # the child compiles again and reports it as python3 would
        if len(_CODE_CACHE) >= _CODE_CACHE_SIZE:
            _CODE_CACHE.pop(next(iter(_CODE_CACHE)))
        _CODE_CACHE[key] = code
        _warm_texts(py, code)
    py["_code"] = code
    if isinstance(py.get("warm_main"), int):
        warm = _warm_main(key, int(py["warm_main"]), code)
        if warm is not None:
            py["_warm"] = warm


WARM = "_dflowctl_warm"  # render/bootstrap.py looks texts up in sys.modules[WARM].CODE
_FUTURE_FLAGS = 0  # what compile() inherits from the code that calls it
for _feature in __future__.all_feature_names:
    _FUTURE_FLAGS |= getattr(__future__, _feature).compiler_flag


def _warm_texts(py: dict, script: object) -> None:
    """Compile once, for all the pods of a script, the texts it compiles itself at run time
    (``py["precompile"]``: [file name, start, end] of a JSON string in its source: the
    bundled ``dflow.python`` of a bootstrap, ``preload.precompiled``), as the script
    would (its ``__future__`` flags); the bootstrap finds them in ``sys.modules[WARM]``."""
    if not py.get("precompile"):
        return
    warm = sys.modules.get(WARM)
    if warm is None:
        import types

        warm = sys.modules[WARM] = types.ModuleType(WARM, "texts compiled once for the pods")
        warm.CODE = {}  # type: ignore[attr-defined]
    flags = getattr(script, "co_flags", 0) & _FUTURE_FLAGS
    for filename, start, end in py.get("precompile") or ():
        try:
            text = json.loads(py["source"][start:end])
            if isinstance(text, str) and (filename, text) not in warm.CODE:
                warm.CODE[(filename, text)] = compile(text, filename, "exec", flags=flags, dont_inherit=True)
        except (ValueError, TypeError, SyntaxError):
            pass  # the pod compiles it and reports what is wrong


_WARM_MAIN: dict[tuple[str, str], tuple[object, object] | None] = {}
_WARM_MAIN_KEPT = 8  # scripts whose definitions are kept run (the oldest forgotten first)


def _warm_main(key: tuple[str, str], at: int, script: object) -> tuple[object, object] | None:
    """A dflowctl bootstrap's definitions run once for all its pods (``py["warm_main"]``: where
    its main guard starts, given only for a text render/bootcheck.py found to be exactly a
    bootstrap: imports, constants, functions and classes before the guard, nothing that reads
    the pod's world): (its ``__main__`` module, the guard's code). Running them in every pod
    was ~0.3 ms of its CPU, most of it copy-on-write faults of the memory they take.
    ``_podproc._run_python`` runs the guard in the module; None (anything failed): the whole
    script runs in the pod as before."""
    if key in _WARM_MAIN:
        return _WARM_MAIN[key]
    if len(_WARM_MAIN) >= _WARM_MAIN_KEPT:
        _WARM_MAIN.pop(next(iter(_WARM_MAIN)))
    filename, source = key
    warm: tuple[object, object] | None = None
    try:
        import builtins
        import types

        flags = getattr(script, "co_flags", 0) & _FUTURE_FLAGS
        head = compile(source[:at].encode("utf-8", "surrogateescape"), filename, "exec", dont_inherit=True)
        guard = "\n" * source.count("\n", 0, at) + source[at:]  # its lines keep their numbers
        tail = compile(
            guard.encode("utf-8", "surrogateescape"), filename, "exec", flags=flags, dont_inherit=True
        )
        module = types.ModuleType("__main__")
        module.__dict__["__builtins__"] = builtins
        module.__file__ = filename
        before = set(sys.modules)
        exec(head, module.__dict__)
        warm = (module, tail)
        # what it imported is the server's, as the preloaded modules are: a module of the
        # same name in a pod's own path makes that pod forget it (_podproc._unshadow)
        _PRELOADED.update({m.split(".")[0] for m in sys.modules if m not in before})
    except BaseException:  # the pod runs the whole script and reports what fails
        warm = None
    _WARM_MAIN[key] = warm
    return warm


_LAYER_MODULES: dict[tuple[str, tuple[str, ...]], dict[str, tuple[bytes, object]]] = {}
# Bounded: the server's memory is every pod's to copy (page tables at each fork)
_LAYERS_KEPT = 8  # layers whose modules are kept (the oldest forgotten first)
MODULE_FILES = 2000  # at most this many modules of one layer compiled ahead ...
MODULE_BYTES = 4 << 20  # ... and this much source: the rest as each pod imports it


def layer_modules(spec: dict) -> None:
    """Compile once per shared layer the Python modules of its folders that are on the warm
    pod's Python path (``py["no_bytecode"]`` and ``py["path"]``, or ``py["imports_from"]``:
    where a dflowctl bootstrap imports its op from; the run's ``source:`` folder),
    read from the layer on the host; the children get them as ``py["_modules"]``
    (``_podproc._compiled_once``). Compiling the op's modules in every pod cost more than
    running a small op (a 500-line module: ~4 ms)."""
    py = spec.get("py") if spec.get("mode") == "python" else None
    layer = (spec.get("view") or {}).get("layer")
    if not py or not layer:
        return
    on_path = {p.rstrip("/") for p in (*(py.get("path") or ()), *(py.get("imports_from") or ()))}
    folders = tuple(f for f in py.get("no_bytecode") or () if f.rstrip("/") in on_path)
    if not folders:
        return
    table = _LAYER_MODULES.get((layer, folders))
    if table is None:
        table = _compile_modules(layer, list(folders))
        if len(_LAYER_MODULES) >= _LAYERS_KEPT:
            _LAYER_MODULES.pop(next(iter(_LAYER_MODULES)))
        _LAYER_MODULES[(layer, folders)] = table
    py["_modules"] = table


def _compile_modules(layer: str, folders: list[str]) -> dict[str, tuple[bytes, object]]:
    table: dict[str, tuple[bytes, object]] = {}
    files, size = 0, 0
    for folder in folders:
        top = os.path.join(layer, folder.strip("/"))
        for dirpath, dirnames, filenames in os.walk(top):  # links to folders are not followed
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                host = os.path.join(dirpath, name)
                if not name.endswith(".py") or os.path.islink(host):
                    continue
                if files >= MODULE_FILES:
                    return table
                files += 1
                try:
                    with open(host, "rb") as fh:
                        data = fh.read(MODULE_BYTES - size + 1)
                except OSError:
                    continue
                size += len(data)
                if size > MODULE_BYTES:
                    return table
                path = folder.rstrip("/") + host[len(top) :]  # as the pod sees it
                try:
                    table[path] = (data, compile(data, path, "exec", dont_inherit=True))
                except (SyntaxError, ValueError):
                    pass  # the pod compiles it and reports the error as python3 would
    return table
