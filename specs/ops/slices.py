"""Ops of the `slices` example: a folder of samples, measured in groups of items."""

from __future__ import annotations

from pathlib import Path


def samples(n: int) -> Path:
    """A folder of ``n`` files, sample-00.txt … (the foreach's entries), each holding its number."""
    folder = Path("samples")
    folder.mkdir(exist_ok=True)
    for i in range(n):
        (folder / f"sample-{i:02d}.txt").write_text(f"{i}\n", encoding="utf-8")
    return folder


def measure(sample: Path, fail: list[int]) -> dict[str, object]:
    """One entry of the folder: its number squared, as a parameter and in a file named
    after the sample. Samples whose number is listed in ``fail`` fail on purpose."""
    x = int(sample.read_text(encoding="utf-8"))
    if x in fail:
        raise ValueError(f"{sample.name} fails on purpose")
    Path(sample.stem + ".sq").write_text(f"{x * x}\n", encoding="utf-8")
    return {"y": x * x, "square": Path(sample.stem + ".sq")}


def reduce(ys: list[int], squares: Path) -> dict[str, object]:
    """The fan-in, aligned by item index (None for a failed sample), and its files."""
    files = sorted(p.name for p in squares.rglob("*.sq"))
    failed = [i for i, y in enumerate(ys) if y is None]
    return {"total": sum(y for y in ys if y is not None), "failed": failed, "files": len(files)}
