# dflowctl: a `foreach.param` list as {index, value} pairs, so that each item knows its
# index (Argo has no loop-index variable) without the whole list going to every pod.
# Standard library only; shipped as the source of the `dflowctl-enumerate` template.
#
# Reads   ROOT/inputs/artifacts/list     the JSON list (a raw artifact: no size limit of env)
# Writes  ROOT/outputs/parameters/items  [{"dflowctl-i": i, "dflowctl-v": <the item as Argo's
#                                         `item` tag shows it>}, ...]; a map item keeps its keys
#                                         too (so `item.KEY` tags work as before)
#         ROOT/outputs/parameters/count  how many items
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def go_json(value: object) -> str:
    """json.Marshal: compact, keys sorted, <, > and & escaped."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def shown(value: object) -> str:
    """Argo's `item` tag: a string as it is, anything else as JSON."""
    return value if isinstance(value, str) else go_json(value)


def pair(i: int, value: object) -> dict[str, object]:
    keys = {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}
    return {**keys, "dflowctl-i": i, "dflowctl-v": shown(value)}


def main() -> int:
    root = Path(os.environ.get("DFLOWCTL_ROOT", "/tmp/dflowctl"))
    text = (root / "inputs" / "artifacts" / "list").read_text(encoding="utf-8")
    try:
        values = json.loads(text)
    except ValueError:
        values = None
    if not isinstance(values, list):
        sys.stderr.write(f"dflowctl: foreach.param is not a JSON list: {text[:200]!r}\n")
        return 1
    out = root / "outputs" / "parameters"
    out.mkdir(parents=True, exist_ok=True)
    (out / "items").write_text(json.dumps([pair(i, v) for i, v in enumerate(values)]), encoding="utf-8")
    (out / "count").write_text(str(len(values)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
