"""What the controller and the pod runner exchange: a request, a result, the runner's protocol.

Light on purpose (dataclasses only): the controller builds requests without
importing the process machinery (``pods``), which is loaded only when a run
starts. The runner (``pods.PodRunner``) is the one owner of the host's
parallelism: a pod is Pending until the runner gives it a slot
(``on_start``), then Running.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dflowctl.engines.local.interpreter import Interpreter
    from dflowctl.engines.local.podlayer import SharedLayers


@dataclass(frozen=True)
class PodRequest:
    pod_name: str
    template: Mapping[str, Any]  # the leaf template (container/script), inputs substituted
    work_dir: Path  # private folder for this attempt
    input_artifacts: Sequence[tuple[str, Path]]  # (path inside the container, host file or dir)
    log_path: Path  # combined stdout+stderr
    timeout: float | None = None  # seconds; on expiry: kill, phase Failed, Argo's deadline message
    env: Mapping[str, str] = field(default_factory=dict)  # extra env vars (win over the template's)
    not_after: float | None = None  # epoch seconds (the workflow's deadline): as ``timeout``
    python: Interpreter | None = None  # the Python chosen for a template that runs one by name (pyenv)
    # the run's shared layers (podlayer) and the input paths whose host copy the run keeps
    # unchanged (unpacked once per run): laid out once per run instead of copied per pod
    layers: SharedLayers | None = None
    shared_inputs: frozenset[str] = frozenset()
    # the same container again (a containerSet's retry in place): its root kept as it was left
    keep_root: bool = False


@dataclass(frozen=True)
class PodResult:
    phase: str  # "Succeeded" | "Failed" | "Error"
    exit_code: int | None
    message: str
    result: str | None  # stdout, one trailing newline stripped, last 256 kB
    parameters: Mapping[str, str]
    artifacts: Mapping[str, Path]
    started_at: float
    finished_at: float
    usage: tuple[float, int] | None = None  # CPU seconds, peak resident bytes of its process tree


class PodRunnerLike(Protocol):
    """Runs pods on this host, at most ``parallelism`` at once."""

    @property
    def parallelism(self) -> int: ...

    def run(
        self, req: PodRequest, cancel: threading.Event, on_start: Callable[[], None] | None = None
    ) -> PodResult:
        """Wait for a slot (``cancel`` ends the wait), call ``on_start``, run the pod to its end."""
        ...

    def kill_all(self) -> None: ...
