"""RunsScreen: the runs under the output directory, and the plots of one run or several overlaid.

enter opens the highlighted run (its plots from the store); `/` filters the table by tag
(`glasslab run --tag`, `glasslab note --tag`; a run's tags show dim beside its name); `o` adds it to,
or removes it from, the overlay; `c` continues an interrupted (or killed) run
from its last snapshot on the live screen.  A shown run gets a colour slot when it is
added and keeps it, on every plot, until it is removed (removing another run
does not recolour it); the table and the legend mark it in that colour.

Reading stores and the aging analysis happen on thread workers; their results
come back as this screen's messages.  The verdict is core.analysis.report's,
read as the store stands, when the store has the `msd` array; otherwise "-".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker, WorkerState

from glasslab.core.analysis import verdict_rule
from glasslab.core.errors import GlasslabError
from glasslab.core.runs import live
from glasslab.core.store import notes as store_notes
from glasslab.core.store import reader

from ..curves import RunCurves
from ..messages import FollowRun, ResumeRun
from ..resumable import continue_step
from ..widgets.filter_input import FilterInput
from ..widgets.fitting_footer import FittingFooter
from ..widgets.log_plot import rich_color
from ..widgets.plot_panel import PlotPanel
from .listing_screen import ListingScreen
from .vi_keys import VI_MOVES

MAX_OVERLAY = 4
STATUS_STYLE = {"running": "green", "finished": "cyan", "interrupted": "yellow", "stale": "magenta", "diverged": "red"}
# core.analysis's labels, shortened for an 80-column table (and "interrupted aging" is not read as the
# run's status "interrupted" beside it): core/analysis/verdict_rule.py's, as every table prints them.
SHORT_VERDICT = verdict_rule.SHORT


@dataclass(frozen=True)
class RunRow:
    path: Path
    name: str
    status: str
    step: int
    total: int
    n_snapshots: int
    has_msd: bool
    resume_step: int | None = None  # where `c` (glasslab resume) continues from: core.runs.resume's point
    tags: tuple[str, ...] = ()  # run.tags, then its notes' (core/store/notes.py)

    @property
    def steps_text(self) -> str:
        """step/total; an interrupted run shows the step it continues from, which is what c will do."""
        if self.status in ("interrupted", "stale") and self.resume_step is not None:
            return f"{self.resume_step:,}/{self.total:,}"
        return f"{self.step:,}/{self.total:,}"

    @property
    def key(self) -> str:
        return str(self.path)

    def tagged(self, text: str) -> bool:
        """The tag filter: a tag that starts with `text` (any case); everything for ''."""
        text = text.strip().lower()
        return not text or any(t.lower().startswith(text) for t in self.tags)

    @property
    def label_text(self) -> Text:
        """The run's column: its label, then its tags, dim."""
        return Text(self.label) + (Text(" " + ",".join(self.tags), style="dim") if self.tags else Text())

    @property
    def label(self) -> str:
        stem = self.path.stem
        return stem[len(self.name) + 1:] if stem.startswith(self.name + "-") else stem


def row_of(t: reader.Trajectory) -> RunRow:
    steps = t.steps
    point = t.attrs.get("resume")
    status, step = t.status, int(steps[-1]) if len(steps) else 0
    if status == "running":  # what the store says until its writer ends it; a killed writer never does
        now = live.describe(t.path)
        status = now.status  # running, or stale once its process is gone
        # The step its process reports, not its last snapshot's: snapshots are log-spaced, so late in a
        # run the column stood still for minutes while the table was on screen (issue 31 item 14).
        step = max(step, int(now.step or 0)) if now.alive else step
    return RunRow(t.path, t.attrs.get("name", t.path.stem), status, step,
                  int(t.attrs.get("total_steps", 0)), t.n_snapshots, "msd" in t.root,
                  int(point["step"]) if isinstance(point, dict) and "step" in point else None,
                  store_notes.tags_of(t.attrs))


def verdict_text(r: RunRow, verdict: str) -> Text:
    """The verdict as the table shows it: provisional (dim, marked) while the run still trains."""
    if r.status == "running" and verdict not in ("-", "…"):  # verdict_of's says at which step it was judged
        return Text(verdict if "so far" in verdict else f"{verdict}, so far", style="dim italic")
    return Text(verdict)


def analysis_of(path: Path, n_boot: int = 200) -> dict:
    """core.analysis.report.analyze_store's result for a stored run, read as it stands (as_stored:
    nothing completed or written, no branch controls; "analysis_error" when it cannot be analysed
    yet).  The table's verdict and the analysis pane both come from here, so they cannot disagree."""
    from glasslab.core.analysis.report import analyze_store  # on the worker thread, not at the console's start

    return analyze_store(path, n_boot=n_boot, as_stored=True)


def verdict_of(path: Path) -> str:
    """core.analysis's verdict label for a stored run (shortened for the table), or '-'."""
    a = analysis_of(path).get("analysis")
    if not a:
        return "-"
    v = a["verdict"]  # a live run's: judged on its snapshots so far (the step column may be further on)
    so_far = f", so far, at step {v['so_far']:,}" if v.get("so_far") is not None else ""
    return SHORT_VERDICT.get(v["label"], v["label"]) + so_far


class RunsScreen(ListingScreen):
    CSS_PATH = "runs_screen.tcss"
    LIST_TABLE = "#runs-table"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("o", "overlay", "Overlay"),
        Binding("c", "resume", "Continue"),
        Binding("f", "follow", "Follow", tooltip="Follow live"),
        Binding("y", "loss_scale", "Log/lin", tooltip="Loss log/lin"),
        Binding("a", "analysis", "Analysis"),
        Binding("slash", "filter", "Filter", show=False, tooltip="Filter the runs by tag"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        *VI_MOVES,
    ]

    class Listed(Message):
        def __init__(self, rows: list[RunRow]) -> None:
            super().__init__()
            self.rows = rows

    class Judged(Message):
        def __init__(self, key: str, verdict: str) -> None:
            super().__init__()
            self.key, self.verdict = key, verdict

    class Analyzed(Message):
        def __init__(self, key: str, result: dict) -> None:
            super().__init__()
            self.key, self.result = key, result

    class Loaded(Message):
        def __init__(self, key: str, curves: RunCurves) -> None:
            super().__init__()
            self.key, self.curves = key, curves

    def __init__(self, out_dir: str | Path) -> None:
        super().__init__(name="runs")
        self.out_dir = Path(out_dir)
        self.rows: dict[str, RunRow] = {}
        self.verdicts: dict[tuple, str] = {}
        self.shown: dict[str, int] = {}  # key of each run on the plots -> its colour slot
        self.curves: dict[str, RunCurves] = {}
        self._pending_open: str | None = None
        self.tag_filter = ""

    def compose(self) -> ComposeResult:
        table = DataTable(id="runs-table", cursor_type="row", zebra_stripes=False)
        table.add_columns("", "run", "preset", "status", "steps", "verdict")
        yield table
        yield FilterInput(list_id="runs-table", placeholder="tag", id="runs-filter", compact=True)
        yield Static("enter opens a run, o overlays it", id="runs-legend")
        yield VerticalScroll(Static("", id="runs-analysis-text"), id="runs-analysis")
        yield PlotPanel(id="runs-plots")
        yield FittingFooter()

    # -- listing ---------------------------------------------------------------------
    def relist(self) -> None:
        self._list_runs()

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-list")
    def _list_runs(self) -> None:
        rows = [row_of(t) for t in reader.list_runs(self.out_dir)] if self.out_dir.is_dir() else []
        self.post_message(self.Listed(rows))

    def on_runs_screen_listed(self, message: Listed) -> None:
        new = {r.key: r for r in message.rows}
        if new != self.rows:
            self.rows = new
            self._draw_table()
            todo = [r for r in message.rows if self._verdict_key(r) not in self.verdicts]
            if todo:
                self._judge(todo)
        if self._pending_open in self.rows:
            self.open(self._pending_open)
        elif self._pending_open is not None:
            self.notify(f"{self._pending_open} is not a run under {self.out_dir}", severity="warning")
            self._pending_open = None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where this screen's workers (listing, loading, judging) report failures."""
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            text = str(err) if isinstance(err, GlasslabError) else f"{type(err).__name__}: {err}"
            self.notify(text, title="Reading the runs failed", severity="error", timeout=8)

    def _verdict_key(self, r: RunRow) -> tuple:
        return (r.key, r.n_snapshots, r.status, r.has_msd)

    def _draw_table(self) -> None:
        table = self.query_one(DataTable)
        cursor = self.highlighted
        table.clear()
        visible = self.visible()
        for r in visible:
            table.add_row(self._mark(r.key), r.label_text, r.name, Text(r.status, STATUS_STYLE.get(r.status, "")),
                          r.steps_text, verdict_text(r, self.verdicts.get(self._verdict_key(r), "…")), key=r.key)
        if cursor in {r.key for r in visible}:
            table.move_cursor(row=table.get_row_index(cursor))

    def _mark(self, key: str) -> Text:
        if key not in self.shown:
            return Text(" ")
        k = self.shown[key]
        return Text(str(k + 1), style=f"bold reverse {rich_color(k)}")

    def _refresh_marks(self) -> None:
        table = self.query_one(DataTable)
        for r in self.visible():
            table.update_cell(r.key, table.ordered_columns[0].key, self._mark(r.key))

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-verdicts")
    def _judge(self, rows: list[RunRow]) -> None:
        for r in rows:
            self.post_message(self.Judged(r.key, verdict_of(r.path) if r.has_msd else "-"))

    def on_runs_screen_judged(self, message: Judged) -> None:
        r = self.rows.get(message.key)
        if r is None:
            return
        self.verdicts[self._verdict_key(r)] = message.verdict
        if not r.tagged(self.tag_filter):  # filtered out of the table: drawn when it comes back
            return
        table = self.query_one(DataTable)
        table.update_cell(message.key, table.ordered_columns[-1].key, verdict_text(r, message.verdict),
                          update_width=True)

    # -- the tag filter ----------------------------------------------------------------
    def visible(self) -> list[RunRow]:
        return [r for r in self.rows.values() if r.tagged(self.tag_filter)]

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        self.set_focus(box)  # now: the keys typed right after / are the filter's

    def action_clear_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.value, box.display = "", False
        self.set_focus(self.query_one(DataTable))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter" and event.value.strip() != self.tag_filter:
            self.tag_filter = event.value.strip()
            self._draw_table()
            self._show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "runs-filter" and not event.value.strip():
            event.input.display = False

    # -- opening and overlaying ----------------------------------------------------
    @property
    def highlighted(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.open(event.row_key.value)

    def action_open(self) -> None:
        if self.highlighted is not None:
            self.open(self.highlighted)

    def open(self, key: str) -> None:
        """Show this run alone (from the table, or the command palette)."""
        if key not in self.rows:  # not listed yet: open it once the listing has it
            self._pending_open = key
            self.relist()
            return
        self._pending_open = None
        if not self.rows[key].tagged(self.tag_filter):  # asked for by name (the palette): show it
            box = self.query_one("#runs-filter", Input)
            box.value, box.display, self.tag_filter = "", False, ""
            self._draw_table()
        self.shown = {key: 0}
        table = self.query_one(DataTable)
        table.move_cursor(row=table.get_row_index(key))
        self._load(key)
        self._show()

    def action_overlay(self) -> None:
        key = self.highlighted
        if key is None:
            return
        if key in self.shown:
            del self.shown[key]
        elif len(self.shown) >= MAX_OVERLAY:
            self.notify(f"At most {MAX_OVERLAY} runs overlaid: o on a marked run removes it.", severity="warning")
            return
        else:
            self.shown[key] = min(set(range(MAX_OVERLAY)) - set(self.shown.values()))
            self._load(key)
        self._show()

    def action_move(self, by: int) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=min(max(table.cursor_row + by, 0), table.row_count - 1))

    def action_move_to(self, index: int) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=index % table.row_count)

    def action_analysis(self) -> None:
        """The analysis of the opened (or highlighted) run in place of the plots, as `glasslab analyze`
        prints it; a again goes back to the plots."""
        pane = self.query_one("#runs-analysis")
        if pane.display:
            pane.display = False
            self.query_one(PlotPanel).display = True
            return
        key = next(iter(self.shown)) if len(self.shown) == 1 else self.highlighted
        if key is None:
            return
        self.query_one("#runs-analysis-text", Static).update(f"analysing {Path(key).stem} ...")
        pane.display = True
        self.query_one(PlotPanel).display = False
        self._analyze(key)

    @work(thread=True, exclusive=True, exit_on_error=False, group="runs-analysis")
    def _analyze(self, key: str) -> None:
        self.post_message(self.Analyzed(key, analysis_of(Path(key))))

    def on_runs_screen_analyzed(self, message: Analyzed) -> None:
        from rich.table import Table

        from glasslab.tui.analysis_table import analysis_rows, notebook_rows

        r = message.result
        table = Table(title=f"{Path(message.key).stem} ({r['status']}): the aging analysis", show_header=False,
                      title_justify="left", box=None, padding=(0, 1))
        table.add_column(style="bold", max_width=30)  # long labels wrap, the numbers keep the room
        table.add_column(ratio=1)
        for label, value in [*notebook_rows(r), *analysis_rows(r)]:
            table.add_row(label, value)
        self.query_one("#runs-analysis-text", Static).update(table)

    def action_loss_scale(self) -> None:
        self.query_one(PlotPanel).toggle_loss_scale()

    def action_resume(self) -> None:
        """Continue the highlighted run from its last snapshot (as `glasslab resume RUN`)."""
        key = self.highlighted
        if key is None:
            return
        r = self.rows[key]
        now = live.describe(r.path)  # the row may be older than the run: another console may have continued it
        if now.alive:  # c only for a run with no live writer (issue 31.6)
            self.notify(f"{r.label} is {now.status} (pid {now.pid}): f follows it", severity="warning", timeout=8)
        elif r.status == "finished":
            self.notify(f"{r.label} has finished its steps: extend it with glasslab resume {key} --steps N",
                        severity="warning", timeout=8)
        elif r.status == "diverged":
            self.notify(f"{r.label} diverged: resuming would diverge again; start it anew with a smaller lr",
                        severity="warning", timeout=8)
        else:  # interrupted, or stale: `running` in a store whose writer was killed (the engine checks the lock)
            at = continue_step(r.path)
            self.notify(f"Continuing {r.label} from step {at:,} (its last saved state)" if at is not None
                        else f"Continuing {r.label}", timeout=6)
            self.post_message(ResumeRun(r.path))

    def action_follow(self) -> None:
        """Show the highlighted run on the live screen, live while it trains (whatever started it)."""
        if self.highlighted is not None:
            self.post_message(FollowRun(Path(self.highlighted)))

    @work(thread=True, exit_on_error=False, group="runs-load")
    def _load(self, key: str) -> None:
        self.post_message(self.Loaded(key, RunCurves.from_store(reader.Trajectory.open(key))))

    def on_runs_screen_loaded(self, message: Loaded) -> None:
        self.curves[message.key] = message.curves
        self._show()

    def _show(self) -> None:
        self._refresh_marks()
        order = sorted(self.shown, key=self.shown.get)
        loaded = [key for key in order if key in self.curves]
        legend = Text()
        for key in order:
            k = self.shown[key]
            r = self.rows.get(key)
            legend.append(f" {k + 1} ", style=f"bold reverse {rich_color(k)}")
            legend.append(f" {Path(key).stem} ({r.status if r else '?'})  ")
        if self.tag_filter:
            legend.append(f" tag {self.tag_filter}*: {len(self.visible())} of {len(self.rows)} runs", style="italic")
        self.query_one("#runs-legend", Static).update(legend if self.shown or self.tag_filter
                                                      else "enter opens a run, o overlays it")
        self.query_one(PlotPanel).show([self.curves[key] for key in loaded], [self.shown[key] for key in loaded])

