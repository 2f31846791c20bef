"""Settings from flags > environment > config file. Frozen; built once per command.

Secrets (S3 keys, tokens) live here only in memory; they are never printed,
logged or rendered (``__repr__`` hides them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dflowctl.errors import UsageError

if TYPE_CHECKING:
    from dflowctl.spec.model import LocalPython

CONFIG_PATH = Path("~/.config/dflowctl/config.yaml")

ENV = {
    "engine": "DFLOWCTL_ENGINE",
    "namespace": "DFLOWCTL_NAMESPACE",
    "s3_endpoint": "DFLOWCTL_S3_ENDPOINT",
    "s3_access_key": "DFLOWCTL_S3_ACCESS_KEY",
    "s3_secret_key": "DFLOWCTL_S3_SECRET_KEY",
    "s3_bucket": "DFLOWCTL_S3_BUCKET",
    "s3_secure": "DFLOWCTL_S3_SECURE",
    "s3_region": "DFLOWCTL_S3_REGION",
    "home": "DFLOWCTL_HOME",
    "kubeconfig": "KUBECONFIG",
    "context": "DFLOWCTL_CONTEXT",
    "python": "DFLOWCTL_PYTHON",
    "reuse": "DFLOWCTL_REUSE",
    "pod_env_pass": "DFLOWCTL_POD_ENV_PASS",
    "pod_env_deny": "DFLOWCTL_POD_ENV_DENY",
}
# Config-file keys that are not a Settings field of the same name: key -> field.
CONFIG_ONLY = {"python": "python_images"}
# settings that are lists of names or glob patterns (a comma-separated string in the environment)
_LISTS = ("pod_env_pass", "pod_env_deny")


@dataclass(frozen=True)
class Settings:
    engine: str = "local"
    home: Path = Path(".dflowctl")
    namespace: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    s3_endpoint: str | None = None
    s3_access_key: str | None = field(default=None, repr=False)
    s3_secret_key: str | None = field(default=None, repr=False)
    s3_bucket: str | None = None
    s3_secure: bool | None = None
    s3_region: str | None = None
    # The Python of local ops: `run --python` / DFLOWCTL_PYTHON; the config file's
    # `python:` mapping of image patterns (fnmatch, first match) to environments.
    python: str | None = None
    python_images: tuple[tuple[str, LocalPython], ...] = ()
    reuse: bool = False  # `run` reuses earlier steps' results by default (`--no-reuse` to run all)
    # local engine: host environment variables pods (and the fork server) may see, as glob
    # patterns added to the defaults; deny wins (docs/local-engine.md, "Environment")
    pod_env_pass: tuple[str, ...] = ()
    pod_env_deny: tuple[str, ...] = ()

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def secrets(self) -> list[str]:
        """Values that must never appear in output (for scrubbing)."""
        return [v for v in (self.s3_access_key, self.s3_secret_key) if v]


def _config_file(path: Path | None) -> dict[str, Any]:
    p = (path or Path(os.environ.get("DFLOWCTL_CONFIG", str(CONFIG_PATH)))).expanduser()
    if not p.is_file():
        return {}
    from ruamel.yaml import YAML

    try:
        data = YAML(typ="safe").load(p.read_text(encoding="utf-8"))
    except Exception as err:  # any YAML or decoding problem
        raise UsageError(f"{p}: cannot read config file: {err}".splitlines()[0]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{p}: config file must be a mapping of settings")
    known = ({f.name for f in fields(Settings)} - set(CONFIG_ONLY.values())) | set(CONFIG_ONLY)
    unknown = sorted(set(data) - known)
    if unknown:
        raise UsageError(f"{p}: unknown setting {unknown[0]!r}", hint="known: " + ", ".join(sorted(known)))
    if "python" in data:
        data["python_images"] = _python_images(data.pop("python"), p)
    return data


def _python_images(value: Any, path: Path) -> tuple[tuple[str, LocalPython], ...]:
    """The config file's ``python:`` mapping: image pattern -> ``{python|venv|conda: VALUE}``."""
    from dflowctl.spec.model import LOCAL_PYTHON_KINDS, LocalPython

    example = 'e.g. python: {"deepmd/*": {venv: /opt/venvs/dp}}'
    if not isinstance(value, dict):
        raise UsageError(f"{path}: `python` must map image patterns to environments", hint=example)
    out = []
    for pattern, env in value.items():
        if not (
            isinstance(env, dict)
            and len(env) == 1
            and next(iter(env)) in LOCAL_PYTHON_KINDS
            and isinstance(next(iter(env.values())), str)
            and next(iter(env.values()))
        ):
            raise UsageError(
                f"{path}: python[{str(pattern)!r}]: give exactly one of "
                + ", ".join(f"`{k}: ...`" for k in LOCAL_PYTHON_KINDS),
                hint=example,
            )
        kind, text = next(iter(env.items()))
        out.append((str(pattern), LocalPython.make(kind, text, path.parent)))
    return tuple(out)


def _coerce(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "python_images":
        return value  # built by _python_images
    if name == "home":
        return Path(str(value)).expanduser()
    if name in _LISTS:
        items = value if isinstance(value, (list, tuple)) else str(value).split(",")
        if not all(isinstance(i, (str, int, float)) for i in items):
            raise UsageError(f"invalid {name}: give a list of variable names or patterns")
        return tuple(str(i).strip() for i in items if str(i).strip())
    if name in ("s3_secure", "reuse"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        raise UsageError(f"invalid boolean for {name}: {value!r}")
    return str(value)


def load_settings(flags: dict[str, Any] | None = None, *, config_path: Path | None = None) -> Settings:
    """Flags (non-None values) > environment > config file > defaults."""
    values: dict[str, Any] = {}
    for key, val in _config_file(config_path).items():
        values[key] = _coerce(key, val)
    for key, var in ENV.items():
        if os.environ.get(var):
            values[key] = _coerce(key, os.environ[var])
    for key, val in (flags or {}).items():
        if val is not None:
            values[key] = _coerce(key, val)
    if "home" not in values:  # nothing said where: this folder's or the nearest parent's .dflowctl
        from dflowctl.home import find_home

        values["home"] = find_home()
    settings = replace(Settings(), **values)
    if settings.engine not in ("local", "argo"):
        raise UsageError(f"unknown engine {settings.engine!r}", hint="use one of: local, argo")
    return settings
