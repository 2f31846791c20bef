"""What a pod cost, as a run records it on its node; pure.

Argo records ``resourcesDuration`` on a Pod node when it completes: integer seconds
of each resource, ``cpu`` in 1-CPU seconds and ``memory`` in 100Mi seconds (Argo
computes them from the pod's requests times its run time). The local engine
measures the pod's process tree instead (its own and its waited-for children's
rusage, as ``wait4`` reports it) and records both Argo's shape, from the measured
values (CPU seconds used; peak memory in 100Mi units times the run time), and the
exact values under ``dflowctlUsage``: ``cpuSeconds`` and ``peakMemoryBytes`` (the
largest resident set of one process of the tree).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

USAGE_KEY = "dflowctlUsage"  # the local engine's measured values on a Pod node
MEMORY_UNIT = 100 * 1024 * 1024  # Argo's resourcesDuration memory unit: 100Mi


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float | None = None  # measured (local engine)
    peak_memory: int | None = None  # bytes, measured (local engine)
    resources_duration: Mapping[str, int] = field(default_factory=dict)  # Argo's shape

    @property
    def empty(self) -> bool:
        return self.cpu_seconds is None and self.peak_memory is None and not self.resources_duration


def node_fields(cpu_seconds: float, peak_memory: int, run_seconds: float) -> dict[str, Any]:
    """The fields the local engine adds to a Pod node for what it measured."""
    return {
        "resourcesDuration": {
            "cpu": round(cpu_seconds),
            "memory": round(peak_memory / MEMORY_UNIT * max(run_seconds, 0.0)),
        },
        USAGE_KEY: {"cpuSeconds": round(cpu_seconds, 3), "peakMemoryBytes": int(peak_memory)},
    }


def usage_of(raw: Mapping[str, Any]) -> Usage:
    """A node's recorded usage (of either engine); empty when it has none."""
    measured = raw.get(USAGE_KEY)
    cpu: float | None = None
    peak: int | None = None
    if isinstance(measured, Mapping):
        c, p = measured.get("cpuSeconds"), measured.get("peakMemoryBytes")
        if isinstance(c, int | float) and not isinstance(c, bool):
            cpu = float(c)
        if isinstance(p, int | float) and not isinstance(p, bool):
            peak = int(p)
    found: dict[str, int] = {}
    rd = raw.get("resourcesDuration")
    if isinstance(rd, Mapping):
        for key, value in rd.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                found[str(key)] = int(value)
    return Usage(cpu, peak, found)


def total(usages: Iterable[Usage]) -> Usage:
    """Several pods together (a step's attempts, a fan-out's items): CPU and Argo's
    resource seconds add up, the peak is the largest of one pod."""
    cpu: float | None = None
    peak: int | None = None
    rd: dict[str, int] = {}
    for u in usages:
        if u.cpu_seconds is not None:
            cpu = (cpu or 0.0) + u.cpu_seconds
        if u.peak_memory is not None:
            peak = max(peak or 0, u.peak_memory)
        for key, value in u.resources_duration.items():
            rd[key] = rd.get(key, 0) + value
    return Usage(cpu, peak, rd)


def format_cpu(seconds: float | None) -> str:
    """CPU time: ``0.12s``, ``3.4s``, ``2m05s``."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_bytes(n: int | None) -> str:
    """Memory in binary units, as Kubernetes writes them: ``812Ki``, ``23.4Mi``, ``1.50Gi``."""
    if n is None:
        return ""
    if n < 1024:
        return f"{n}B"
    value = float(n)
    for unit in ("Ki", "Mi", "Gi", "Ti"):
        value /= 1024
        if value < 1024 or unit == "Ti":
            break
    return (
        f"{value:.0f}{unit}"
        if value >= 100
        else f"{value:.1f}{unit}"
        if value >= 10
        else f"{value:.2f}{unit}"
    )


def format_resources_duration(rd: Mapping[str, int]) -> str:
    """As ``argo get`` prints it: ``3s*(1 cpu),12s*(100Mi memory)``."""
    units = {"cpu": "1 cpu", "memory": "100Mi memory"}
    order = sorted(rd, key=lambda k: (k not in units, list(units).index(k) if k in units else 0, k))
    return ",".join(f"{rd[k]}s*({units.get(k, '1 ' + k)})" for k in order)


def columns(usages: Iterable[Usage]) -> tuple[str, ...]:
    """The usage columns of a step table: ``CPU`` and ``MEMORY`` (peak) where the run
    measured them (local engine), else Argo's ``RESOURCES``; none where nothing is recorded."""
    measured = argo = False
    for u in usages:
        measured = measured or u.cpu_seconds is not None or u.peak_memory is not None
        argo = argo or bool(u.resources_duration)
    if measured:
        return ("CPU", "MEMORY")
    return ("RESOURCES",) if argo else ()


def cells(u: Usage, cols: tuple[str, ...]) -> tuple[str, ...]:
    """``u`` under ``columns``' headers."""
    shown = {
        "CPU": format_cpu(u.cpu_seconds),
        "MEMORY": format_bytes(u.peak_memory),
        "RESOURCES": format_resources_duration(u.resources_duration),
    }
    return tuple(shown[c] for c in cols)
