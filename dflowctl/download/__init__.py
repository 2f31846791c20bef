"""Download a run's output artifacts: one code path for both engines.

Which artifacts is decided from the Workflow object's ``status`` (``--step``,
``--artifact``: ``selection``); where they go from ``-d DIR`` (default ``./<run
name>``), as ``DIR/<step>/<artifact>/`` (always a folder: a file artifact keeps its own
name inside it; the items of a fan-out sit in ``<artifact>/<i>/`` by loop index, and
``DIR/<step>/items.json`` maps each index to its item: ``places``); the bytes come from
the engine's ``ArtifactStore`` into a staging folder, what is at the destination is
checked once per path (``checks``), and only then is anything moved into place
(``fetch``).
"""

from __future__ import annotations

from dflowctl.download.fetch import DownloadResult, fetch_all, link_in_the_way
from dflowctl.download.places import ITEMS_FILE, destination, file_name, items_files, loop_place
from dflowctl.download.selection import (
    SKIP_BY_DEFAULT,
    Selected,
    did_you_mean,
    find_steps,
    matches_step,
    select,
    step_names,
    with_item,
)

__all__ = [
    "ITEMS_FILE",
    "SKIP_BY_DEFAULT",
    "DownloadResult",
    "Selected",
    "destination",
    "did_you_mean",
    "fetch_all",
    "file_name",
    "find_steps",
    "items_files",
    "link_in_the_way",
    "loop_place",
    "matches_step",
    "select",
    "step_names",
    "with_item",
]
