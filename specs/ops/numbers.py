"""Small number ops for the fan-out, DAG, conditional and composite examples."""

from __future__ import annotations

from pathlib import Path


def square(x: int) -> Path:
    """Write x*x into a file; the file is the op's one artifact output."""
    out = Path("square.txt")
    out.write_text(f"{x * x}\n", encoding="utf-8")
    return out


def sum_files(files: Path) -> int:
    """Sum the integers in every file under ``files`` (a fan-in folder: one folder per
    item, by index, holding that item's file; or one file)."""
    paths = [files] if files.is_file() else sorted(p for p in files.rglob("*") if p.is_file())
    return sum(int(p.read_text(encoding="utf-8").strip()) for p in paths)


def add(a: int, b: int) -> int:
    return a + b


def scale(x: int, factor: int) -> int:
    return x * factor


def is_even(n: int) -> dict[str, bool]:
    return {"even": n % 2 == 0}


def numbers_up_to(n: int) -> list[int]:
    """The list [1, 2, ..., n]: a JSON list another step can fan out over."""
    return list(range(1, n + 1))
