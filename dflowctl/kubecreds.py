"""Loading a kubeconfig safely: what the client logs (a failed credential plugin's raw
output) kept and summarised, never printed; tokens read from files stripped. No
``kubernetes`` import: ``kube.py`` calls these around the client's loader."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dflowctl.errors import redact


@contextmanager
def plugin_messages() -> Iterator[list[str]]:
    """What the kubernetes client logs while loading a kubeconfig (a failed exec
    credential plugin, with its raw stderr): kept, never printed."""
    messages: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    root = logging.getLogger()
    handler = Keep(logging.ERROR)
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        yield messages
    finally:
        root.handlers = saved


def summary(message: str) -> str:
    """The first line of a kubeconfig error, without what a plugin printed (it may hold
    tokens): ``exec: process returned 1. <stderr>`` → ``exec: process returned 1``."""
    first = redact(message.splitlines()[0] if message else "")
    if first.startswith("exec:"):
        first = first.split(". ", 1)[0]
    return first


def strip_tokens(cfg: Any) -> None:
    """A token read from a ``tokenFile`` keeps its trailing newline (``echo`` writes one),
    which no HTTP header may hold: strip it, now and whenever the client refreshes it."""
    keys = getattr(cfg, "api_key", None)
    if not isinstance(keys, dict):
        return
    for name, value in list(keys.items()):
        if isinstance(value, str):
            keys[name] = value.strip()
    hook = getattr(cfg, "refresh_api_key_hook", None)
    if hook is not None and not getattr(hook, "_dflowctl_strips", False):

        def refresh(conf: Any) -> None:
            hook(conf)  # the client's hook sets the token again, and itself as the hook
            for name, value in list((conf.api_key or {}).items()):
                if isinstance(value, str):
                    conf.api_key[name] = value.strip()
            conf.refresh_api_key_hook = refresh

        refresh._dflowctl_strips = True  # type: ignore[attr-defined]
        cfg.refresh_api_key_hook = refresh
