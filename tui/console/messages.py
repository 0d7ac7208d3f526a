"""App-wide messages, named after what happened.  Screen-local ones are nested in their screens."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from glasslab.core.presets import Preset


class PresetChosen(Message):
    """The user confirmed a preset (with any edits) to train; download: its missing data may be fetched."""

    def __init__(self, preset: Preset, download: bool = False) -> None:
        super().__init__()
        self.preset = preset
        self.download = download


class PresetPicked(Message):
    """A preset was picked (command palette): show it in the preset browser."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


class RunPicked(Message):
    """A stored run was picked (command palette): open it in the runs browser."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)


class RunEnded(Message):
    """The live run ended (finished, interrupted, diverged or failed); its store is complete."""

    def __init__(self, status: str, path: Path | None) -> None:
        super().__init__()
        self.status = status
        self.path = path


class ResumeRun(Message):
    """Continue this stored (interrupted or killed) run from its last snapshot, in its own store."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)


class FollowRun(Message):
    """Show this run live on the live screen, whatever started it (a finished one replays)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
