"""HelloWorld: a dflow-style OP class, used by duck typing (dflow itself is not needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class WriteFile:
    """Writes the message and the number into two files; both form one artifact."""

    @classmethod
    def get_input_sign(cls) -> dict[str, type]:
        return {"msg": str, "number": int}

    @classmethod
    def get_output_sign(cls) -> dict[str, Any]:
        return {"out_art": list[Path]}

    def execute(self, op_in: dict[str, Any]) -> dict[str, Any]:
        msg, number = op_in["msg"], op_in["number"]
        Path("msg.txt").write_text(f"{msg}\n" * number, encoding="utf-8")
        Path("results.txt").write_text(f"number: {number}\nlength: {len(msg)}\n", encoding="utf-8")
        return {"out_art": [Path("msg.txt"), Path("results.txt")]}
