"""`glasslab sweep`: grids of runs through submitit (Slurm or a bounded local pool), and their status.

    glasslab sweep PRESET|SWEEP.toml --grid model.width=2,4,8 --grid run.seed=0:5 [options]
    glasslab sweep status DIR      a table of the points, with counts (--json: the rows)
    glasslab sweep resume DIR      resubmit the points that are not finished
    glasslab sweep cancel DIR      stop the sweep (points stop cleanly; resume continues them)

A command group (SweepGroup): `glasslab sweep PRESET ...` is `glasslab sweep start PRESET ...`,
so a first word that is not one of the group's commands is the preset.  A preset file named
like a command is given as a path (./status.toml).  Thin commands over core/sweep.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from ..output import quiet_output
from . import complete
from .common import clean_errors

DEFAULT = "start"  # the command a preset name stands for: glasslab sweep PRESET = glasslab sweep start PRESET


def _console():
    """A rich console of the terminal's width; piped or captured output gets $COLUMNS, else 160 (room
    for every column); the tables fit it without cutting a figure (tui/tables.py)."""
    from ..tables import console_for

    return console_for()


def _thread_count(text: str | None) -> int | None:
    """--threads: a positive whole number, or auto / absent (None: the CPUs each point gets)."""
    from glasslab.core.config.threads import parse_threads
    from glasslab.core.errors import BadInput

    try:
        n = "auto" if text is None else parse_threads(text)
    except ValueError:
        raise BadInput(f"--threads must be 'auto' or a positive whole number, got {text!r}") from None
    return None if n == "auto" else n


def _print_table(m: dict, rows: list[dict]) -> None:
    from glasslab.core.sweep.points import counts

    from ..sweep_tables import print_status

    console = _console()
    print_status(console, m, rows)
    console.print("  ".join(f"{k}: {v}" for k, v in sorted(counts(rows).items())), highlight=False)
    for r in rows:
        if r["state"] in ("failed", "lost") and r["reason"]:
            console.print(f"point {r['id']}: {r['reason']}", markup=False, highlight=False)


def _progress(pid: str, p: dict) -> None:
    from glasslab.core.sweep.grid import label

    extra = f" ({p['reason']})" if p.get("reason") else ""
    print(f"point {pid} {label(p['overrides'])}: {p['state']}{extra}", flush=True)


def _launch(sweep_dir: Path, ids: list[str]) -> None:
    """Submit (Slurm) or run (local) the given points; a local sweep exits 1 if a point did not finish."""
    from glasslab.core.sweep import submit
    from glasslab.core.sweep.points import counts, status
    from glasslab.core.sweep import manifest as mf

    m = mf.read(sweep_dir)
    if m["executor"]["kind"] == "slurm":
        jobs = submit.submit_slurm(sweep_dir, ids)
        print(f"submitted {len(jobs)} point(s) to Slurm ({jobs[0].split('_')[0] if jobs else '-'}); "
              f"follow with: glasslab sweep status {sweep_dir}")
        return
    print(f"running {len(ids)} point(s), {m['executor']['parallel']} at once, "
          f"{m['executor']['threads']} thread(s) each; glasslab sweep status {sweep_dir} follows them", flush=True)
    try:
        submit.run_local(sweep_dir, ids, progress=_progress)
    except KeyboardInterrupt:
        submit.cancel(sweep_dir)
        print(f"glasslab: sweep stopped; continue with: glasslab sweep resume {sweep_dir}", file=sys.stderr)
        raise typer.Exit(130) from None
    c = counts(status(sweep_dir)[1])
    print("  ".join(f"{k}: {v}" for k, v in sorted(c.items())))
    if set(c) - {"finished"}:
        print(f"glasslab: not every point finished; see glasslab sweep status {sweep_dir}", file=sys.stderr)
        raise typer.Exit(1)


def analyze(sweep_dir: Path, *, as_json: bool, csv_dir: Path | None, png: Path | None, n_boot: int,
            tw_window=None, lag_max: str = "t_w") -> None:
    """`glasslab analyze SWEEP_DIR`: per point, then per seed group (means ± standard errors)."""
    from glasslab.core.sweep import ensemble

    if png is not None:
        from glasslab.tui.figure import require_matplotlib

        require_matplotlib()  # fail before the long computation
    result = ensemble.analyze_sweep(sweep_dir, n_boot=n_boot, tw_window=tw_window, lag_max=lag_max)
    if csv_dir is not None:
        ensemble.write_csv(result, csv_dir)
    if png is not None:
        from glasslab.tui.sweep_figure import sweep_figure

        sweep_figure(result, png)
    if as_json:
        print(json.dumps(ensemble.to_jsonable(result), allow_nan=False))
        return
    from ..sweep_tables import print_analysis

    print_analysis(_console(), result, sweep_dir)
    if any(x["mu_at_bound"] for x in result["groups"]):
        print("≥ / ≤: mu on an end of the collapse fit's mu grid (the cost still falls beyond it): a bound, not a value")
    if csv_dir is not None:
        print(f"CSV written to {csv_dir}")
    if png is not None:
        print(f"figure written to {png}")


class SweepGroup(TyperGroup):
    """The sweep commands, with `start` as the default: `glasslab sweep PRESET --grid ...` (what
    every sweep was started with before there was a group) goes to `glasslab sweep start`."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT, *args]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx, incomplete):
        """The group's commands and, as `sweep PRESET` starts a sweep, the preset names."""
        from typer.core import CompletionItem  # click's, as typer (which vendors click) uses it

        return [*super().shell_complete(ctx, incomplete), *map(CompletionItem, complete.presets(incomplete))]


sweep_app = typer.Typer(cls=SweepGroup, pretty_exceptions_enable=False,
                        help="Run a grid of one preset's points, each in its own store, on Slurm or this machine; "
                             "follow, resume and cancel it.  glasslab sweep PRESET ... is glasslab sweep start PRESET ...")

SweepDir = Annotated[Path, typer.Argument(help="The sweep directory (glasslab sweep printed it).", autocompletion=complete.sweeps,
                                          show_default=False)]
Parallel = Annotated[Optional[int], typer.Option("--parallel", "-k", help="Points at once (local: default 1; slurm: array limit).")]
GpusPerRun = Annotated[Optional[int], typer.Option("--gpus-per-run", help="GPUs per point (local default: 1 when each running point can have its own, else 0; slurm default 0).")]
CpusPerRun = Annotated[Optional[int], typer.Option("--cpus-per-run", help="CPUs per point (slurm default 1; local default cores / K).")]
Threads = Annotated[Optional[str], typer.Option("--threads", metavar="N|auto", help="torch threads per point: N, or auto (the default): the CPUs each point gets (cores / --parallel here, --cpus-per-run on Slurm).")]
Partition = Annotated[Optional[str], typer.Option("--slurm-partition", help="Slurm partition.")]
TimeLimit = Annotated[Optional[str], typer.Option("--time", help="Time limit per job, Slurm syntax (default 4:00:00 on Slurm).")]
SlurmExtra = Annotated[Optional[list[str]], typer.Option("--slurm-extra", metavar="NAME=VALUE", help="Another sbatch option, name=value (repeatable).")]


@sweep_app.command(DEFAULT)
@quiet_output  # `sweep ... | head`: the driver goes on driving its points
def start_cmd(
    preset: Annotated[str, typer.Argument(help="PRESET: a name or a .toml file, which may hold a \\[sweep] table.",
                                          autocompletion=complete.presets, show_default=False)],
    grid: Annotated[Optional[list[str]], typer.Option("--grid", "-g", metavar="AXIS=ITEMS", help="An axis: section.key=ITEMS; items are values, a:b integer ranges (b excluded) or lo..hixn log ranges, comma-separated (repeatable).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="KEY=VALUE", help="Override a preset field in every point: section.key=value (repeatable).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Steps of every point (overrides run.steps).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", metavar="DIR", help="The sweep directory (default $GLASSLAB_SWEEPS or sweeps/, then PRESET-TIME).")] = None,
    executor: Annotated[str, typer.Option("--executor", help="local (this machine) or slurm.")] = "local",
    parallel: Parallel = None,
    gpus_per_run: GpusPerRun = None,
    cpus_per_run: CpusPerRun = None,
    threads: Threads = None,
    partition: Partition = None,
    time_limit: TimeLimit = None,
    slurm_extra: SlurmExtra = None,
    signal_delay: Annotated[int, typer.Option("--signal-delay", help="Seconds before the time limit that the job is told to checkpoint.")] = 90,
):
    """Run a grid of one preset's points, each in its own store (the default: glasslab sweep PRESET ...)."""
    from glasslab.core.sweep import submit
    from glasslab.core.sweep.points import create, default_dir
    from glasslab.core.sweep import grid as grids
    from glasslab.core.sweep import manifest as mf

    with clean_errors():
        threads = _thread_count(threads)
        if steps is not None:
            set_ = [*(set_ or []), f"run.steps={steps}"]
        plan = grids.plan(preset, grid, set_)
        cfg = submit.executor_config(executor, parallel=parallel, threads=threads, gpus_per_run=gpus_per_run,
                                     cpus_per_run=cpus_per_run, partition=partition, time_limit=time_limit,
                                     slurm_extra=slurm_extra, signal_delay_s=signal_delay)
        sweep_dir = create(plan, out or default_dir(plan, os.environ.get("GLASSLAB_SWEEPS", "sweeps")), cfg)
        axes = ", ".join(f"{k} ({len(v)})" for k, v in plan.axes.items())
        print(f"sweep of {len(plan.points)} points over {axes} in {sweep_dir}", flush=True)
        ids = [p["id"] for p in mf.read(sweep_dir)["points"]]
        _launch(sweep_dir, ids)


@sweep_app.command("status")
@quiet_output
def status_cmd(sweep_dir: SweepDir,
               as_json: Annotated[bool, typer.Option("--json", help="Print the sweep and its rows as JSON (docs/json.md).")] = False):
    """A table of the points: axis values, state, starts, step / total, train loss, verdict; then counts."""
    from glasslab.core.sweep.points import status

    with clean_errors():
        m, rows = status(sweep_dir)
    if as_json:
        print(json.dumps({"sweep": str(sweep_dir), "points": rows}, indent=1))
    else:
        _print_table(m, rows)


@sweep_app.command("resume")
@quiet_output
def resume_cmd(sweep_dir: SweepDir, parallel: Parallel = None, gpus_per_run: GpusPerRun = None,
               cpus_per_run: CpusPerRun = None, threads: Threads = None, partition: Partition = None,
               time_limit: TimeLimit = None, slurm_extra: SlurmExtra = None,
               retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Resubmit failed points too.")] = False):
    """Resubmit the points that are not finished (a local sweep: run them here), with new resources if given."""
    from glasslab.core.sweep import submit
    from glasslab.core.sweep import manifest as mf

    with clean_errors():
        threads = _thread_count(threads)
        if mf.read(sweep_dir)["executor"]["kind"] == "local":
            submit.claim_driver(sweep_dir)  # refuses while another glasslab sweep drives it
        submit.reconfigure(sweep_dir, parallel=parallel, threads=threads, gpus_per_run=gpus_per_run,
                           cpus_per_run=cpus_per_run, partition=partition, time_limit=time_limit,
                           slurm_extra=slurm_extra)
        ids = submit.to_resubmit(mf.read(sweep_dir), retry_failed=retry_failed)
        if not ids:
            print("nothing to resume: every point is finished, failed (see --retry-failed) or still running")
            return
        submit.reopen(sweep_dir, ids)
        _launch(sweep_dir, ids)


@sweep_app.command("cancel")
@quiet_output
def cancel_cmd(sweep_dir: SweepDir):
    """Stop the sweep: running points stop cleanly at a step; glasslab sweep resume continues them."""
    from glasslab.core.sweep import submit

    with clean_errors():
        jobs = submit.cancel(sweep_dir)
    print(f"sweep cancelled; {len(jobs)} running point(s) told to stop ({', '.join(jobs) or 'none'}); "
          f"continue with: glasslab sweep resume {sweep_dir}")


def register(app: typer.Typer) -> None:
    """Add the `sweep` command group to the glasslab app."""
    app.add_typer(sweep_app, name="sweep")
