# dflowctl bootstrap: runs one Python op inside its container (or the local engine).
# Standard library only: the image needs nothing but a Python 3 interpreter.
# The renderer replaces the CONFIG line below with the op's declared interface.
#
# Layout (ROOT is $DFLOWCTL_ROOT, default /tmp/dflowctl):
#   input parameters   env DFLOWCTL_PARAM_<name>   (str raw, other types JSON text)
#   input artifacts    ROOT/inputs/artifacts/<name>
#   output parameters  ROOT/outputs/parameters/<name>   (str raw, other types JSON text)
#   output artifacts   ROOT/outputs/artifacts/<name>
#   op source code     ROOT/source  (put on sys.path when present)
#   working directory  ROOT/workdir (unless the op sets `workdir`)
# Exit codes: 0 success, 1 the op failed or returned wrong outputs, 2 the op
# raised dflow's FatalError (a retry expression on the exit code skips retries).
# A failure's one-line reason (`Type: last line (file:line)`) also goes to
# $DFLOWCTL_TERMINATION_LOG, else /dev/termination-log, where Argo reads a
# node's message from.
from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import shutil
import sys
import traceback
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONFIG: dict[str, Any] = {}  # dflowctl:config
DFLOW_PYTHON = ""  # dflowctl:dflow-python
DFLOW_FILE = "<dflowctl: dflow.python>"  # its file name in tracebacks
# A warm interpreter that runs many pods (the local engine's fork server) may have compiled
# texts ahead, once for all of them: sys.modules[WARM].CODE[(file name, text)] -> code.
WARM = "_dflowctl_warm"

PARAM_ENV_PREFIX = "DFLOWCTL_PARAM_"
EXIT_FATAL = 2
MESSAGE_LIMIT = 1024


class DflowFinder:
    """Serves ``dflow`` / ``dflow.python`` from DFLOW_PYTHON; sits behind every other finder."""

    @classmethod
    def find_spec(cls, name: str, path: object = None, target: object = None) -> Any:
        if name not in ("dflow", "dflow.python"):
            return None
        import importlib.util

        return importlib.util.spec_from_loader(name, cls(), is_package=True)  # type: ignore[arg-type]

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: Any) -> None:
        module.__path__ = []
        if module.__name__ == "dflow.python":
            module.__file__ = DFLOW_FILE
            exec(compiled(DFLOW_PYTHON, DFLOW_FILE), module.__dict__)


def compiled(text: str, filename: str) -> Any:
    """``compile(text, filename, "exec")``, unless a warm interpreter compiled it already."""
    code = getattr(sys.modules.get(WARM), "CODE", {}).get((filename, text))
    return code if code is not None else compile(text, filename, "exec")


def install_dflow_python() -> None:
    if DFLOW_PYTHON and DflowFinder not in sys.meta_path:
        sys.meta_path.append(DflowFinder)  # type: ignore[arg-type]


class OpError(Exception):
    """A problem reported as one clear line (no traceback)."""


def _describe(value: object) -> str:
    return type(value).__name__


def decode_param(name: str, raw: str, ptype: str) -> object:
    """Turn the wire text of a parameter into a value of its declared type; ``T?``: an
    input whose code default is None, the text ``null`` being None."""
    if ptype.endswith("?"):
        if raw == "null":
            return None
        ptype = ptype[:-1]
    if ptype == "str":
        return raw
    if ptype == "any":
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    if ptype == "bool" and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    if element_type(ptype) is not None:
        return decode_list(name, raw, ptype)
    try:
        value = json.loads(raw)
    except ValueError:
        raise OpError(f"input parameter '{name}' is declared {ptype} but got {raw!r}") from None
    if not type_fits(value, ptype):
        raise OpError(f"input parameter '{name}' is declared {ptype} but got {raw!r}")
    if ptype == "float":
        return float(value)
    return value


# ----------------------------------------------------------------- typed lists
# An input declared list[T] is a JSON list; each element that is text (Argo's fan-in
# of a foreach step's outputs is a list of strings) is decoded as a T when it reads as
# one (else kept as it is), a null stays None (an item that failed or was skipped).


def element_type(ptype: str) -> str | None:
    """``int`` for ``list[int]`` (``dict[str, T]`` items as ``dict``); None for other types."""
    if not (ptype.startswith("list[") and ptype.endswith("]")):
        return None
    inner = ptype[5:-1].replace(" ", "")
    return "dict" if inner.startswith("dict[") else inner


def decode_list(name: str, raw: str, ptype: str) -> list[object]:
    inner = element_type(ptype) or "any"
    try:
        values = json.loads(raw)
    except ValueError:
        raise OpError(f"input parameter '{name}' is declared {ptype} but got {raw!r}") from None
    if not isinstance(values, list):
        raise OpError(f"input parameter '{name}' is declared {ptype} but got {raw!r}")
    out: list[object] = []
    for i, value in enumerate(values):
        if isinstance(value, str) and inner != "str":
            try:
                value = decode_param(f"{name}[{i}]", value, inner)
            except OpError:
                pass  # kept as it is: the op (or a dflow sign check) says what it expects
        elif inner == "str" and value is not None and not isinstance(value, str):
            value = json.dumps(value)
        elif inner == "float" and type_fits(value, "float"):
            value = float(value)  # type: ignore[arg-type]
        out.append(value)
    return out


# Argo's fan-in holds only the items that succeeded. When the renderer passes the
# producer's item indices (each item outputs its own) and its item count, a list
# input is put back in item order with None where an item failed or was skipped.
INDEX_ENV = "DFLOWCTL_INDEX"
ALIGN_ENV = "DFLOWCTL_ALIGN_"
COUNT_ENV = "DFLOWCTL_COUNT_"
FLAT_ENV = "DFLOWCTL_FLAT_"
INDEX_OUTPUT = "dflowctl-index"


def _group_lists(texts: object) -> list[Any] | None:
    """A grouped producer's aggregated items (``foreach.group``: one JSON list per pod)
    flattened, or None when the items are not grouped."""
    if not isinstance(texts, list) or not texts:
        return None
    lists = []
    for text in texts:
        try:
            value = json.loads(text) if isinstance(text, str) else text
        except ValueError:
            return None
        if not isinstance(value, list):
            return None
        lists.append(value)
    return [v for one in lists for v in one]


def ungroup(name: str, raw: str) -> str:
    """A grouped fan-in (one JSON list per pod) as one list of the items' values."""
    indices_text = os.environ.get(ALIGN_ENV + name)
    try:
        grouped = indices_text is not None and _group_lists(json.loads(indices_text)) is not None
        flat = _group_lists(json.loads(raw)) if grouped else None
    except ValueError:
        return raw
    return raw if flat is None else json.dumps(flat)


def realign(name: str, value: object) -> object:
    indices_text = os.environ.get(ALIGN_ENV + name)
    count_text = os.environ.get(COUNT_ENV + name)
    if indices_text is None or count_text is None or not isinstance(value, list):
        return value
    try:
        listed: list[Any] = json.loads(indices_text)
        indices = [int(i) for i in (_group_lists(listed) or listed)]
        count = int(count_text)
    except (ValueError, TypeError):
        raise OpError(
            f"input parameter '{name}': item indices {indices_text!r} are not a list of numbers"
        ) from None
    if len(indices) != len(value) or any(not 0 <= i < count for i in indices):
        raise OpError(f"input parameter '{name}': {len(value)} value(s) do not match item indices {indices}")
    aligned: list[object] = [None] * count
    for k, i in enumerate(indices):
        aligned[i] = value[k]
    return aligned


def write_index(outputs: Path) -> None:
    index = os.environ.get(INDEX_ENV)
    if index is not None:
        (outputs / "parameters" / INDEX_OUTPUT).write_text(index, encoding="utf-8")


def type_fits(value: object, ptype: str) -> bool:
    if ptype == "any":
        return True
    inner = element_type(ptype)
    if inner is not None:
        return isinstance(value, (list, tuple)) and all(v is None or type_fits(v, inner) for v in value)
    if ptype == "str":
        return isinstance(value, str)
    if ptype == "bool":
        return isinstance(value, bool)
    if ptype == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if ptype == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if ptype == "list":
        return isinstance(value, (list, tuple))
    if ptype == "dict":
        return isinstance(value, Mapping)
    return False


def encode_param(value: object, ptype: str) -> str:
    if ptype == "str" or (ptype == "any" and isinstance(value, str)):
        return str(value)
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


def load_entrypoint(spec: str) -> object:
    module_name, _, attr = spec.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.split(".")[0] == err.name.split(".")[0]:
            where = os.pathsep.join(p for p in sys.path if p) or "(empty)"
            raise OpError(f"cannot import module '{module_name}' (searched: {where})") from None
        raise
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise OpError(f"module '{module_name}' has no attribute '{attr}'")
        obj = getattr(obj, part)
    return obj


def _shape_of(annotation: object) -> str:
    """``"list"`` (List[Path]), ``"dict"`` (Dict[str, Path]) or ``""`` (one path)."""
    if isinstance(annotation, str):
        text = annotation.replace(" ", "").lower().replace("typing.", "").replace("optional[", "")
        return "list" if text.startswith("list[") else "dict" if text.startswith("dict[") else ""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple) or annotation in (list, tuple):
        return "list"
    if origin is dict or annotation is dict:
        return "dict"
    if origin is typing.Union:  # Optional[List[Path]]
        shapes = [_shape_of(a) for a in typing.get_args(annotation) if a is not type(None)]
        return next((s for s in shapes if s), "")
    return ""


def wanted_shapes(entry: object) -> dict[str, str]:
    """How the code wants each input artifact (``_shape_of`` its List[Path] / Dict[str, Path]
    hint or sign): an OP class's sign, or an @OP.function's (an instance of its OP class)."""
    result: dict[str, str] = {}
    if hasattr(entry, "get_input_sign"):
        try:
            sign = entry.get_input_sign()
        except Exception:
            return result
        for name in CONFIG["inputs"]["artifacts"]:
            declared = sign.get(name) if hasattr(sign, "get") else None
            result[name] = _shape_of(getattr(declared, "type", declared))
        return result
    if callable(entry):
        try:
            hints = typing.get_type_hints(entry)
        except Exception:
            hints = getattr(entry, "__annotations__", {}) or {}
        for name in CONFIG["inputs"]["artifacts"]:
            result[name] = _shape_of(hints.get(name))
    return result


def read_inputs(root: Path, entry: object, given: Mapping[str, Path] | None = None) -> dict[str, object]:
    """The op's inputs; ``given``: artifacts at other places (an item's slice in a group)."""
    values: dict[str, object] = {}
    for name, ptype in CONFIG["inputs"]["parameters"].items():
        raw = os.environ.get(PARAM_ENV_PREFIX + name)
        if raw is None:
            raise OpError(f"input parameter '{name}' was not given (env {PARAM_ENV_PREFIX}{name} is unset)")
        value = decode_param(name, ungroup(name, raw), ptype)
        # a dflow OP gets the successes only, as dflow stacks them: its sign check
        # (List[float]) refuses the None a failed item leaves when realigned
        values[name] = value if hasattr(entry, "get_input_sign") else realign(name, value)
    shapes = wanted_shapes(entry)
    for name, decl in CONFIG["inputs"]["artifacts"].items():
        path = (given or {}).get(name) or root / "inputs" / "artifacts" / name
        shape = shapes.get(name)
        if not path.exists():
            if decl.get("optional"):
                values[name] = [] if shape == "list" else {} if shape == "dict" else None
                continue
            raise OpError(f"input artifact '{name}' is missing: {path} does not exist")
        if shape == "dict":  # a Dict[str, Path] output: a folder per key
            entries = sorted(path.iterdir()) if path.is_dir() else [path]
            values[name] = {e.name: input_artifact(e) for e in entries}
        elif shape == "list":
            entries = sorted(path.iterdir(), key=_entry_order) if path.is_dir() else [path]
            if os.environ.get(FLAT_ENV + name) and path.is_dir():
                # a fan-in of list outputs (dflow's stacked List[Path]): every item's own
                # paths, item by item, each item's by name
                values[name] = [p for e in entries for p in _item_paths(e)]
            else:
                values[name] = [input_artifact(e) for e in entries]
        else:
            values[name] = input_artifact(path)
    return values


def _item_paths(item: Path) -> list[Path]:
    """What one item of a fan-in of list outputs returned: its folder's entries by name."""
    if item.is_dir() and not item.is_symlink():
        return sorted(item.iterdir())
    return [item]


def _opio(inputs: dict[str, object]) -> Any:
    """dflow's OPIO when dflow.python is loaded (real or bundled), else a dict."""
    dflow_python = sys.modules.get("dflow.python")
    opio = getattr(dflow_python, "OPIO", None)
    return opio(inputs) if opio is not None else dict(inputs)


def _entry_order(path: Path) -> tuple[int, int, str]:
    """Fan-in entries in item order: numeric names by number, then the rest by name."""
    name = path.name
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def call_entrypoint(entry: Any, inputs: dict[str, object]) -> object:
    if inspect.isclass(entry) and callable(getattr(entry, "execute", None)):
        instance: Any = entry()
        return instance.execute(_opio(inputs))
    if not inspect.isclass(entry) and hasattr(entry, "get_input_sign") and callable(entry.execute):
        return entry.execute(_opio(inputs))  # an @OP.function
    if callable(entry):
        return entry(**inputs)
    raise OpError(f"'{CONFIG['entrypoint']}' is neither a callable nor an OP class with execute()")


def as_outputs(result: object) -> dict[str, object]:
    declared = [*CONFIG["outputs"]["parameters"], *CONFIG["outputs"]["artifacts"]]
    if isinstance(result, Mapping) and set(result) == {"dflow_output"} and "dflow_output" not in declared:
        result = result["dflow_output"]  # an @OP.function's one unnamed return value
    if len(declared) == 1 and not (isinstance(result, Mapping) and set(result) == set(declared)):
        return {declared[0]: result}
    if result is None:
        result = {}
    if not isinstance(result, Mapping):
        if not declared:
            return {}
        raise OpError(
            f"returned {_describe(result)}, expected a dict with the outputs: {', '.join(declared)}"
        )
    unknown = sorted(str(k) for k in result if k not in declared)
    if unknown:
        known = ", ".join(declared) or "(none)"
        raise OpError(f"returned unknown output(s) {', '.join(unknown)}; declared outputs: {known}")
    return dict(result)


def _dict_key(name: str, key: object) -> str:
    """A key of a Dict[str, Path] output: the name of the folder its value is stored in."""
    if not isinstance(key, str) or not key or key in (".", "..") or "/" in key or "\0" in key:
        raise OpError(f"output artifact '{name}': key {key!r} cannot name a folder")
    return key


def _paths_of(name: str, value: object) -> list[Path]:
    if isinstance(value, Mapping):  # Dict[str, Path]: each value under a folder named by its key
        paths = []
        for key, item in value.items():
            _dict_key(name, key)
            if item is not None:
                paths.extend(_paths_of(name, item))
        return paths
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    paths = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise OpError(
                f"output artifact '{name}' must be a path, a list or a dict of paths, got {_describe(item)}"
            )
        path = Path(item)
        if not path.exists():
            raise OpError(f"output artifact '{name}': {path} does not exist")
        paths.append(path)
    return paths


def _copy(src: Path, dest: Path) -> None:
    if src.resolve() == dest.resolve():
        return
    here = os.path.realpath(os.getcwd())  # once, not per file of a returned folder
    if src.is_dir():
        copy = functools.partial(_link_or_copy, here=here)
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True, copy_function=copy)
    else:
        _link_or_copy(str(src), str(dest), here=here)


def _link_or_copy(src: str, dest: str, *, here: str) -> None:
    """A file the op made in its working directory ``here`` (one name, same file system)
    becomes the output by a hard link: no second copy of its bytes. Anything else (an input,
    a file from elsewhere, a file with other names) is copied as before."""
    try:
        st = os.stat(src)
        own = os.path.realpath(src).startswith(here.rstrip(os.sep) + os.sep) and here != os.sep
        if own and st.st_nlink == 1 and not os.path.lexists(dest):
            os.link(src, dest)
            return
    except OSError:
        pass  # another file system, a link limit, protected links: copied
    shutil.copy2(src, dest)


def check_outputs(outputs: dict[str, object]) -> None:
    for name, ptype in CONFIG["outputs"]["parameters"].items():
        if name not in outputs:
            raise OpError(f"output parameter '{name}' was not returned")
        value = outputs[name]
        if not type_fits(value, ptype):
            raise OpError(
                f"output parameter '{name}' is declared {ptype} but the op returned {_describe(value)}"
            )
        try:
            encode_param(value, ptype)
        except (TypeError, ValueError):
            raise OpError(
                f"output parameter '{name}' ({_describe(value)}) cannot be written as JSON"
            ) from None
    for name, decl in CONFIG["outputs"]["artifacts"].items():
        if outputs.get(name) is None:
            if decl.get("optional"):
                continue
            raise OpError(f"output artifact '{name}' was not returned")
        _paths_of(name, outputs[name])


def write_outputs(out_root: Path, outputs: dict[str, object]) -> None:
    param_dir = out_root / "parameters"
    art_dir = out_root / "artifacts"
    param_dir.mkdir(parents=True, exist_ok=True)
    art_dir.mkdir(parents=True, exist_ok=True)
    for name, ptype in CONFIG["outputs"]["parameters"].items():
        (param_dir / name).write_text(encode_param(outputs[name], ptype), encoding="utf-8")
    for name in CONFIG["outputs"]["artifacts"]:
        value = outputs.get(name)
        if value is not None:
            store_artifact(name, value, art_dir / name)


# ----------------------------------------------------------------- artifact shapes
# An output artifact is always a folder. It holds the returned paths under their
# own relative names (a relative path as given, an absolute one relative to the
# working directory when inside it, else its base name); one returned directory
# is the folder itself. An input artifact that is a folder holding exactly one
# file is handed to the op as that file.


def artifact_name(path: Path) -> Path:
    """The name a returned path keeps inside its artifact folder."""
    if path.is_absolute():
        try:
            rel = path.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return Path(path.name)
    else:
        rel = path
    if rel.parts and ".." not in rel.parts:
        return rel
    return Path(path.resolve().name or "artifact")


def store_artifact(name: str, value: object, dest: Path) -> None:
    if isinstance(value, Mapping):  # Dict[str, Path]: DEST/<key>/ holds each value
        dest.mkdir(parents=True, exist_ok=True)
        for key, item in value.items():
            if item is not None:
                store_artifact(name, item, dest / _dict_key(name, key))
        return
    paths = _paths_of(name, value)
    if not isinstance(value, (list, tuple)) and paths[0].is_dir():
        _copy(paths[0], dest)
        return
    dest.mkdir(parents=True, exist_ok=True)
    seen: set[Path] = set()
    for path in paths:
        rel = artifact_name(path)
        if rel in seen:
            raise OpError(f"output artifact '{name}': two paths are named '{rel.as_posix()}'")
        seen.add(rel)
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(path, target)


def input_artifact(path: Path) -> Path:
    """An input as the op sees it: a folder holding exactly one file is that file."""
    if path.is_dir() and not path.is_symlink():
        entries = [e for e in path.iterdir()]
        if len(entries) == 1 and entries[0].is_file():
            return entries[0]
    return path


def _print_user_traceback(err: BaseException) -> None:
    own = main.__code__.co_filename
    tb = err.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == own:
        tb = tb.tb_next
    traceback.print_exception(type(err), err, tb)


def op_frame(err: BaseException, source: Path) -> str | None:
    """``label/file.py:LINE`` of the innermost frame in the op's source, else of the innermost
    frame outside this file and the bundled dflow.python; None when there is none."""
    own = main.__code__.co_filename
    found: str | None = None
    fallback: str | None = None
    base = str(source) + os.sep
    for frame, line in traceback.walk_tb(err.__traceback__):
        name = frame.f_code.co_filename
        if name.startswith(base):
            found = f"{CONFIG.get('source_label') or 'source'}/{name[len(base) :]}:{line}"
        elif name != own and not name.startswith("<"):
            fallback = f"{os.path.basename(name)}:{line}"
    return found or fallback


def failure_line(err: BaseException, source: Path) -> str:
    """``Type: last line of the message (file:line)``: the step's one-line reason."""
    lines = str(err).strip().splitlines()
    text = type(err).__name__ + (f": {lines[-1].strip()}" if lines else "")
    where = op_frame(err, source)
    return f"{text} ({where})" if where else text


def report(line: str) -> None:
    """The failure's one line where the engine takes the node's message from."""
    path = os.environ.get("DFLOWCTL_TERMINATION_LOG", "/dev/termination-log")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(line[:MESSAGE_LIMIT])
    except OSError:
        pass


def is_fatal(err: BaseException) -> bool:
    fatal = getattr(sys.modules.get("dflow.python"), "FatalError", None)
    return isinstance(fatal, type) and isinstance(err, fatal)


def main(item: Mapping[str, Any] | None = None) -> int:
    """Run the op once: its inputs from the pod, outputs into ``ROOT/outputs``; an
    ``item`` of a group (``foreach.group``) has its own ``workdir``, ``outputs`` and
    ``artifacts`` (its slice)."""
    root = Path(os.environ.get("DFLOWCTL_ROOT", "/tmp/dflowctl"))
    label = f"op '{CONFIG['op']}' ({CONFIG['entrypoint']})"
    source = root / "source"
    if source.is_dir() and str(source) not in sys.path:
        sys.path.insert(0, str(source))
    install_dflow_python()
    if CONFIG.get("chdir", True):
        workdir = Path(item["workdir"]) if item is not None else root / "workdir"
        workdir.mkdir(parents=True, exist_ok=True)
        os.chdir(workdir)
    out_root = Path(item["outputs"]) if item is not None else root / "outputs"
    try:
        entry = load_entrypoint(CONFIG["entrypoint"])
        inputs = read_inputs(root, entry, item["artifacts"] if item is not None else None)
        result = call_entrypoint(entry, inputs)
        outputs = as_outputs(result)
        check_outputs(outputs)
        write_outputs(out_root, outputs)
        write_index(out_root)
    except OpError as err:
        sys.stdout.flush()
        sys.stderr.write(f"dflowctl: {label}: {err}\n")
        report(f"{label}: {err}")
        return 1
    except SystemExit:
        raise
    except KeyboardInterrupt:
        return 130
    except BaseException as err:
        sys.stdout.flush()
        _print_user_traceback(err)
        line = failure_line(err, source)
        sys.stderr.write(f"dflowctl: {label} failed: {line}\n")
        report(line)
        return EXIT_FATAL if is_fatal(err) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
