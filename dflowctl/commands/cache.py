"""`dflowctl cache`: the step cache's size; `dflowctl cache prune`: drop old results."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import typer

from dflowctl.errors import UsageError

if TYPE_CHECKING:
    from dflowctl.engines.local.cache import StepCache

_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_age(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not m:
        raise UsageError(
            f"invalid --older-than {text!r}", hint="a number and a unit: s, m, h, d, w (e.g. 7d)"
        )
    return float(m.group(1)) * _AGE_UNITS[m.group(2)]


def parse_size(text: str) -> int:
    """``500M``, ``1G``, ``1GiB``, ``2048`` (bytes) -> bytes (units of 1024)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", text)
    if not m:
        raise UsageError(f"invalid --max-size {text!r}", hint="a number and a unit: K, M, G, T (e.g. 1G)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="The step cache that `run --reuse` takes results from.")

    @group.callback(invoke_without_command=True)
    def cache_cmd(ctx: typer.Context) -> None:
        """Show the step cache: where it is, how many results, how big."""
        if ctx.invoked_subcommand is not None:
            return
        from dflowctl import console

        cache = _cache()
        usage = cache.usage()
        console.print_paths(
            [
                f"cache: {cache.root}",
                f"  {usage.entries} step results, {usage.blobs} artifacts, {human(usage.size)}",
            ]
        )

    @group.command("prune")
    def prune_cmd(
        older_than: str | None = typer.Option(
            None, "--older-than", help="Drop results older than this (7d)."
        ),
        max_size: str | None = typer.Option(
            None, "--max-size", help="Then drop the oldest until the cache fits (1G)."
        ),
    ) -> None:
        """Drop step results by age and size (a dropped result only means that step runs again)."""
        from dflowctl import console

        age = parse_age(older_than) if older_than is not None else None
        size = parse_size(max_size) if max_size is not None else None
        dropped, freed = _cache().prune(older_than=age, max_size=size)
        console.print_paths([f"pruned {dropped} step results ({human(freed)})"])

    app.add_typer(group, name="cache")


def _cache() -> StepCache:
    from dflowctl.engines.local.cache import StepCache
    from dflowctl.settings import load_settings

    return StepCache(load_settings().home / "cache")
