"""The `glasslab` command line: thin commands over the engine in core/.

Known errors (core.errors.GlasslabError) become one line on stderr and an exit
code (2 bad input, 1 failed); never a traceback.  The console is imported
lazily, so `glasslab run ... --no-ui` never imports textual.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from glasslab.core.errors import BadInput, GlasslabError

app = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  help="glasslab: does training age like a glass?  Train networks and measure them with the tools of glass physics.")
presets_app = typer.Typer(help="Browse the experiment presets.", pretty_exceptions_enable=False)
app.add_typer(presets_app, name="presets")

# Option aliases, defined once.
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Directory that holds the run stores.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto | cpu | cuda | mps (overrides run.device).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a preset field: section.key=value (repeatable).")]
StepsOpt = Annotated[Optional[int], typer.Option("--steps", help="Number of steps (overrides run.steps).")]
DataDirOpt = Annotated[Optional[str], typer.Option("--data-dir", help="Where mnist/cifar files live (default ./data).")]
DownloadOpt = Annotated[bool, typer.Option("--download", help="Download the data set if it is missing.")]
ThreadsOpt = Annotated[Optional[str], typer.Option(
    "--threads", metavar="N|auto", help="CPU threads for torch: N or auto (run: overrides run.threads; resume: default the count recorded in the store).")]

# A stop by one of these saves the resume state where it stops and exits 128 + the signal number
# (SIGHUP: the terminal went away; SIGUSR1/SIGUSR2: the usual preemption warnings of a scheduler,
# e.g. Slurm's --signal=USR2@120; SIGTERM: Slurm's own preemption and `scancel`).
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2")
                     if hasattr(signal, n))
EXIT_SIGNAL = {s.name: 128 + int(s) for s in STOP_SIGNALS}


def fail(err: GlasslabError) -> typer.Exit:
    print(f"glasslab: error: {err}", file=sys.stderr, flush=True)
    return typer.Exit(err.exit_code)


@contextlib.contextmanager
def clean_errors():
    """Turn the engine's known errors into one line and an exit code."""
    try:
        yield
    except GlasslabError as err:
        raise fail(err) from None


def load_preset(name: str, sets: list[str] | None, steps: int | None, device: str | None):
    from glasslab.core import presets

    overrides = list(sets or [])
    if steps is not None:
        overrides.append(f"run.steps={steps}")
    if device is not None:
        if device not in presets.DEVICES:
            raise BadInput(f"--device {device!r} is not known: use auto, cpu, cuda or mps")
        overrides.append(f"run.device={device}")
    return presets.load(name, overrides)


@contextlib.contextmanager
def stop_on_signals(run):
    """SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 stop the run at the next step boundary, which saves
    the resume state at that step (Run.stop), instead of killing it."""
    def handler(signum, _frame):
        run.stop(signal.Signals(signum).name)

    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@app.command("run")
def run_cmd(
    preset: Annotated[str, typer.Argument(help="Preset name (glasslab presets list) or path to a .toml file.")],
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Run headless (batch jobs): progress and summary on stdout.")] = False,
    out: OutOpt = Path("runs"),
    device: DeviceOpt = None,
    set_: SetOpt = None,
    steps: StepsOpt = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    init_from: Annotated[Optional[Path], typer.Option("--init-from", help="Start from the last snapshot of this run (same model).")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Start it in the background (own session, survives logout): print the store and return.")] = False,
    threads: ThreadsOpt = None,
):
    """Train a preset and record its trajectory in a Zarr store."""
    from glasslab.core import trajectory
    from glasslab.core.run import Run

    with clean_errors():
        sets = [*(set_ or []), *([f"run.init_from={json.dumps(str(init_from))}"] if init_from else []),
                *([f"run.threads={json.dumps(threads)}"] if threads is not None else [])]
        p = load_preset(preset, sets, steps, device)
        if detach:  # the same headless process, started apart from this terminal (tui/cli_runs.py)
            return cli_runs.detach(p, out, data_dir, download)
        if not no_ui:  # the console trains it, feeding the same records to the same writer
            return open_console(out, autostart=p, data_dir=data_dir, download=download)
        run = Run(p, data_dir=data_dir, download=download)
        out_dir = trajectory.check_out_dir(out)
        path = trajectory.new_run_path(out_dir, p.run.name or p.name)
    train_headless(run, path)


@app.command("resume")
def resume_cmd(
    run_dir: Annotated[Path, typer.Argument(help="The run's store (a .zarr directory).")],
    steps: Annotated[Optional[int], typer.Option("--steps", help="The run's new total step count: more than planned extends it, fewer shortens it (the resume says which).")] = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    threads: ThreadsOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Take the store's lock even if its lease has not run out (its writer is known to be gone).")] = False,
):
    """Continue an interrupted, stopped or killed run from its last saved state, in the same store."""
    from glasslab.core import resume

    with clean_errors():
        run, lock = resume.prepare(run_dir, steps=steps, data_dir=data_dir, download=download, threads=threads,
                                   force=force)
    for line in resume.describe(run):
        print(line, flush=True)
    train_headless(run, run_dir, lock=lock)


def finish_two_time(path: Path) -> None:
    """The whole upper triangle of Delta, Q, alpha2, Y from the stored weights (the run has ended)."""
    import time

    from glasslab.core.report import complete_store

    t0 = time.perf_counter()
    with clean_errors():
        n, warning = complete_store(path)
    if warning:
        print(f"glasslab: {warning}", file=sys.stderr)
    else:
        print(f"two-time matrices over {n} snapshots completed in {time.perf_counter() - t0:.1f} s")


def train_headless(run, path: Path, lock=None, extra_sinks=()) -> None:
    """Drive a run into its store with the headless printer; exit with the run's code.
    extra_sinks see every record after the writer and the printer (tests/stress/ steers runs so)."""
    from glasslab.core.control import ControlChannel
    from glasslab.core.records import RunDiverged, RunInterrupted
    from glasslab.core.run import drive
    from glasslab.core.writer import TrajectoryWriter
    from glasslab.tui.printer import HeadlessPrinter

    with clean_errors():
        channel = ControlChannel(path, run, completes=True)  # stop/switch from consoles, `glasslab stop` (core/control.py)
        writer = TrajectoryWriter(path, lock=lock)
        printer = HeadlessPrinter(path, committed=lambda: writer.n_snapshots)
        with stop_on_signals(run):
            try:
                end = drive(run, [writer, printer, channel, *extra_sinks])
            finally:
                printer.close()
    finish_two_time(path)
    if isinstance(end, RunDiverged):
        print(f"glasslab: diverged: {end.what} is not finite at step {end.step}; the snapshots before it are kept in {path}. "
              "Try a smaller learning rate (--set dynamics.lr=...).", file=sys.stderr)
        raise typer.Exit(1)
    if isinstance(end, RunInterrupted):
        if end.reason.startswith("out of memory"):
            print(f"glasslab: error: {end.reason}; the snapshots so far are kept in {path}", file=sys.stderr)
        elif end.reason in EXIT_SIGNAL:
            print(f"glasslab: stopped by {end.reason} at step {end.step:,}, its state saved there; "
                  f"continue with: glasslab resume {path}", file=sys.stderr)
        raise typer.Exit(EXIT_SIGNAL.get(end.reason, 1))


@app.command("analyze")
def analyze_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run's store (a .zarr directory), finished or still running, or a sweep directory (glasslab sweep).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print every number as JSON on stdout.")] = False,
    csv_dir: Annotated[Optional[Path], typer.Option("--csv", help="Write one tidy CSV per observable into DIR.")] = None,
    png: Annotated[Optional[Path], typer.Option("--png", help="Write the paper-style figure (needs matplotlib).")] = None,
    tw_min: Annotated[Optional[float], typer.Option("--tw-min", help="Smallest waiting time in the fits.")] = None,
    tw_max: Annotated[Optional[float], typer.Option("--tw-max", help="Largest waiting time in the fits.")] = None,
    boot: Annotated[int, typer.Option("--boot", min=10, help="Bootstrap replicates for the error of mu.")] = 200,
):
    """Aging analysis of a run or a sweep: mu, late-time diffusion, Delta/D collapse, tau from Q, verdict.

    Of a sweep: the same per point, then means ± standard errors over its seeds.  Definitions: docs/science.md."""
    import json

    from glasslab.core import report

    window = None if tw_min is None and tw_max is None else (tw_min or 0.0, tw_max or float("inf"))
    from glasslab.core.sweep.manifest import is_sweep

    if is_sweep(run_dir):  # a sweep directory: per point, then ensembles over seeds
        with clean_errors():
            return cli_sweep.analyze(run_dir, as_json=as_json, csv_dir=csv_dir, png=png, n_boot=boot, tw_window=window)
    with clean_errors():
        if png is not None:
            from glasslab.tui.figure import require_matplotlib

            require_matplotlib()  # fail before the long computation
        result = report.analyze_store(run_dir, tw_window=window, n_boot=boot)
        if csv_dir is not None:
            report.write_csv(run_dir, csv_dir)
        if png is not None:
            from glasslab.tui.figure import paper_figure

            paper_figure(run_dir, png)
    if as_json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return
    from glasslab.tui.analysis_table import print_analysis

    print_analysis(result)
    if csv_dir is not None:
        print(f"CSV written to {csv_dir}")
    if png is not None:
        print(f"figure written to {png}")


@app.command("overlay")
def overlay_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run stores.")],
    png: Annotated[Path, typer.Option("--png", help="Where to write the figure.")],
    tw: Annotated[Optional[float], typer.Option("--tw", help="Waiting time of the Delta and Q panels (closest snapshot).")] = None,
):
    """Overlay runs in one figure: loss, Delta, Q, and Q against t / tau_e (time-temperature superposition)."""
    from glasslab.tui.figure import overlay_figure, require_matplotlib

    with clean_errors():
        require_matplotlib()
        overlay_figure(runs, png, tw)
    print(f"figure written to {png}")


@presets_app.command("list")
def presets_list():
    """Every preset: model, data set, dynamics, N, and whether its data is here."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from glasslab.core import catalog

    with clean_errors():
        rows = catalog.summaries()
    table = Table(title="glasslab presets", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    for col in ("model", "data set", "dynamics"):
        table.add_column(col)
    for col in ("N", "P"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("data", no_wrap=True)
    fixes = {}
    for s in rows:
        if s.error:
            table.add_row(s.name, "[red]malformed[/]", "", "", "", "", "")
            fixes[s.name] = s.error
            continue
        table.add_row(s.name, s.model, s.data, s.dynamics, f"{s.n_params:,}", f"{s.train_size:,}",
                      "yes" if s.data_ok else "[yellow]no[/]")
        if not s.data_ok:
            fixes.setdefault(s.data, s.data_fix)
    if not sys.stdout.isatty():  # piped: plain columns at their full width (Rich would squeeze them to 80)
        print_columns([[c.header for c in table.columns]]
                      + [["malformed" if s.error else v for v in
                          ((s.name, "", "", "", "", "", "") if s.error else
                           (s.name, s.model, s.data, s.dynamics, f"{s.n_params:,}", f"{s.train_size:,}",
                            "yes" if s.data_ok else "no"))] for s in rows])
        for what, fix in fixes.items():
            print(f"{what}: {fix}")
        return
    console = Console()
    console.print(table)
    for what, fix in fixes.items():
        console.print(f"{what}: {fix}", markup=False, highlight=False)


def print_columns(rows: list[list[str]]) -> None:
    """Rows as left-aligned columns two spaces apart, nothing cut."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())


@presets_app.command("show")
def presets_show(name: Annotated[str, typer.Argument(help="Preset name or .toml path.")],
                 set_: SetOpt = None):
    """The resolved preset: every field with its value, defaults included."""
    from glasslab.core import catalog, presets

    with clean_errors():
        p = presets.load(name, set_)
        text = catalog.to_toml(p)
    print(text, end="")


from glasslab.tui import cli_sweep  # noqa: E402 - after clean_errors, which it reuses

cli_sweep.register(app, clean_errors)


# -- the lab console ------------------------------------------------------------
ConsoleOutOpt = Annotated[Path, typer.Option("--out", "-o", envvar="GLASSLAB_OUT",
                                             help="Directory that holds the run stores.")]


@app.callback(invoke_without_command=True)
def default(ctx: typer.Context) -> None:
    """With no command, glasslab opens the lab console."""
    if ctx.invoked_subcommand is None:
        import os

        with clean_errors():
            open_console(Path(os.environ.get("GLASSLAB_OUT", "runs")))


@app.command("console")
def console_cmd(out: ConsoleOutOpt = Path("runs"), data_dir: DataDirOpt = None, download: DownloadOpt = False):
    """Open the lab console: browse presets, start and steer runs, watch loss and Delta live."""
    with clean_errors():
        open_console(out, data_dir=data_dir, download=download)


def open_console(out: Path, autostart=None, data_dir: str | None = None, download: bool = False, follow=None) -> None:
    """Run the Textual app; imported here so that headless commands never import textual."""
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file, not a directory: choose a directory for the runs")
    from glasslab.tui.app import make_app, run_console

    code = run_console(make_app(out_dir=out, autostart=autostart, data_dir=data_dir, download=download, follow=follow))
    if code:
        raise typer.Exit(code)


from glasslab.tui import cli_runs  # noqa: E402 - its commands need `app` above

cli_runs.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
