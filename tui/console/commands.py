"""The command palette (ctrl+p) finds presets and runs by name; the actions come from App.get_system_commands."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .messages import PresetPicked, RunPicked
from .screens.presets_screen import find_presets


class PresetsAndRuns(Provider):
    """'preset NAME' shows it in the browser; 'run NAME' opens the stored run."""

    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.app
        out: list[tuple[str, str, object]] = []
        for name, path in find_presets(app.presets_dir).items():
            out.append((f"preset {name}", f"Show {path} in the preset browser",
                        partial(app.post_message, PresetPicked(name))))
        out_dir = Path(app.out_dir)
        runs = sorted(out_dir.glob("*.zarr"), key=lambda p: p.stat().st_mtime, reverse=True) if out_dir.is_dir() else []
        for path in runs:
            out.append((f"run {path.stem}", f"Open {path} in the runs browser",
                        partial(app.post_message, RunPicked(path))))
        return out

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
