"""What this machine can give pods, and who holds it: CPU slots, memory, GPUs.

A pod's ``resources`` (Argo's: ``requests``, else ``limits``) are honoured:
``cpu`` takes that many of the run's parallelism slots (rounded up, at least one,
at most all of them), ``memory`` is admitted against the machine's free memory
(``MemAvailable`` when the run starts; ``DFLOWCTL_MEMORY`` overrides, a
quantity), and ``nvidia.com/gpu`` takes that many distinct devices, given to the
pod as ``CUDA_VISIBLE_DEVICES``. The devices are counted by ``nvidia-smi -L``
(none without it); ``DFLOWCTL_GPUS`` overrides (a count, or device ids
``0,2``). A request larger than the machine is refused before the run
(``oversized_templates``). Waiters are served in order: a big pod is not starved by
small ones.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from dflowctl.spec.values import quantity_value

ENV_GPUS = "DFLOWCTL_GPUS"
ENV_MEMORY = "DFLOWCTL_MEMORY"
GPU_KEYS = ("nvidia.com/gpu",)


@dataclass(frozen=True)
class Request:
    """What one pod asks for."""

    cpu: float = 0.0  # CPUs (0: not given)
    memory: int = 0  # bytes (0: not given)
    gpu: int = 0

    def slots(self, total: int) -> int:
        return min(max(1, math.ceil(self.cpu - 1e-9)), max(1, total))


@dataclass(frozen=True)
class Capacity:
    cpus: int
    memory: int | None  # bytes free when the run starts; None: unknown (not limited)
    gpus: tuple[str, ...]  # device ids


@dataclass(frozen=True)
class Grant:
    slots: int
    memory: int
    gpus: tuple[str, ...]

    def env(self) -> dict[str, str]:
        """For the pod: the devices it was given."""
        return {"CUDA_VISIBLE_DEVICES": ",".join(self.gpus)} if self.gpus else {}


def request_of(template: Mapping[str, Any]) -> Request:
    """The resources a leaf template's pod asks for (unreadable quantities count as none)."""
    body = template.get("script") or template.get("container") or {}
    res = body.get("resources") if isinstance(body, Mapping) else None
    if not isinstance(res, Mapping):
        return Request()
    requests, limits = res.get("requests"), res.get("limits")
    req: Mapping[str, Any] = requests if isinstance(requests, Mapping) else {}
    lim: Mapping[str, Any] = limits if isinstance(limits, Mapping) else {}

    def value(key: str) -> float:
        raw = req.get(key, lim.get(key))
        if raw is None or "{{" in str(raw):
            return 0.0
        return quantity_value(str(raw)) or 0.0

    gpu = max((value(k) for k in GPU_KEYS), default=0.0)
    return Request(cpu=value("cpu"), memory=int(value("memory")), gpu=math.ceil(gpu))


def capacity() -> Capacity:
    """This machine, now (``DFLOWCTL_MEMORY`` / ``DFLOWCTL_GPUS`` override)."""
    return Capacity(cpus=cpu_count(), memory=free_memory(), gpus=gpu_devices())


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_memory() -> int | None:
    forced = os.environ.get(ENV_MEMORY, "").strip()
    if forced:
        value = quantity_value(forced)
        if value is not None:
            return int(value)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def gpu_devices() -> tuple[str, ...]:
    forced = os.environ.get(ENV_GPUS)
    if forced is not None:
        text = forced.strip()
        if text.isdigit():
            return tuple(str(i) for i in range(int(text)))
        return tuple(p.strip() for p in text.split(",") if p.strip())
    return _nvidia_smi()


@cache
def _nvidia_smi() -> tuple[str, ...]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return ()
    try:
        out = subprocess.run(
            [smi, "-L"], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    lines = [line for line in out.stdout.splitlines() if line.startswith("GPU ")]
    return tuple(str(i) for i in range(len(lines))) if out.returncode == 0 else ()


def oversized(req: Request, cap: Capacity) -> list[tuple[str, str]]:
    """(resource key, why) for each part of ``req`` this machine can never give."""
    out = []
    if req.cpu > cap.cpus:
        out.append(("cpu", f"requests {_count(req.cpu, 'CPU')}, and this machine has {cap.cpus}"))
    if cap.memory is not None and req.memory > cap.memory:
        out.append(
            (
                "memory",
                f"requests {_bytes(req.memory)} of memory, and this machine has {_bytes(cap.memory)} free",
            )
        )
    if req.gpu > len(cap.gpus):
        out.append(("gpu", f"requests {_count(req.gpu, 'GPU')}, and this machine has {len(cap.gpus)}"))
    return out


def oversized_templates(templates: Sequence[Any]) -> list[tuple[int, list[str | int], str]]:
    """(template index, path of the request inside the template, why) for every request in
    ``templates`` this machine can never give; the machine is looked at only if one asks."""
    out: list[tuple[int, list[str | int], str]] = []
    cap: Capacity | None = None
    for i, tmpl in enumerate(templates):
        if not isinstance(tmpl, Mapping):
            continue
        req = request_of(tmpl)
        if req == Request():
            continue
        cap = cap or capacity()
        kind = "script" if "script" in tmpl else "container"
        res = tmpl[kind]["resources"]
        for key, why in oversized(req, cap):
            names = GPU_KEYS if key == "gpu" else (key,)
            part = next(
                (
                    (group, name)
                    for group in ("requests", "limits")
                    for name in names
                    if isinstance(res.get(group), Mapping) and name in res[group]
                ),
                ("requests", names[0]),
            )
            out.append((i, [kind, "resources", *part], why))
    return out


def _count(x: float, what: str) -> str:
    return f"{int(x) if x == int(x) else f'{x:g}'} {what}{'' if x == 1 else 's'}"


def _bytes(n: int) -> str:
    for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n}B"


class Ledger:
    """The machine's slots, memory and GPUs, handed to pods in the order they asked.

    Waiters sleep without timeouts (each on its own condition, so a release wakes
    only the first in line); ``wake_all`` makes them look at their cancel event.
    """

    def __init__(self, slots: int, memory: int | None = None, gpus: tuple[str, ...] = ()) -> None:
        self.size = max(1, slots)
        self.free = self.size
        self.memory = memory
        self.used_memory = 0
        self.gpus = list(gpus)
        self._lock = threading.Lock()
        self._queue: deque[threading.Condition] = deque()

    def _fits(self, slots: int, memory: int, gpu: int) -> bool:
        mem_ok = self.memory is None or self.used_memory == 0 or self.used_memory + memory <= self.memory
        return self.free >= slots and mem_ok and len(self.gpus) >= gpu

    def acquire(
        self, req: Request, cancel: threading.Event, stopped: Callable[[], bool] | None = None
    ) -> Grant | None:
        """Wait for what ``req`` needs; None (and nothing held) if ``cancel``/``stopped()`` first."""
        slots = req.slots(self.size)
        memory = req.memory if self.memory is not None else 0
        with self._lock:
            me = threading.Condition(self._lock)
            self._queue.append(me)
            try:
                while True:
                    if cancel.is_set() or (stopped is not None and stopped()):
                        return None
                    if self._queue[0] is me and self._fits(slots, memory, req.gpu):
                        break
                    me.wait()
                self.free -= slots
                self.used_memory += memory
                gpus = tuple(self.gpus[: req.gpu])
                del self.gpus[: req.gpu]
                return Grant(slots, memory, gpus)
            finally:
                self._queue.remove(me)
                if self._queue:
                    self._queue[0].notify()

    def release(self, grant: Grant) -> None:
        with self._lock:
            self.free += grant.slots
            self.used_memory -= grant.memory
            self.gpus = sorted([*self.gpus, *grant.gpus], key=_device_order)
            if self._queue:
                self._queue[0].notify()

    def wake_all(self) -> None:
        with self._lock:
            for waiter in self._queue:
                waiter.notify()


def _device_order(device: str) -> tuple[int, str]:
    return (int(device), "") if device.isdigit() else (1 << 30, device)
