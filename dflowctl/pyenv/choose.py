"""The rule for which interpreter runs a local Python op (docs/local-engine.md).

In order: the op's ``local:`` in the spec; the first image pattern of the
config file's ``python:`` mapping that matches the op's image; ``run --python``
/ ``DFLOWCTL_PYTHON``; the active virtualenv (``VIRTUAL_ENV``) or conda env
(``CONDA_PREFIX``) of the shell that started dflowctl; the template's own
program (``python3``) on ``PATH``. Pure apart from looking at the file system
for the interpreter (and, for a conda environment given by name, asking
``conda info --base`` when neither ``CONDA_EXE`` nor ``MAMBA_ROOT_PREFIX`` says
where conda lives).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from dflowctl.spec.model import LocalPython

if TYPE_CHECKING:
    from dflowctl.settings import Settings

CONDA_TIMEOUT = 30.0


class ChoiceError(Exception):
    """The chosen environment has no usable interpreter; the text says which and why."""


@dataclass(frozen=True)
class Context:
    """What the rule looks at besides the op: settings and the starting shell's environment."""

    images: Sequence[tuple[str, LocalPython]] = ()  # config `python:` (pattern, environment)
    python: str | None = None  # --python / DFLOWCTL_PYTHON
    python_from: str = "--python"  # which of the two gave it (for messages)
    environ: Mapping[str, str] | None = None  # default: os.environ
    conda_base: Callable[[], Path | None] | None = None  # default: conda_base_dir

    def env(self, key: str) -> str:
        return (os.environ if self.environ is None else self.environ).get(key, "")


@dataclass(frozen=True)
class Choice:
    """An interpreter (absolute path, links kept: a venv's ``bin/python`` is one) and why it was chosen."""

    python: str
    how: str


def context_of(settings: Settings, python_flag: bool = False) -> Context:
    """The settings' part of the rule: the config's image mapping, ``--python``
    (``python_flag``) or ``DFLOWCTL_PYTHON``."""
    return Context(
        images=settings.python_images,
        python=settings.python,
        python_from="--python" if python_flag else "DFLOWCTL_PYTHON",
    )


def choose(local: LocalPython | None, image: str | None, program: str, ctx: Context) -> Choice:
    """The interpreter for one op (``local``: its spec entry; ``program``: what its template runs)."""
    if local is not None:
        return Choice(resolve(local, ctx), f"`local: {{{local.kind}: {local.value}}}` in the spec")
    for pattern, env in ctx.images:
        if image and fnmatchcase(image, pattern):
            return Choice(resolve(env, ctx), f"the config's python[{pattern!r}] for image {image}")
    if ctx.python:
        return Choice(resolve(LocalPython("python", ctx.python), ctx), ctx.python_from)
    if ctx.env("VIRTUAL_ENV"):
        return Choice(resolve(LocalPython("venv", ctx.env("VIRTUAL_ENV")), ctx), "the active VIRTUAL_ENV")
    if ctx.env("CONDA_PREFIX"):
        prefix = LocalPython("conda", ctx.env("CONDA_PREFIX"))
        return Choice(resolve(prefix, ctx), "the active CONDA_PREFIX")
    return Choice(resolve(LocalPython("python", program), ctx), f"{program} on PATH")


def resolve(env: LocalPython, ctx: Context) -> str:
    """The interpreter of an environment entry; ``ChoiceError`` when there is none."""
    if env.kind == "python":
        if "/" not in env.value:
            found = shutil.which(env.value, path=ctx.env("PATH") or os.defpath)
            if found is None:
                raise ChoiceError(f"{env.value} is not on PATH")
            return os.path.abspath(found)
        return _runnable(os.path.abspath(env.value), f"{env.value}")
    if env.kind == "venv":
        return _runnable(os.path.join(os.path.abspath(env.value), "bin", "python"), f"venv {env.value}")
    prefix = env.value if "/" in env.value else str(conda_env(env.value, ctx))
    return _runnable(os.path.join(os.path.abspath(prefix), "bin", "python"), f"conda environment {env.value}")


def _runnable(path: str, what: str) -> str:
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    if what.endswith(path):
        raise ChoiceError(f"{path} is not an executable file")
    raise ChoiceError(f"{what}: {path} is not an executable file")


def conda_env(name: str, ctx: Context) -> Path:
    """The folder of the conda environment called ``name`` (``base``: conda's own)."""
    base_fn = ctx.conda_base or (lambda: conda_base_dir(ctx.env))
    dirs = [Path(p) for p in ctx.env("CONDA_ENVS_PATH").split(os.pathsep) if p]
    dirs += [Path(p) for p in ctx.env("CONDA_ENVS_DIRS").split(os.pathsep) if p]
    base = base_fn()
    if base is not None:
        if name == "base":
            return base
        dirs.append(base / "envs")
    home = ctx.env("HOME")
    if home:
        dirs.append(Path(home) / ".conda" / "envs")
    for folder in dirs:
        if (folder / name).is_dir():
            return folder / name
    where = ", ".join(str(d) for d in dirs)
    missing = "conda itself was not found (no CONDA_EXE, no conda on PATH)" if base is None else ""
    detail = "; ".join(x for x in (f"looked in {where}" if where else "", missing) if x)
    raise ChoiceError(f"no conda environment {name!r} ({detail})")


def conda_base_dir(env: Callable[[str], str]) -> Path | None:
    """Where conda is installed: from ``CONDA_EXE`` (``<base>/bin/conda``), ``MAMBA_ROOT_PREFIX``,
    or ``conda info --base``; None when there is no conda."""
    exe = env("CONDA_EXE")
    if exe:
        return Path(exe).parent.parent
    if env("MAMBA_ROOT_PREFIX"):
        return Path(env("MAMBA_ROOT_PREFIX"))
    conda = shutil.which("conda", path=env("PATH") or os.defpath)
    if conda is None:
        return None
    import subprocess

    try:
        out = subprocess.run(
            [conda, "info", "--base"],
            capture_output=True,
            text=True,
            timeout=CONDA_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return Path(text) if out.returncode == 0 and text.startswith("/") else None
