from dflow.python import OP, OPIO, OPIOSign, Artifact
from pathlib import Path
from typing import List


class WriteFile(OP):
    def __init__(self):
        pass

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({
            "msg": str,
            "number": int,
        })

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({
            "out_art": Artifact(List[Path]),
        })

    @OP.exec_sign_check
    def execute(
            self,
            op_in: OPIO,
    ) -> OPIO:
        with open("msg.txt", "w") as f:
            f.write(op_in["msg"] * op_in["number"])
        with open("results.txt", "w") as f:
            f.write("number: %s" % op_in["number"])
        op_out = OPIO({
            "out_art": [Path("msg.txt"), Path("results.txt")],
        })
        return op_out
