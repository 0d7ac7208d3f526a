"""PresetsScreen: every preset (shipped, and the working directory's presets/), filterable, with details.

`s` (or enter on the list) opens the start dialog; the confirmed preset goes
out as a PresetChosen message.  Counting parameters and checking the data
sets takes a moment for the big models, so a thread worker summarises the
presets and posts each summary as it is ready; the list shows at once.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from glasslab.core.config import presets
from glasslab.core.errors import BadInput
from glasslab.core.runs import catalog

from ..messages import PresetChosen
from ..widgets.filter_input import FilterInput
from ..widgets.fitting_footer import FittingFooter
from ..widgets.preset_details import PresetDetails
from .start_dialog import StartChoice, StartDialog
from .vi_keys import VI_MOVES

FIRST = "quickstart"  # listed (and selected) first: the preset a new user should start with


def find_presets(presets_dir: Path | None) -> dict[str, Path]:
    """name -> file: the given folder only, or presets.available() (./presets shadows the shipped ones);
    the quickstart first, then by name."""
    found = presets.available() if presets_dir is None else {p.stem: p for p in Path(presets_dir).glob("*.toml")}
    return dict(sorted(found.items(), key=lambda item: (item[0] != FIRST, item[0])))


def _summary(name: str, path: Path) -> catalog.PresetSummary:
    try:
        return catalog.summarize(presets.load(str(path)), str(path))
    except BadInput as err:
        return catalog.PresetSummary(name, str(path), "", "?", "?", "?", 0, 0, False, "fix the file", str(err))


class PresetsScreen(Screen):
    CSS_PATH = "presets_screen.tcss"
    # The list, not the filter (the first focusable widget), has the focus from the first frame:
    # keys pressed while the console starts (r, p, l ...) are commands, not filter text.
    AUTO_FOCUS = "#preset-list"
    BINDINGS = [
        Binding("slash", "filter", "Filter"),
        Binding("s", "start", "Start"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        *VI_MOVES,
    ]

    class Summarized(Message):
        """A preset's N, P and data availability were worked out (off the UI thread)."""

        def __init__(self, summary: catalog.PresetSummary) -> None:
            super().__init__()
            self.summary = summary

    def __init__(self, presets_dir: Path | None = None) -> None:
        super().__init__(name="presets")
        self.presets_dir = presets_dir
        self.paths: dict[str, Path] = {}
        self.summaries: dict[str, catalog.PresetSummary] = {}
        self._loaded: dict[str, tuple[presets.Preset | None, str]] = {}
        self._asked: set[str] = set()  # presets summarised out of turn because they were shown

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="preset-side"):
                yield FilterInput(list_id="preset-list", placeholder="/ to filter", id="preset-filter", compact=True)
                yield OptionList(id="preset-list")
            yield PresetDetails(id="preset-details")
        yield FittingFooter()

    def on_mount(self) -> None:
        self.paths = find_presets(self.presets_dir)
        self._fill("")
        self.query_one(OptionList).focus()
        self._summarize(dict(self.paths))

    # -- the list ----------------------------------------------------------------
    def _fill(self, text: str) -> None:
        words = text.lower().split()
        ol = self.query_one(OptionList)
        keep = self.selected if ol.option_count else None
        ol.clear_options()
        for name in self.paths:
            preset, error = self.load(name)
            hay = f"{name} {preset.description if preset else ''}".lower()
            if all(w in hay for w in words):
                ol.add_option(Option(self._label(name), id=name))
        if ol.option_count:  # the selection stays where it was when the filter still lists it
            try:
                ol.highlighted = ol.get_option_index(keep) if keep is not None else 0
            except Exception:  # OptionDoesNotExist: filtered out
                ol.highlighted = 0
        else:
            self.query_one(PresetDetails).show_nothing(f"no preset matches {text.strip()!r}")

    def _label(self, name: str) -> Text:
        label = Text(name, no_wrap=True, overflow="ellipsis")  # one row per preset in a narrow list
        s = self.summaries.get(name)
        if s is not None and s.error:
            label.append("  malformed", "bold red")
        elif s is not None and not s.data_ok:
            label.append("  no data", "yellow")
        return label

    def load(self, name: str) -> tuple[presets.Preset | None, str]:
        """The preset, or the one-line reason it does not load (cached)."""
        if name not in self._loaded:
            try:
                self._loaded[name] = (presets.load(str(self.paths[name])), "")
            except BadInput as err:
                self._loaded[name] = (None, str(err))
        return self._loaded[name]

    @property
    def selected(self) -> str | None:
        ol = self.query_one(OptionList)
        if ol.highlighted is None:
            return None
        return ol.get_option_at_index(ol.highlighted).id

    def select(self, name: str) -> None:
        """Show `name` (from the command palette): clear the filter, highlight it."""
        self.query_one("#preset-filter", Input).value = ""
        self._fill("")
        ol = self.query_one(OptionList)
        if name not in self.paths:  # the palette listed a preset that has gone since
            self.notify(f"no preset {name!r}", severity="warning")
            return
        ol.highlighted = ol.get_option_index(name)
        self._show(name)
        self.set_focus(ol)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_start()

    def _show(self, name: str | None) -> None:
        if name is None:
            return
        if name not in self.summaries and name not in self._asked:
            self._asked.add(name)
            self._summarize_now(name, self.paths[name])
        preset, error = self.load(name)
        self.query_one(PresetDetails).show(name, str(self.paths[name]), preset, self.summaries.get(name), error)

    # -- summaries, off the UI thread ---------------------------------------
    @work(thread=True, exclusive=True, exit_on_error=False, group="summaries")
    def _summarize(self, paths: dict[str, Path]) -> None:
        for name, path in paths.items():
            if name not in self.summaries:  # one the user looked at may be done already
                self.post_message(self.Summarized(_summary(name, path)))

    @work(thread=True, exit_on_error=False, group="summary-shown")
    def _summarize_now(self, name: str, path: Path) -> None:
        """The shown preset's summary, ahead of the list's order: counting a big model's
        parameters takes seconds, and the list's worker may be busy with others."""
        self.post_message(self.Summarized(_summary(name, path)))

    def on_presets_screen_summarized(self, message: Summarized) -> None:
        name = Path(message.summary.path).stem
        self.summaries[name] = message.summary
        lists = self.query(OptionList)
        if not lists:  # the console is closing: a worker's summary came after the screen's widgets went
            return
        ol = lists.first()
        try:
            ol.replace_option_prompt(name, self._label(name))
        except Exception:  # OptionDoesNotExist: filtered out right now
            pass
        if self.selected == name:
            self._show(name)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The summarising worker's failures (an unexpected error in a preset) are reported here."""
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            self.notify(f"{type(err).__name__}: {err}", title="Summarising the presets failed", severity="error")

    # -- actions -------------------------------------------------------------------
    def action_filter(self) -> None:
        # Focus now, not after a refresh: the keys typed right after / must land in the filter.
        self.set_focus(self.query_one("#preset-filter", Input))

    def action_move(self, by: int) -> None:
        ol = self.query_one(OptionList)
        if ol.option_count:
            ol.highlighted = min(max((ol.highlighted or 0) + by, 0), ol.option_count - 1)

    def action_move_to(self, index: int) -> None:
        ol = self.query_one(OptionList)
        if ol.option_count:
            ol.highlighted = index % ol.option_count

    def action_clear_filter(self) -> None:
        self.query_one("#preset-filter", Input).value = ""
        self.set_focus(self.query_one(OptionList))

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.set_focus(self.query_one(OptionList))

    def action_start(self) -> None:
        name = self.selected
        if name is None:
            self.notify("No preset selected.", severity="warning")
            return
        preset, error = self.load(name)
        if preset is None:
            self.notify(error, title=f"{name} does not load", severity="error")
            return
        from glasslab.core.train.run import available_devices

        def chosen(result: StartChoice | None) -> None:
            if result is not None:
                self.post_message(PresetChosen(result.preset, download=result.download))

        self.app.push_screen(StartDialog(preset, available_devices(), self.app.data_options["data_dir"]), chosen)
