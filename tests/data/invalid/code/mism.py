"""Ops whose specs in tests/data/invalid disagree with them."""

from pathlib import Path
from typing import Dict, List

from dflow.python import OP, OPIO, Artifact, OPIOSign, Parameter


class WriteFile(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"msg": str, "number": Parameter(int, default=1), "data": Artifact(Path)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"out_art": Artifact(List[Path]), "length": int})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"out_art": [], "length": 0})


class NoExecute(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({})


def _sign():
    return {"x": int}


class Dynamic(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign(_sign())

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({})

    def execute(self, op_in):
        return OPIO()


def square(x: int) -> int:
    return x * x


def total(xs: List[int], weights: Dict[str, float]) -> float:
    return sum(xs) * sum(weights.values())
