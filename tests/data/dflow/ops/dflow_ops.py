"""dflow-style OPs written as a dflow user writes them (classes and functions)."""

from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, TypedDict

from dflow.python import (
    OP,
    OPIO,
    Artifact,
    BigParameter,
    FatalError,
    OPIOSign,
    Parameter,
    TransientError,
)


class Defaults(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"a": Parameter(int, default=3), "word": Parameter(str, default="hi")})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"text": str})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"text": op_in["word"] * op_in["a"]})


class Big(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"table": BigParameter(dict)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"keys": List[str]})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"keys": sorted(op_in["table"])})


class Maybe(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"extra": Artifact(Path, optional=True)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"present": bool})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"present": op_in["extra"] is not None})


class Split(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"text": str})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"parts": Artifact(List[Path]), "n": int})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        paths = []
        for i, word in enumerate(op_in["text"].split()):
            path = Path(f"part{i}.txt")
            path.write_text(word)
            paths.append(path)
        return OPIO({"parts": paths, "n": len(paths)})


class Join(OP):
    @classmethod
    def get_input_sign(cls):
        return {"parts": Artifact(List[Path]), "sep": Parameter(str, default="-")}

    @classmethod
    def get_output_sign(cls):
        return {"joined": str, "file": Artifact(Path)}

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        text = op_in["sep"].join(p.read_text() for p in op_in["parts"])
        Path("joined.txt").write_text(text)
        return OPIO({"joined": text, "file": Path("joined.txt")})


class Typed(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"xs": List[int], "weights": Dict[str, float], "label": Optional[str]})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"total": float})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"total": sum(op_in["xs"]) * sum(op_in["weights"].values())})


class Models(OP):
    """Artifact(Dict[str, Path]) out and in: each value kept under its key."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"bad": Parameter(bool, default=False)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"models": Artifact(Dict[str, Path])})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        Path("m1.pb").write_text("one")
        Path("fold").mkdir()
        Path("fold/m2.pb").write_text("two")
        Path("fold/extra.txt").write_text("x")
        key = "a/b" if op_in["bad"] else "second"
        return OPIO({"models": {"first": Path("m1.pb"), key: Path("fold")}})


@OP.function
def use_models(models: Artifact(Dict[str, Path])) -> {"keys": List[str], "first": str}:
    return {"keys": sorted(models), "first": models["first"].read_text()}


class Tagged(OP):
    """A None default: the op gets None when the step gives nothing, the value when it does."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"tag": Parameter(Optional[str], default=None), "n": Parameter(int, default=None)})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"seen": str})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"seen": f"{op_in['tag']!r} {op_in['n']!r}"})


def tagged_fn(tag: Optional[str] = None, n: "int | None" = None):
    return {"seen": f"{tag!r} {n!r}"}


class Energy(OP):
    """An item of a fan-out that may fail (the step continues on failure)."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"i": int, "fail": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"e": float})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        if op_in["i"] == op_in["fail"]:
            raise RuntimeError(f"item {op_in['i']} fails on purpose")
        return OPIO({"e": op_in["i"] * 1.5})


@OP.function
def total_e(es: List[float]) -> {"total": float, "n": int}:
    return {"total": sum(es), "n": len(es)}


class ExtraKey(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"n": int})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"n": 1, "m": 2})


class WrongType(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"n": int})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"n": "three"})


class Forgets(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"n": int, "kept": str})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        return OPIO({"kept": "yes"})


class Flaky(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        raise TransientError("the license server is busy")


class Broken(OP):
    @classmethod
    def get_input_sign(cls):
        return OPIOSign({})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        raise FatalError("the structure has no atoms")


class Out(TypedDict):
    total: int
    report: Path


@OP.function
def add(a: int, b: int = 2) -> Out:
    Path("report.txt").write_text(f"{a} + {b}")
    return {"total": a + b, "report": Path("report.txt")}


class Counted(NamedTuple):
    lines: int
    first: str


@OP.function
def count_lines(f: Artifact(Path), skip: Artifact(Path, optional=True) = None) -> Counted:
    lines = f.read_text().splitlines()
    return Counted(len(lines), lines[0] if lines else "")


@OP.function
def join_files(parts: Artifact(List[Path]), sep: str = "+") -> {"joined": str}:
    return {"joined": sep.join(p.read_text() for p in parts)}


class Pair(OP):
    """Each item returns two files (a List[Path] output): a fan-in of it is stacked."""

    @classmethod
    def get_input_sign(cls):
        return OPIOSign({"i": int})

    @classmethod
    def get_output_sign(cls):
        return OPIOSign({"files": Artifact(List[Path])})

    @OP.exec_sign_check
    def execute(self, op_in: OPIO) -> OPIO:
        i = op_in["i"]
        Path(f"traj_{i}.dump").write_text(f"t{i}")
        Path(f"log_{i}.txt").write_text(f"l{i}")
        return OPIO({"files": [Path(f"traj_{i}.dump"), Path(f"log_{i}.txt")]})


@OP.function
def pair_fn(i: int) -> {"files": Artifact(List[Path])}:
    Path(f"x_{i}.txt").write_text(str(i))
    Path(f"y_{i}.txt").write_text(str(i))
    return {"files": [Path(f"x_{i}.txt"), Path(f"y_{i}.txt")]}


@OP.function
def names_of(files: Artifact(List[Path])) -> {"names": List[str], "texts": List[str]}:
    return {"names": [p.name for p in files], "texts": [p.read_text() for p in files]}


@OP.function
def maybe_file(write: bool) -> {"f": Artifact(Path, optional=True)}:
    if not write:
        return {"f": None}
    Path("f.txt").write_text("here")
    return {"f": Path("f.txt")}


def scale(x: float, factor: float = 2.0):
    return {"y": x * factor}


def write(text: str, times: int = 1):
    Path("out.txt").write_text(text * times)
    return {"out": Path("out.txt"), "size": len(text) * times}
