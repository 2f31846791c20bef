"""A plain-function op used by tests/data/valid/everything.yaml."""

from pathlib import Path


def make_list(n: int, mode: str = "fast", data: Path | None = None) -> dict:
    Path("report.txt").write_text(f"{n} {mode}\n")
    return {"items": list(range(n)), "report": Path("report.txt")}
