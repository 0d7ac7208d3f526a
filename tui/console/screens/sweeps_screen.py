"""SweepsScreen: the sweeps under ./sweeps, their points' progress, and one sweep's ensembles.

The top table lists the sweep directories (core/sweep: a manifest and one run
store per point) with their counts by state, refreshed every few seconds while
the screen is shown.  enter opens the highlighted sweep: its points (axis
values, state, step / total, train loss, verdict) and, once computed on a
thread worker, the ensembles over seeds of core/sweep/ensemble.py: the mean
Delta(t_w, t_w + t) of each group with dotted lines one standard error above
and below (plotext has no bands), and the table of mu, late slope and final
loss against the swept axes.  Reached from the command palette ("Sweeps").
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from glasslab.core.errors import GlasslabError

from ...numbers import bounded_mu, pm
from ...sweep_tables import short_verdict
from ..widgets.fitting_footer import FittingFooter
from ..widgets.log_plot import LogPlot, log10_positive, palette
from .listing_screen import ListingScreen

STATE_STYLE = {"running": "green", "finished": "cyan", "interrupted": "yellow", "cancelled": "yellow",
               "requeued": "yellow", "failed": "red", "lost": "red"}


def sweeps_root() -> Path:
    """Where `glasslab sweep` puts sweeps by default: ./sweeps (GLASSLAB_SWEEPS overrides)."""
    return Path(os.environ.get("GLASSLAB_SWEEPS", "sweeps"))


def list_sweeps(root: Path) -> list[tuple[Path, dict, dict[str, int]]]:
    """(directory, manifest, counts by state) of every sweep directly under root, newest first."""
    from glasslab.core.sweep import manifest

    out = []
    if not root.is_dir():
        return out
    for d in sorted((p for p in root.iterdir() if manifest.is_sweep(p)), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            m = manifest.read(d)
        except GlasslabError:
            continue
        counts: dict[str, int] = {}
        for p in m["points"]:
            counts[p["state"]] = counts.get(p["state"], 0) + 1
        out.append((d, m, counts))
    return out


class EnsemblePlot(LogPlot):
    """The mean Delta(t_w, t_w + t) over seeds of each group at its middle usable t_w, ± one s.e."""

    TITLE = "<Delta(t_w, t_w+t)> over seeds ± s.e. vs t"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.groups: list[dict] = []
        self.names: list[str] = []
        self.version = 0

    def set_groups(self, groups: list[dict], names: list[str]) -> None:
        self.groups, self.names = groups, names
        self.version += 1
        self.refresh()

    def _key(self):
        return (self.version, tuple(self.size), self.app.theme if self.is_attached else None)

    def draw(self) -> None:
        for k, g in enumerate(self.groups):
            steps, dm, ds = np.asarray(g["steps"], float), g["delta_mean"], g["delta_sem"]
            rows = [i for i in range(1, len(steps) - 1) if steps[i] <= steps[-1] / 2 and np.isfinite(dm[i, i + 1:]).any()]
            if not rows:
                continue
            i = rows[len(rows) // 2]
            lag, mean, sem = steps[i + 1:] - steps[i], dm[i, i + 1:], np.nan_to_num(ds[i, i + 1:], nan=0.0)
            x, y = log10_positive(lag, mean, True)
            self.line(x, y, palette(k), f"{self.names[k]} t_w={int(steps[i])}")
            for band in (mean - sem, mean + sem):
                x, y = log10_positive(lag, band, True)
                self.line(x, y, palette(k), marker="dot")


class SweepsScreen(ListingScreen):
    DEFAULT_CSS = """
    SweepsScreen #sweeps-table { height: 8; }
    SweepsScreen #sweep-points { height: 1fr; }
    SweepsScreen #sweep-lower { height: 1fr; }
    SweepsScreen #sweep-plot { width: 1fr; }
    SweepsScreen #sweep-groups { width: 1fr; }
    SweepsScreen #sweep-note { height: 1; color: $text-muted; }
    SweepsScreen #sweep-lower.stacked { layout: vertical; }
    SweepsScreen #sweep-lower.stacked > * { width: 100%; height: 1fr; }
    """
    # Below this width the ensembles table and the plot stack (table first), so that the table's
    # figures are not cut at the plot's edge (issue 30, item 3); its axis columns stay fixed.
    STACK_BELOW = 140
    LIST_TABLE = "#sweeps-table"
    BINDINGS = [Binding("enter", "open", "Open sweep")]

    class Listed(Message):
        def __init__(self, sweeps: list) -> None:
            super().__init__()
            self.sweeps = sweeps

    class Opened(Message):
        def __init__(self, sweep_dir: Path, manifest: dict, rows: list[dict]) -> None:
            super().__init__()
            self.sweep_dir, self.manifest, self.rows = sweep_dir, manifest, rows

    class Analysed(Message):
        def __init__(self, sweep_dir: Path, result: dict | None, error: str = "") -> None:
            super().__init__()
            self.sweep_dir, self.result, self.error = sweep_dir, result, error

    def __init__(self, root: str | Path | None = None) -> None:
        super().__init__(name="sweeps")
        self.root = Path(root) if root is not None else sweeps_root()
        self.listed: list[str] = []
        self.open_dir: Path | None = None
        self.result: dict | None = None

    def compose(self) -> ComposeResult:
        table = DataTable(id="sweeps-table", cursor_type="row")
        table.add_columns("sweep", "executor", "points", "states")
        yield table
        yield Static(f"sweeps under {self.root}/: enter opens one", id="sweep-note")
        yield DataTable(id="sweep-points", cursor_type="row")
        with Horizontal(id="sweep-lower"):
            yield DataTable(id="sweep-groups", cursor_type="row")
            yield EnsemblePlot(id="sweep-plot")
        yield FittingFooter()

    def on_resize(self, event) -> None:
        self.query_one("#sweep-lower").set_class(event.size.width < self.STACK_BELOW, "stacked")

    def relist(self) -> None:
        self._list()
        if self.open_dir is not None:
            self._read(self.open_dir, analyse=False)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sweeps-list")
    def _list(self) -> None:
        self.post_message(self.Listed(list_sweeps(self.root)))

    def on_sweeps_screen_listed(self, message: Listed) -> None:
        table = self.query_one("#sweeps-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        self.listed = []
        for d, m, counts in message.sweeps:
            states = Text("  ").join(Text(f"{k} {v}", STATE_STYLE.get(k, "")) for k, v in sorted(counts.items()))
            table.add_row(d.name, m["executor"].get("kind", "?"), str(len(m["points"])), states, key=str(d))
            self.listed.append(str(d))
        if self.listed:
            table.move_cursor(row=min(cursor, len(self.listed) - 1))

    def action_open(self) -> None:
        table = self.query_one("#sweeps-table", DataTable)
        if self.listed and 0 <= table.cursor_row < len(self.listed):
            self.open(Path(self.listed[table.cursor_row]))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "sweeps-table" and event.row_key.value is not None:
            self.open(Path(event.row_key.value))

    def open(self, sweep_dir: Path) -> None:
        self.open_dir, self.result = sweep_dir, None
        self.query_one("#sweep-note", Static).update(f"{sweep_dir}: computing the ensembles…")
        self._read(sweep_dir, analyse=True)

    @work(thread=True, exclusive=False, exit_on_error=False, group="sweeps-read")
    def _read(self, sweep_dir: Path, analyse: bool) -> None:
        from glasslab.core.sweep import ensemble
        from glasslab.core.sweep.points import status

        m, rows = status(sweep_dir)
        self.post_message(self.Opened(sweep_dir, m, rows))
        if analyse:
            try:
                self.post_message(self.Analysed(sweep_dir, ensemble.analyze_sweep(sweep_dir, n_boot=50)))
            except GlasslabError as err:
                self.post_message(self.Analysed(sweep_dir, None, str(err)))

    def on_sweeps_screen_opened(self, message: Opened) -> None:
        from glasslab.core.sweep.grid import fmt

        if message.sweep_dir != self.open_dir:
            return
        axes = list(message.manifest["axes"])
        table = self.query_one("#sweep-points", DataTable)
        table.clear(columns=True)
        table.add_columns("point", *(a.rsplit(".", 1)[-1] for a in axes), "state", "step / total", "train loss", "verdict")
        for r in message.rows:
            step = f"{r['step'] if r['step'] is not None else '-'} / {r['total'] or '-'}"
            loss = f"{r['train_loss']:.4g}" if r["train_loss"] is not None else "-"
            table.add_row(r["id"], *(fmt(r["values"][a]) for a in axes), Text(r["state"], STATE_STYLE.get(r["state"], "")),
                          step, loss, short_verdict(r["verdict"]), key=r["id"])
        table.fixed_columns = 1 + len(axes)  # the point and its axes stay in view when the table scrolls

    def on_sweeps_screen_analysed(self, message: Analysed) -> None:
        from glasslab.core.sweep.grid import fmt

        if message.sweep_dir != self.open_dir:
            return
        note = self.query_one("#sweep-note", Static)
        if message.result is None:
            note.update(f"{message.sweep_dir}: {message.error}")
            return
        self.result = r = message.result
        gaxes = r["group_axes"]
        names = [" ".join(f"{a.rsplit('.', 1)[-1]}={fmt(g['values'][a])}" for a in gaxes) or "all" for g in r["groups"]]
        self.query_one(EnsemblePlot).set_groups(r["groups"], names)
        table = self.query_one("#sweep-groups", DataTable)
        table.clear(columns=True)
        nd = r.get("has_n_delta")  # a hinge loss: the unsatisfied constraints ([SG19])
        table.add_columns(*(a.rsplit(".", 1)[-1] for a in gaxes), "n", "N/P", "mu", "late slope", "final loss",
                          *(["N_Delta/P"] if nd else []))
        for g in r["groups"]:
            table.add_row(*(fmt(g["values"][a]) for a in gaxes), str(g["n"]),
                          f"{g['N_over_P']:.3g}" if g["N_over_P"] else "-",
                          bounded_mu(g["mu"], g["mu_sem"], g.get("mu_at_bound"), g.get("mu_n_at_bound", 0), g["n"]),
                          pm(g["late_slope"], g["late_slope_sem"]), pm(g["final_train_loss"], g["final_train_loss_sem"]),
                          *([pm(g.get("N_Delta_over_P"), g.get("N_Delta_over_P_sem"))] if nd else []))
        table.fixed_columns = len(gaxes)
        seeds = ", ".join(r["seed_axes"]) or "no seed axis"
        note.update(f"{message.sweep_dir}: ensembles over {seeds} (mean ± standard error)")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where this screen's workers report failures."""
        if event.state == WorkerState.ERROR:
            err = event.worker.error
            text = str(err) if isinstance(err, GlasslabError) else f"{type(err).__name__}: {err}"
            self.notify(text, title="Reading the sweeps failed", severity="error", timeout=8)
