# dflowctl: the entries of an artifact folder as the items of a `foreach: {entries: ...}` step.
# Standard library only; shipped as the source of the step's `dflowctl-entries` template.
#
# Reads   ROOT/inputs/artifacts/data         the folder (a single file is one entry)
#         env DFLOWCTL_GROUP                 items per pod (0: one pod per item)
# Writes  ROOT/outputs/artifacts/slices/     <i>/<file>, or a sub-folder's contents at <i>/;
#                                            grouped: <g>/<i>/... (g: the pod's group)
#         ROOT/outputs/parameters/items      the loop's items, a JSON list of
#                                            {"i": i, "path": "<i>", "name": entry} (one pod per item)
#                                            or {"g": g, "path": "<g>", "first": i, "count": n}
#         ROOT/outputs/parameters/count      how many entries
# Entries are sorted by name (names of digits by number); hidden names (".x") are left out.
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def entry_order(path: Path) -> tuple[int, int, str]:
    name = path.name
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def entries(src: Path) -> list[Path]:
    if not src.is_dir():
        return [src] if src.exists() else []
    return sorted((p for p in src.iterdir() if not p.name.startswith(".")), key=entry_order)


def place(entry: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if entry.is_dir():
        shutil.copytree(entry, dest, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(entry, dest / entry.name)


def main() -> int:
    root = Path(os.environ.get("DFLOWCTL_ROOT", "/tmp/dflowctl"))
    group = int(os.environ.get("DFLOWCTL_GROUP") or "0")
    found = entries(root / "inputs" / "artifacts" / "data")
    out = root / "outputs"
    slices = out / "artifacts" / "slices"
    slices.mkdir(parents=True, exist_ok=True)
    items: list[dict[str, object]] = []
    for i, entry in enumerate(found):
        if group:
            g = i // group
            place(entry, slices / str(g) / str(i))
            if i % group == 0:
                items.append({"g": g, "path": str(g), "first": i, "count": min(group, len(found) - i)})
        else:
            place(entry, slices / str(i))
            items.append({"i": i, "path": str(i), "name": entry.name})
    params = out / "parameters"
    params.mkdir(parents=True, exist_ok=True)
    (params / "items").write_text(json.dumps(items), encoding="utf-8")
    (params / "count").write_text(str(len(found)), encoding="utf-8")
    pods = f" in {len(items)} pods" if group else ""
    sys.stderr.write(f"dflowctl: {len(found)} entries{pods}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
