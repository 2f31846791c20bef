# dflowctl: decides a foreach step's phase from its items (`continue_on.success_ratio` or
# `success_number`); standard library only, shipped as the `dflowctl-check-items` template.
#
# ROOT/inputs/artifacts/outputs   the loop's outputs as Argo aggregates them (a raw
#                       artifact: no size limit of env): a JSON list of the successful
#                       items' (pods') output parameters; each holds `dflowctl-ok`: 1,
#                       or how many items of a group pod succeeded
# env DFLOWCTL_TOTAL    how many items: a number, or the loop's JSON list of items
#     DFLOWCTL_RATIO / DFLOWCTL_NUMBER   what is needed (one of them is set)
# Exits 1 with one line (Argo's node message) when too few items succeeded.
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path


def succeeded(outputs_text: str) -> int:
    try:
        outputs = json.loads(outputs_text or "[]")
    except ValueError:
        return 0
    ok = 0
    for one in outputs if isinstance(outputs, list) else []:
        value = one.get("dflowctl-ok") if isinstance(one, dict) else None
        if value is not None and str(value).strip().isdigit():
            ok += int(str(value).strip())
    return ok


def total_of(text: str) -> int:
    value = json.loads(text)
    return len(value) if isinstance(value, list) else int(value)


def main() -> int:
    root = Path(os.environ.get("DFLOWCTL_ROOT", "/tmp/dflowctl"))
    try:
        ok = succeeded((root / "inputs" / "artifacts" / "outputs").read_text(encoding="utf-8"))
    except OSError:
        ok = 0
    try:
        total = total_of(os.environ.get("DFLOWCTL_TOTAL", "0"))
    except (ValueError, TypeError):
        total = 0
    ratio = os.environ.get("DFLOWCTL_RATIO") or ""
    if ratio:
        need = math.ceil(float(ratio) * total - 1e-9)
        rule = f"success_ratio {ratio}"
    else:
        need = int(os.environ.get("DFLOWCTL_NUMBER") or "0")
        rule = f"success_number {need}"
    line = f"{ok} of {total} items succeeded; {rule} needs {need}"
    sys.stderr.write(f"dflowctl: {line}\n")
    if ok >= need:
        return 0
    path = os.environ.get("DFLOWCTL_TERMINATION_LOG", "/dev/termination-log")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(line)
    except OSError:
        pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
