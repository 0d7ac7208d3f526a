"""App-wide messages, named after what happened.  Screen-local ones are nested in their screens.

Dataclasses over textual's Message (its __post_init__ sets the message up); eq=False keeps
the identity semantics Textual's queues expect of a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.message import Message

from glasslab.core.config.presets import Preset


@dataclass(eq=False)
class PresetChosen(Message):
    """The user confirmed a preset (with any edits) to train; download: its missing data may be fetched."""

    preset: Preset
    download: bool = False


@dataclass(eq=False)
class PresetPicked(Message):
    """A preset was picked (command palette): show it in the preset browser."""

    name: str


@dataclass(eq=False)
class _StoreMessage(Message):
    """A message about one run store; `path` is always a Path."""

    path: Path

    def __post_init__(self) -> None:
        super().__post_init__()
        self.path = Path(self.path)


class RunPicked(_StoreMessage):
    """A stored run was picked (command palette): open it in the runs browser."""


class ResumeRun(_StoreMessage):
    """Continue this stored (interrupted or killed) run from its last snapshot, in its own store."""


class FollowRun(_StoreMessage):
    """Show this run live on the live screen, whatever started it (a finished one replays)."""


@dataclass(eq=False)
class RunEnded(Message):
    """The live run ended (finished, interrupted, diverged or failed); its store is complete."""

    status: str
    path: Path | None
