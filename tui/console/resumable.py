"""Where a stored run would continue from, as the console says it (toast, runs table, continue).

`glasslab resume` (core.runs.resume.prepare) restores the run from the state the
store's `resume` attribute points at: its step is the step the continued run
starts from.  Reading that attribute here (not calling prepare, which takes the
writer lock and builds the model and data) lets the console show the figure
cheaply and agree with what the resume will do.  A store without the attribute
has no complete snapshot to continue from (prepare refuses it too).
"""

from __future__ import annotations

from pathlib import Path

from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.errors import GlasslabError
from glasslab.core.store import codec, reader


def _attrs(path: str | Path) -> dict:
    """The store's attributes, or {} when it cannot be read (the console then says nothing of it)."""
    try:
        return dict(reader.open_group(Path(path), mode="r").attrs)
    except (GlasslabError, OSError, ValueError, KeyError):
        return {}


def continue_step(path: str | Path) -> int | None:
    """The step a resume of this store starts from, or None when it cannot be resumed or read."""
    point = _attrs(path).get("resume")
    if isinstance(point, dict) and "step" in point:
        return int(point["step"])
    return None


def dynamics_at(path: str | Path, step: int) -> DynamicsConfig | None:
    """The dynamics a run continued at `step` trains with: the last switch recorded before that step
    (core.runs.resume replays those of the step itself), or None when there is none (the preset's)."""
    return codec.dynamics_after(_attrs(path).get("events", []), step - 1)