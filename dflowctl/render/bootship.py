"""The Python bootstrap shipped once per Workflow, not in each template (Argo's 1 MiB).

A Python op's template carries render/bootstrap.py as its script (about 40 KB with the
bundled ``dflow.python``), with the op's interface on its CONFIG line. Argo's controller
stops a Workflow over 1 MiB, which a workflow of about 25 distinct Python ops reaches
before it has a node. ``ship`` moves the bootstrap out of the templates, as dflow ships
its own package (``upload_packages``): each template keeps a loader of a few lines with
its CONFIG line as it was (``results.declared_types`` reads it there) and an input
artifact, ``ROOT/bootstrap.py``, stored once under ``dflowctl/bootstrap/<sha256>.py``. It
is a plain file: Argo's executor moves what is not a tarball into place as it is.

``inline`` undoes it for a step's key (``argokeys.leaf_key``): a step whose run shipped the
bootstrap and one whose run carried it have the same key, so ``--reuse`` finds either.
Pure and standard library only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, MutableMapping
from functools import cache, lru_cache
from typing import Any

from dflowctl.render.bootcheck import main_guard_at
from dflowctl.render.leaf import CONFIG_CALL, ROOT, assemble_bootstrap

ARTIFACT = "dflowctl-bootstrap"
PATH = f"{ROOT}/bootstrap.py"
KEY_PREFIX = "dflowctl/bootstrap/"
LOADER_MARK = "# dflowctl:bootstrap-loader"
# the shipped text's CONFIG line: the loader has set CONFIG before it runs the text
SHIPPED_CONFIG_LINE = "CONFIG: dict[str, Any] = CONFIG  # dflowctl:config, set by the template's loader"
_HEAD = (
    f"{LOADER_MARK}: the rest of dflowctl's bootstrap is this pod's input artifact {PATH}\n"
    "from __future__ import annotations\n"
    "\n"
    "import os\n"
    "from typing import Any\n"
    "\n"
    "import json\n"
    "\n"
)
_TAIL = (
    "\n\n"
    'BOOTSTRAP = os.path.join(os.environ.get("DFLOWCTL_ROOT", "/tmp/dflowctl"), "bootstrap.py")\n'
    'with open(BOOTSTRAP, encoding="utf-8") as shipped:\n'
    "    SHIPPED = shipped.read()\n"
    'exec(compile(SHIPPED, BOOTSTRAP, "exec", dont_inherit=True))\n'
)


def loader(config_line: str) -> str:
    """A template's script when the bootstrap is shipped: its CONFIG line, then the rest."""
    return _HEAD + config_line + _TAIL


def ship(body: MutableMapping[str, Any]) -> dict[str, str]:
    """Replace, in place, each bootstrap in ``body``'s templates by its loader and an input
    artifact; returns the texts to store ({key: text}, one per kind of bootstrap used)."""
    stored: dict[str, str] = {}
    for tmpl in (body.get("spec") or {}).get("templates") or []:
        script = tmpl.get("script") if isinstance(tmpl, MutableMapping) else None
        if not isinstance(script, MutableMapping):
            continue
        source = script.get("source")
        if not isinstance(source, str) or main_guard_at(source) is None:
            continue
        start = source.index("\n" + CONFIG_CALL) + 1
        end = source.index("\n", start)
        text = source[:start] + SHIPPED_CONFIG_LINE + source[end:]
        key = _key(text)
        stored[key] = text
        script["source"] = loader(source[start:end])
        inputs = tmpl.setdefault("inputs", {})
        inputs.setdefault("artifacts", []).append({"name": ARTIFACT, "path": PATH, "s3": {"key": key}})
    return stored


@cache
def _shipped_texts() -> dict[str, str]:
    """What ``ship`` stores, by key, for each kind of bootstrap this package renders."""
    texts = [
        assemble_bootstrap(SHIPPED_CONFIG_LINE, dflow=dflow, group=group)
        for dflow in (False, True)
        for group in (False, True)
    ]
    return {_key(t): t for t in texts}


def _key(text: str) -> str:
    """Where a shipped text is stored: named by its content."""
    return f"{KEY_PREFIX}{hashlib.sha256(text.encode('utf-8')).hexdigest()}.py"


def inline(tmpl: Mapping[str, Any]) -> Mapping[str, Any]:
    """``tmpl`` as it was before ``ship``: the same object when it has no loader, or one whose
    shipped text is not this package's bootstrap (its key then differs, as the text does)."""
    script = tmpl.get("script")
    if not isinstance(script, Mapping):
        return tmpl
    source = script.get("source")
    if not isinstance(source, str) or not source.startswith(LOADER_MARK):
        return tmpl
    arts = (tmpl.get("inputs") or {}).get("artifacts") or []
    boot = [a for a in arts if isinstance(a, Mapping) and a.get("name") == ARTIFACT]
    if len(boot) != 1 or boot[0].get("path") != PATH:
        return tmpl
    config = source[len(_HEAD) : -len(_TAIL)] if source.endswith(_TAIL) else ""
    key = str((boot[0].get("s3") or {}).get("key") or "")
    if "\n" in config or not config.startswith(CONFIG_CALL) or source != loader(config):
        return tmpl
    text = _inline_text(key, config)
    if text is None:
        return tmpl
    out = {**tmpl, "script": {**script, "source": text}}  # shallow: the rest is shared, unchanged
    inputs = {**tmpl["inputs"], "artifacts": [a for a in arts if a is not boot[0]]}
    if not inputs["artifacts"]:
        del inputs["artifacts"]
    if inputs:
        out["inputs"] = inputs
    else:
        del out["inputs"]
    return out


@lru_cache(maxsize=64)
def _inline_text(key: str, config_line: str) -> str | None:
    text = _shipped_texts().get(key)
    return None if text is None else text.replace(SHIPPED_CONFIG_LINE, config_line, 1)
