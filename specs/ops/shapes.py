"""Ops of the `shapes` example: files keep their names from step to step."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def square(x: int) -> Path:
    """Write x*x to sq.txt: the artifact holds `sq.txt`, under this item's folder."""
    out = Path("sq.txt")
    out.write_text(f"{x * x}\n", encoding="utf-8")
    return out


def sum_txt(squares: Path) -> int:
    """Sum every *.txt file of the fan-in folder (one folder per item)."""
    return sum(int(p.read_text(encoding="utf-8")) for p in sorted(squares.rglob("*.txt")))


def plot(total: int) -> Path:
    """A one-pixel PNG whose grey level comes from ``total``: a file named plot.png."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(bytes([0, total % 256]))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    out = Path("plot.png")
    out.write_bytes(png)
    return out


def square_value(x: int, fail: list[int]) -> int:
    """x*x as an output parameter (a foreach step's fan-in of these is a list); the
    items listed in ``fail`` fail on purpose."""
    if x in fail:
        raise ValueError(f"item {x} fails on purpose")
    return x * x


def total(ys: list[int]) -> dict[str, object]:
    """Sum a fan-in of integers, decoded and in item order (``None``: a failed item)."""
    return {"total": sum(y for y in ys if y is not None), "ys": ys}
