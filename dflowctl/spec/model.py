"""The typed, immutable model of a dflowctl spec.

Built once from a validated document (``spec.build``); the renderer and every
later stage read only these records, never raw YAML. Every record carries the
``Location`` it came from so that later checks can still point at the line.

Values given to steps (``Step.parameters``) are kept as the user wrote them:
a literal (str/int/float/bool/list/dict/None) or a string holding ``{{...}}``
references, which the renderer passes through to Argo unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from dflowctl.errors import Diagnostic, Location

ParamType = Literal["str", "int", "float", "bool", "list", "dict", "any"]
PARAM_TYPES: tuple[str, ...] = ("str", "int", "float", "bool", "list", "dict", "any")

OpKind = Literal["python", "script", "command", "steps", "dag"]
RetryPolicy = Literal["Always", "OnFailure", "OnError", "OnTransientError"]


class _Missing:
    """Marks a parameter without a default (``None`` is a valid default)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Param:
    """A typed parameter: a workflow parameter, an op input or an op output.

    ``from_path`` (shell/container op outputs) is the file the value is read
    from; ``from_ref`` (composite op outputs) is a ``{{steps...}}``/``{{tasks...}}``
    reference to an inner step's output.
    """

    name: str
    type: ParamType = "str"  # the base type; `shape` keeps the whole text when it has items
    default: Any = MISSING
    description: str | None = None
    enum: tuple[Any, ...] | None = None
    shape: str | None = None  # "list[int]", "dict[str, float]": the items' types too
    from_path: str | None = None
    from_ref: str | None = None
    if_expr: str | None = None  # composite op outputs: `from` when true, `else_ref` when false
    else_ref: str | None = None
    loc: Location | None = None
    # positions of sub-fields ("default", "from", "op", "when", "parameters.X", ...), for checks
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)
    # a Python op's input whose code default is None (dflow's `Parameter(Optional[str],
    # default=None)`, `tag: str | None = None`): the op gets None when it is not given
    nullable: bool = False

    @property
    def required(self) -> bool:
        return self.default is MISSING


@dataclass(frozen=True)
class ArtifactDecl:
    """An op's input or output artifact.

    ``path`` is where a shell/container op reads or writes it (Python ops get
    paths chosen by dflowctl, so it is None there); ``from_ref`` (composite op
    outputs) references an inner step's output artifact.
    """

    name: str
    path: str | None = None
    optional: bool = False
    description: str | None = None
    from_ref: str | None = None
    if_expr: str | None = None  # composite op outputs: `from` when true, `else_ref` when false
    else_ref: str | None = None
    loc: Location | None = None
    # positions of sub-fields ("default", "from", "op", "when", "parameters.X", ...), for checks
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)
    # a Python op's output its code declares a list of paths (dflow's Artifact(List[Path])):
    # a fan-in of it reaches a list input as the files of every item, as dflow stacks them
    many: bool = False


@dataclass(frozen=True)
class WorkflowArtifact:
    """A workflow input artifact: a local path (relative to the spec file),
    ``s3://bucket/key`` or ``http(s)://...``."""

    name: str
    source: str
    optional: bool = False
    description: str | None = None
    loc: Location | None = None
    # positions of sub-fields ("default", "from", "op", "when", "parameters.X", ...), for checks
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Backoff:
    duration: str  # e.g. "5s"
    factor: int | None = None
    max: str | None = None  # Argo's maxDuration


@dataclass(frozen=True)
class Retry:
    """Total attempts = limit + 1, as in Argo."""

    limit: int
    policy: RetryPolicy = "OnFailure"
    backoff: Backoff | None = None
    loc: Location | None = None


@dataclass(frozen=True)
class Resources:
    cpu: str | None = None  # Kubernetes quantity as a string: "500m", "2"
    memory: str | None = None  # "512Mi"
    gpu: int | None = None  # -> nvidia.com/gpu


@dataclass(frozen=True)
class LocalPython:
    """The Python environment that runs an op on this machine (local engine only).

    ``kind`` "python": ``value`` is an interpreter (a path, or a program name looked
    up on ``PATH``); "venv": a virtual environment's folder; "conda": a conda
    environment's name, or its folder when the value holds a ``/``. Paths are
    absolute once built from a spec (resolved against its folder).
    """

    kind: Literal["python", "venv", "conda"]
    value: str
    loc: Location | None = None

    @classmethod
    def make(cls, kind: str, value: str, base: Path, loc: Location | None = None) -> LocalPython:
        """From a spec or config entry: ``~`` expanded, paths made absolute against ``base``
        (never through links: a venv's ``bin/python`` is one)."""
        if kind not in LOCAL_PYTHON_KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        text = os.path.expanduser(value)
        if kind == "venv" or "/" in text:
            text = os.path.normpath(os.path.join(base.absolute(), text))
        return cls(kind, text, loc)  # type: ignore[arg-type]


LOCAL_PYTHON_KINDS = ("python", "venv", "conda")
# The program a Python op's template runs (render.leaf, render.slices), and so the one the
# local engine looks for to run it (pyenv.choose: an op's ``local:``, else the rule for it)
PYTHON_PROGRAM = "python3"


@dataclass(frozen=True)
class SecretRef:
    secret: str
    key: str


@dataclass(frozen=True)
class Foreach:
    """Fan a step out. Exactly one of items / param / (count | start+end) / entries.

    ``entries`` names an input artifact of the op: one item per entry of that folder
    (each item gets just its file or sub-folder); ``group`` items go to one pod,
    ``pool`` of them run at once inside it."""

    kind: Literal["items", "param", "range", "entries"]
    items: tuple[Any, ...] | None = None
    param: str | None = None  # "{{steps.x.outputs.parameters.y}}": a JSON list
    count: int | str | None = None  # int, or a "{{...}}" reference
    start: int | str | None = None
    end: int | str | None = None
    format: str | None = None
    entries: str | None = None
    group: int | None = None
    pool: int | None = None
    parallelism: int | None = None
    loc: Location | None = None


@dataclass(frozen=True)
class ContinueOn:
    """``failed``/``error``: the workflow goes on; ``success_ratio``/``success_number``
    (foreach steps): the step's phase follows from how many of its items succeeded."""

    failed: bool = False
    error: bool = False
    success_ratio: float | None = None
    success_number: int | None = None

    @property
    def by_items(self) -> bool:
        return self.success_ratio is not None or self.success_number is not None


@dataclass(frozen=True)
class Step:
    """One use of an op (a step in ``steps`` or a task in ``dag``).

    ``depends`` (DAG only) is an Argo ``depends`` expression; a list in the
    spec is joined with `` && ``. Dependencies inferred from ``{{tasks.X...}}``
    references are added by the renderer.
    """

    name: str
    op: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    artifacts: Mapping[str, str] = field(default_factory=dict)
    when: str | None = None
    foreach: Foreach | None = None
    continue_on: ContinueOn | None = None
    retry: Retry | None = None
    timeout: str | None = None
    depends: str | None = None
    key: str | None = None  # a stable name across runs (dflow's `key`), e.g. "relax-{{item}}"
    loc: Location | None = None
    # positions of each given parameter/artifact value, for later diagnostics
    value_locs: Mapping[str, Location] = field(default_factory=dict)
    # positions of sub-fields ("default", "from", "op", "when", "parameters.X", ...), for checks
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)


StepGroup = tuple[Step, ...]  # steps that run in parallel


@dataclass(frozen=True)
class Op:
    """A reusable unit of work.

    kind python: ``python`` is "module:callable"; script: ``script`` + ``shell``;
    command: ``command``/``args``; steps/dag: a composite op with ``steps``
    (a tuple of parallel groups) or ``dag`` (a tuple of tasks).
    """

    name: str
    kind: OpKind
    image: str | None = None
    python: str | None = None
    script: str | None = None
    shell: str = "sh"
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    source: Path | None = None  # absolute, resolved against the spec's folder
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, SecretRef] = field(default_factory=dict)
    resources: Resources | None = None
    local: LocalPython | None = None  # local engine only: which Python runs it
    retry: Retry | None = None
    timeout: str | None = None
    workdir: str | None = None
    cache: bool = True  # False: `run --reuse` always runs it (its result is not a function of its inputs)
    inputs_parameters: tuple[Param, ...] = ()
    inputs_artifacts: tuple[ArtifactDecl, ...] = ()
    outputs_parameters: tuple[Param, ...] = ()
    outputs_artifacts: tuple[ArtifactDecl, ...] = ()
    steps: tuple[StepGroup, ...] | None = None
    dag: tuple[Step, ...] | None = None
    # python ops: the code imports dflow (or could not be read): the step gets dflow.python
    uses_dflow: bool = False
    source_label: str | None = None  # `source` as the spec writes it, for failure messages
    loc: Location | None = None
    # positions of sub-fields ("default", "from", "op", "when", "parameters.X", ...), for checks
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    @property
    def composite(self) -> bool:
        return self.kind in ("steps", "dag")

    def input_param(self, name: str) -> Param | None:
        return next((p for p in self.inputs_parameters if p.name == name), None)

    def output_param(self, name: str) -> Param | None:
        return next((p for p in self.outputs_parameters if p.name == name), None)

    def input_artifact(self, name: str) -> ArtifactDecl | None:
        return next((a for a in self.inputs_artifacts if a.name == name), None)

    def output_artifact(self, name: str) -> ArtifactDecl | None:
        return next((a for a in self.outputs_artifacts if a.name == name), None)


@dataclass(frozen=True)
class Workflow:
    """A whole spec. ``steps`` xor ``dag`` is the main body (unless ``entrypoint``
    names an op). ``spec_path`` is the file it was read from."""

    name: str
    spec_path: Path
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    parameters: tuple[Param, ...] = ()
    artifacts: tuple[WorkflowArtifact, ...] = ()
    ops: Mapping[str, Op] = field(default_factory=dict)
    steps: tuple[StepGroup, ...] | None = None
    dag: tuple[Step, ...] | None = None
    entrypoint: str | None = None
    on_exit: str | None = None
    parallelism: int | None = None
    timeout: str | None = None
    retry: Retry | None = None
    service_account: str | None = None
    ttl: int | None = None
    pod_gc: str | None = None
    artifact_repository: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    priority: int | None = None
    warnings: tuple[Diagnostic, ...] = ()  # found while checking, not errors (unreadable op code, ...)
    loc: Location | None = None
    # positions of sub-fields ("default", "from", "op", "when", "parameters.X", ...), for checks
    locs: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.spec_path.parent

    def param(self, name: str) -> Param | None:
        return next((p for p in self.parameters if p.name == name), None)

    def with_parameter_values(self, values: Mapping[str, Any]) -> Workflow:
        """A copy whose parameters take ``values`` (already type-checked) as defaults."""
        params = tuple(replace(p, default=values[p.name]) if p.name in values else p for p in self.parameters)
        return replace(self, parameters=params)
