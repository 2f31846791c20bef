"""A notebook session with dflowctl's Python API, as cells: run the fan-out of
specs/fanout.yaml for 0..n-1, read the sum as an int, and look at the items.

    python examples/notebook.py [N]
"""

# %% run it (the local engine; waits for the end)
import sys
from pathlib import Path

from dflowctl import api

REPO = Path(__file__).resolve().parent.parent
n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
assert api.validate(REPO / "specs" / "fanout.yaml") == []
run = api.run(REPO / "specs" / "fanout.yaml", {"n": n})
print(run.name, run.phase)

# %% the sum, as the int the op declared
total = run.output("total")
assert isinstance(total, int), type(total)
assert total == sum(i * i for i in range(n)), total
print("total =", total)

# %% the same run found again, and its outputs as rows
again = api.get_run("@latest")
assert again.name == run.name and again.wait().succeeded
print(again.outputs("total"))

# %% the squares, fetched as files
# (square/result/<i>/square.txt per item, and square/items.json: index → item)
files = [p for p in run.download(Path.cwd() / run.name, step="square") if p.suffix == ".txt"]
print(len(files), "files:", sorted(int(p.read_text()) for p in files))
