"""specs/fanout.yaml written with dflow, run in dflow's debug mode (for bench/fanout.py).

Square each of 0..n-1 in its own step (dflow Slices over `argo_range(n)`), each
writing its result to a file artifact; then sum all the files in one step.
Prints `total=<sum>` on the last line. Needs `pip install pydflow` (the `bench`
extra) and that interpreter's `python3` first on PATH (debug mode runs every
step with `python3`). Usage: python bench/dflow_fanout.py N

No `from __future__ import annotations` here: dflow pastes this file's text up
to each OP class into every step's script, where a future import is a
SyntaxError; and dflow reads `typing.List` in signatures at run time.
"""

import sys
from pathlib import Path
from typing import List  # noqa: UP035

from dflow.python import OP, OPIO, Artifact, OPIOSign


class Square(OP):
    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign({"x": int})

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign({"result": Artifact(Path)})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        out = Path(f"square-{op_in['x']}.txt")  # one name per item: dflow merges the slices' files
        out.write_text(f"{op_in['x'] * op_in['x']}\n", encoding="utf-8")
        return OPIO({"result": out})


class SumFiles(OP):
    @classmethod
    def get_input_sign(cls) -> OPIOSign:
        return OPIOSign({"files": Artifact(List[Path])})  # noqa: UP006

    @classmethod
    def get_output_sign(cls) -> OPIOSign:
        return OPIOSign({"total": int})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        total = sum(int(Path(p).read_text(encoding="utf-8").strip()) for p in op_in["files"])
        return OPIO({"total": total})


def main(n: int) -> int:
    from dflow import Step, Workflow, argo_range, config
    from dflow.python import PythonOPTemplate, Slices

    config["mode"] = "debug"
    config["detach"] = False
    config["debug_workdir"] = "."
    square = Step(
        "square",
        PythonOPTemplate(
            Square,
            image="python:3.12-slim",
            slices=Slices("{{item}}", input_parameter=["x"], output_artifact=["result"]),
        ),
        parameters={"x": list(range(n))},
        with_param=argo_range(n),
    )
    total = Step(
        "total",
        PythonOPTemplate(SumFiles, image="python:3.12-slim"),
        artifacts={"files": square.outputs.artifacts["result"]},
    )
    wf = Workflow("fanout")
    wf.add(square)
    wf.add(total)
    wf.submit()
    status = wf.query_status()
    if status != "Succeeded":
        print(f"dflow workflow {status}", file=sys.stderr)
        return 1
    step = wf.query_step(name="total")[0]
    print(f"total={step.outputs.parameters['total'].value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
