"""dflowctl from Python (a notebook, a script): the CLI's use cases as typed calls.

    from dflowctl import api

    run = api.run("specs/fanout.yaml", {"n": 50})        # waits; the local engine by default
    run.phase                                           # "Succeeded"
    run.output("total")                                 # 2401 (an int: the op declared int)
    run.outputs("square")                               # one dict per item
    run.download("results/")                            # files, as `dflowctl download`

Every call goes through the same functions as the commands (``actions``,
``results``, ``runs``); errors are the same ``DflowctlError`` family
(``SpecError`` with ``diagnostics``, ``NotFoundError``, ...). See docs/python.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dflowctl.engines import Engine, RunOptions, Workflow
from dflowctl.errors import Diagnostic, NotFoundError
from dflowctl.settings import Settings

__all__ = ["Run", "get_run", "list_runs", "load", "run", "validate"]


def _settings(engine: str | None, home: str | Path | None, namespace: str | None) -> Settings:
    from dflowctl.settings import load_settings

    return load_settings(
        {"engine": engine, "home": str(home) if home is not None else None, "namespace": namespace}
    )


def _engine(engine: str | None, home: str | Path | None, namespace: str | None) -> Engine:
    from dflowctl import actions

    return actions.make_engine(_settings(engine, home, namespace))


def _overrides(parameters: Mapping[str, object] | None) -> list[str]:
    """Python values as ``-p NAME=VALUE`` (parameters are strings on the wire: a ``str``
    as is, anything else as JSON)."""
    return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in (parameters or {}).items()]


def validate(path: str | Path) -> list[Diagnostic]:
    """The problems of a spec (or Argo Workflow file), as ``dflowctl validate`` finds them;
    an empty list when it is valid."""
    from dflowctl.commands.validate import validate_files

    return [d for _file, diags in validate_files([Path(path)]) for d in diags]


def load(path: str | Path, parameters: Mapping[str, object] | None = None) -> Workflow:
    """The Argo Workflow a spec renders to, with ``parameters`` set (``SpecError`` if invalid)."""
    from dflowctl import actions

    with actions.prepared_manifest(Path(path), _overrides(parameters)) as prepared:
        return prepared.manifest


@dataclass
class Run:
    """A run, as its engine records it. ``refresh()`` reads it again."""

    name: str
    engine: Engine
    workflow: Workflow

    @property
    def phase(self) -> str:
        return str((self.workflow.get("status") or {}).get("phase") or "Pending")

    @property
    def finished(self) -> bool:
        from dflowctl.argo.phases import is_finished

        return is_finished(self.workflow)

    @property
    def succeeded(self) -> bool:
        return self.phase == "Succeeded"

    def refresh(self) -> Run:
        self.workflow = self.engine.get_run(self.name)
        return self

    def wait(self) -> Run:
        """Block until the run ends (as ``dflowctl wait``)."""
        if not self.refresh().finished:
            self.workflow = self.engine.watch(self.name, lambda _wf: None)
        return self

    def outputs(self, step: str | None = None) -> list[dict[str, Any]]:
        """Output parameters, one dict per step and per fan-out item (``step``, ``index``,
        ``item``, ``phase``, ``outputs``), values decoded (as ``dflowctl outputs -o json``)."""
        from dflowctl import results
        from dflowctl.download import find_steps

        if step is not None:
            find_steps(self.workflow, step)
        return results.as_records(self.workflow, results.output_rows(self.workflow, step))

    def output(self, name: str) -> Any:
        """The final output parameter ``name`` (the workflow's, else a last step's), decoded."""
        from dflowctl import results
        from dflowctl.runoutputs import run_outputs

        finals = [o for o in run_outputs(self.workflow) if o.kind == "parameter" and o.name == name]
        if not finals:
            known = sorted({o.name for o in run_outputs(self.workflow) if o.kind == "parameter"})
            raise NotFoundError(
                f"run {self.name!r} has no final output {name!r}",
                hint="outputs: " + (", ".join(known) or "none"),
            )
        final = finals[0]
        rows = [
            r for r in self.outputs() if r["step"].rpartition("/")[2] == final.step and name in r["outputs"]
        ]
        return rows[0]["outputs"][name] if rows else results.decode(final.value)

    def logs(self, step: str | None = None) -> list[tuple[str, str]]:
        """(step, line) pairs, as ``dflowctl logs``."""
        from dflowctl import actions

        blocks = actions.logs(self.engine, self.name, step)
        return [(block.node_name, text) for block in blocks for text in block.text.split("\n")]

    def download(
        self, directory: str | Path | None = None, *, step: str | None = None, artifact: str | None = None
    ) -> list[Path]:
        """Fetch output artifacts to ``directory`` (default ``./<run name>``), as ``dflowctl download``."""
        from dflowctl import actions

        items = actions.select_artifacts(self.engine, self.name, step=step, artifact=artifact)
        base = Path(directory) if directory is not None else None
        result = actions.download(self.engine, self.name, items, directory=base)
        return sorted({*result.written, *result.unchanged})

    def report(self, path: str | Path | None = None) -> Path:
        """Write the run's HTML report (as ``dflowctl report``); returns the file."""
        from dflowctl.report import run_report

        target = Path(path) if path is not None else Path(f"{self.name}.html")
        target.write_text(run_report(self.engine, self.refresh().workflow), encoding="utf-8")
        return target


def run(
    spec: str | Path,
    parameters: Mapping[str, object] | None = None,
    *,
    wait: bool = True,
    engine: str | None = None,
    name: str | None = None,
    labels: Mapping[str, str] | None = None,
    parallelism: int | None = None,
    home: str | Path | None = None,
    namespace: str | None = None,
    reuse: bool | str | None = None,
    rerun: Sequence[str] = (),
    reuse_steps: Sequence[str] = (),
) -> Run:
    """Run a spec (or Argo Workflow file), as ``dflowctl run`` (``wait=False``: ``submit``).
    ``reuse``: ``True`` takes earlier results of steps with the same key (``--reuse``), a
    run's name (or ``@latest``) only that run's (``--reuse RUN``), ``False`` none
    (``--no-reuse``), ``None`` the config's ``reuse:``; ``rerun`` and ``reuse_steps`` as
    ``--rerun`` and ``--reuse-step`` (docs/reuse.md)."""
    from dflowctl import actions
    from dflowctl.commands.run import ANY_RUN, check_reuse, name_run, pythons_for, reuse_plan

    settings = _settings(engine, home, namespace)
    flag = ANY_RUN if reuse is True else reuse if isinstance(reuse, str) else None
    flag = check_reuse(settings, flag)
    eng = actions.make_engine(settings)
    label_pairs = [f"{k}={v}" for k, v in (labels or {}).items()]
    local_python = actions.python_context(settings) if settings.engine == "local" else None
    with actions.prepared_manifest(
        Path(spec), _overrides(parameters), None, settings.engine, python=local_python
    ) as prepared:
        name_run(prepared.manifest, name, label_pairs)
        use_reuse, reuse_from = reuse_plan(prepared, settings, flag, reuse is False, rerun, reuse_steps)
        pythons = pythons_for(prepared, settings, python_flag=False)
        options = RunOptions(
            wait=wait,
            parallelism=parallelism,
            pythons=pythons,
            reuse=use_reuse,
            reuse_from=reuse_from,
            rerun=tuple(rerun),
            reuse_steps=tuple(reuse_steps),
            spec_path=Path(spec),
        )
        workflow = actions.submit(eng, prepared, options)
    return Run(str((workflow.get("metadata") or {}).get("name") or ""), eng, workflow)


def get_run(
    name: str, *, engine: str | None = None, home: str | Path | None = None, namespace: str | None = None
) -> Run:
    """A recorded run by name (or ``@latest``)."""
    from dflowctl import runs

    eng = _engine(engine, home, namespace)
    resolved = runs.resolve(eng, name)
    return Run(resolved, eng, eng.get_run(resolved))


def list_runs(
    *,
    phases: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    engine: str | None = None,
    home: str | Path | None = None,
    namespace: str | None = None,
) -> list[Run]:
    """Recorded runs, newest first, filtered as ``dflowctl list --phase/-l``."""
    from dflowctl import runs

    eng = _engine(engine, home, namespace)
    found = runs.filter_runs(runs.newest_first(eng.list_runs()), phases=phases, labels=labels)
    return [Run(str((w.get("metadata") or {}).get("name") or ""), eng, w) for w in found]
