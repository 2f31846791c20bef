"""What a container image would run, with the host's programs standing in for the image's.

Images are not pulled. Argo's emissary runs ``command + args``; when a template
gives no ``command`` the image's ENTRYPOINT applies, which for the common base
images (busybox, alpine, debian, ubuntu, python, docker/whalesay, ...) is empty,
so ``args[0]`` is the program; with neither, the image's CMD runs (``sh``,
``bash`` or ``python3``). A script template runs ``command + [script path]``.
``python`` falls back to ``python3`` when the host has no ``python``.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# Image CMD of well-known images, by repository name (tag and registry ignored).
_DEFAULT_CMD: dict[str, list[str]] = {
    "busybox": ["sh"],
    "alpine": ["/bin/sh"],
    "debian": ["bash"],
    "ubuntu": ["/bin/bash"],
    "centos": ["/bin/bash"],
    "fedora": ["/bin/bash"],
    "python": ["python3"],
    "docker/whalesay": ["/bin/bash"],
    "argoproj/argosay": ["/argosay"],
}

# Image ENTRYPOINT of well-known images whose entrypoint is not empty.
_ENTRYPOINT: dict[str, list[str]] = {"argoproj/argosay": ["/argosay"]}
# Images whose contents are known (Argo's test image: ubuntu, cowsay, /argosay): a program
# that is not on the host is not in them either, so the pod fails to start as on Kubernetes
KNOWN_CONTENTS = frozenset({"argoproj/argosay"})
# Programs of images that the package stands in for on the host (argosay: Argo's test image).
_STAND_INS: dict[str, Path] = {"/argosay": Path(__file__).with_name("argosay.py")}
# Of those, the ones a pod of the image also sees at their own path (Argo's hook tests
# call `/argosay` from a shell): a small wrapper placed in the pod's root.
_IMAGE_PROGRAMS: dict[str, tuple[str, ...]] = {"argoproj/argosay": ("/argosay",)}
# Programs an image has on its PATH that a host stand-in provides, by image (and tag, when
# only some tags have it): found by name from a folder put first on the pod's PATH.
_COWSAY = Path(__file__).with_name("cowsay.py")
_PATH_PROGRAMS: dict[tuple[str, str | None], dict[str, tuple[Path, dict[str, str]]]] = {
    ("docker/whalesay", None): {"cowsay": (_COWSAY, {"DFLOWCTL_COWSAY": "whale"})},
    ("argoproj/argosay", "v1"): {"cowsay": (_COWSAY, {})},
    ("argoproj/argosay", "v2"): {"cowsay": (_COWSAY, {})},  # FROM argoproj/argosay:v1
}

_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")
_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)")


class CommandError(Exception):
    """The template's command cannot be worked out; the text is the pod's message."""


def image_name(image: str | None) -> str:
    """``docker.io/library/python:3.11-slim@sha256:..`` -> ``python``."""
    if not image:
        return ""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    if parts and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def is_python_image(image: str | None) -> bool:
    name = image_name(image)
    return name == "python" or name.endswith("/python")


def default_cmd(image: str | None) -> list[str]:
    name = image_name(image)
    if name in _DEFAULT_CMD:
        return list(_DEFAULT_CMD[name])
    if is_python_image(image):
        return ["python3"]
    raise CommandError(
        f"image {image!r} has no command in the template and its default command is not known locally; "
        "give `command:` in the template"
    )


def is_python(program: str) -> bool:
    return bool(_PYTHON.match(program.rsplit("/", 1)[-1]))


def argv_for(kind: str, body: Mapping[str, Any], script_path: str | None = None) -> list[str]:
    """The process argv for a ``container`` or ``script`` template body (paths as the pod sees them)."""
    command = [str(x) for x in body.get("command") or []]
    args = [str(x) for x in body.get("args") or []]
    if kind == "script" and body.get("source"):
        if not command:
            command = ["python3"] if is_python_image(body.get("image")) else ["sh"]
        assert script_path is not None
        return [*command, script_path, *args]
    # a container, or a script without `source` (Argo runs its command and args as they are)
    if not command and image_name(body.get("image")) in _ENTRYPOINT:
        command = list(_ENTRYPOINT[image_name(body.get("image"))])
    if command:
        return [*command, *args]
    if args:
        return args
    return default_cmd(body.get("image"))


def host_program(argv: Sequence[str], path: str) -> list[str]:
    """``argv`` with ``python`` replaced by ``python3`` when only the latter exists on ``path``."""
    out = list(argv)
    if out and out[0] in _STAND_INS:
        return [sys.executable, str(_STAND_INS[out[0]]), *out[1:]]
    if (
        out
        and out[0] == "python"
        and shutil.which("python", path=path) is None
        and shutil.which("python3", path=path) is not None
    ):
        out[0] = "python3"
    return out


def image_programs(image: str | None) -> dict[str, str]:
    """The image's own programs a pod of it sees at their path: container path → the
    text of an executable wrapper that runs the host stand-in."""
    out = {}
    for path in _IMAGE_PROGRAMS.get(image_name(image), ()):
        run = f"{shlex.quote(sys.executable)} {shlex.quote(str(_STAND_INS[path]))}"
        out[path] = f'#!/bin/sh\nexec {run} "$@"\n'
    return out


def image_tag(image: str | None) -> str | None:
    """``argoproj/argosay:v1`` -> ``v1`` (None without a tag)."""
    name = (image or "").split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def path_programs(image: str | None) -> dict[str, str]:
    """The image's programs found by name on its PATH that host stand-ins provide
    (``cowsay`` of ``docker/whalesay``): name → the text of an executable wrapper."""
    name = image_name(image)
    found = _PATH_PROGRAMS.get((name, image_tag(image))) or _PATH_PROGRAMS.get((name, None)) or {}
    out = {}
    for program, (script, env) in found.items():
        sets = "".join(f"{k}={shlex.quote(v)} " for k, v in env.items())
        run = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
        out[program] = f'#!/bin/sh\n{sets}exec {run} "$@"\n'
    return out


def uses_stand_in(argv: Sequence[str]) -> bool:
    """Does ``argv`` (after ``host_program``) run a stand-in?"""
    return len(argv) > 1 and argv[0] == sys.executable and argv[1] in {str(p) for p in _STAND_INS.values()}


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion in command, args and env values; ``$$`` is a literal ``$``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _VAR.sub(repl, text)


def unrunnable(template: Mapping[str, Any], path: str | None = None) -> str | None:
    """Why this host cannot run the template's program, or None (for checks before a run).

    ``path`` is the search path (default: this process's PATH). Commands still
    holding ``{{...}}`` tags or ``$(VAR)`` references are not judged.
    """

    kind = "script" if "script" in template else "container" if "container" in template else None
    if kind is None:
        return None
    body = template[kind]
    try:
        argv = argv_for(kind, body, "/argo/staging/script")
    except CommandError as exc:
        return str(exc)
    search = path if path is not None else os.environ.get("PATH", os.defpath)
    argv = host_program(argv, search)
    program = argv[0] if argv else ""
    if not program or "{{" in program or "$(" in program:
        return None
    if "/" in program:
        found = os.path.isfile(program) and os.access(program, os.X_OK)
    else:
        found = shutil.which(program, path=search) is not None
    if found:
        return None
    image = body.get("image") or "?"
    return f"image {image}: its program {program!r} is not on this host"
