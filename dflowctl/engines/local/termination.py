"""A failed pod's one-line reason, as Argo shows it in the node's message.

Argo takes a failed container's message from its termination log
(``/dev/termination-log``): ``Error (exit code 1): <that text>``. The Python
bootstrap writes its failure line there (``Type: message (file:line)``); locally
the pod writes it to ``TERMINATION_LOG`` instead (env ``ENV``). A pod that leaves
no such line (a shell step) is described by the last line of its stderr.
"""

from __future__ import annotations

from pathlib import Path

ENV = "DFLOWCTL_TERMINATION_LOG"
TERMINATION_LOG = "/tmp/dflowctl-termination-log"  # inside the pod's own /tmp
LIMIT = 1024
STDERR_TAIL = 4096  # bytes of stderr kept to find its last line


def last_line(data: bytes) -> str:
    for line in reversed(data.decode("utf-8", "replace").splitlines()):
        if line.strip():
            return line.strip()[:LIMIT]
    return ""


def failure_message(exit_code: int, log_file: Path | None, stderr_tail: bytes) -> str:
    """``Error (exit code N)``, with the pod's termination line or the last line of its stderr."""
    head = f"Error (exit code {exit_code})"
    reason = ""
    if log_file is not None:
        try:
            reason = log_file.read_text(encoding="utf-8", errors="replace").strip()[:LIMIT]
        except OSError:
            reason = ""
    reason = reason or last_line(stderr_tail)
    return f"{head}: {reason}" if reason else head
