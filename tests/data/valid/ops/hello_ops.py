"""The HelloWorld op of tests/data/valid/hello.yaml (a dflow-style OP class)."""

from pathlib import Path


class WriteFile:
    @classmethod
    def get_input_sign(cls):
        return {"msg": str, "number": int}

    @classmethod
    def get_output_sign(cls):
        return {"out_art": Path}

    def execute(self, op_in):
        Path("msg.txt").write_text(op_in["msg"] * op_in["number"])
        return {"out_art": Path("msg.txt")}
