"""``python -m dflowctl.engines.local.detached RUN_DIR [--lock-fd FD] [--parallelism N] [--retry]``.

Runs a recorded local run in the background (``dflowctl run --no-wait``, ``retry
--no-wait``). SIGTERM (``dflowctl stop``) ends it the way Ctrl-C ends a run in
the foreground; the record then says it was stopped.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import signal
import sys
from pathlib import Path
from types import FrameType

from dflowctl.engines.local.hostenv import policy_from_settings
from dflowctl.engines.local.launch import run_controller
from dflowctl.engines.local.records import RunDir


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dflowctl-local-run")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--parallelism", type=int, default=None)
    parser.add_argument("--retry", action="store_true")
    parser.add_argument("--lock-fd", type=int, default=None, help="the run's lock, taken by the caller")
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir)
    signal.signal(signal.SIGTERM, _on_term)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: stacks into controller.log
    workflow = run.load_workflow()
    previous = None
    if args.retry:
        prev_path = run.path / "previous.json"
        previous = json.loads(prev_path.read_text(encoding="utf-8"))
        prev_path.unlink(missing_ok=True)
        status = previous.get("status") or {}
        workflow = {k: v for k, v in previous.items() if k != "status"}
        workflow["status"] = {"phase": "Running", "startedAt": status.get("startedAt")}
    try:
        run_controller(
            run,
            workflow,
            parallelism=args.parallelism,
            on_update=None,
            previous=previous,
            env_policy=policy_from_settings(),
            lock_fd=args.lock_fd,
        )
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
