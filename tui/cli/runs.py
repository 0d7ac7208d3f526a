"""`glasslab ps`, `stop`, `switch` and `follow`: runs that live apart from any terminal.

Thin commands over core/runs/launch.py (start a detached run), core/runs/control.py (the
request files a run answers at its step boundaries) and core/runs/live.py (which
runs are live or stale).
Bad input (not a run, not yours, not running, a bad value) is one line and
exit 2; a refused request or no answer in time is one line and exit 1.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from glasslab.core.errors import BadInput, RunFailed

from ..numbers import device_text, duration
from ..output import quiet_output
from . import common, complete, json_rows
from .common import clean_errors

RunArg = Annotated[Path, typer.Argument(help="The run's store (a .zarr directory; glasslab ps lists them).", autocompletion=complete.stores)]
WaitOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait for the run's answer (it answers between steps).")]


def _store(path: Path) -> Path:
    """The store a command names (its control folder named instead is taken for it).  A path that is
    neither a store nor a run still loading its data (its control folder exists) is refused in the
    words of analyze and resume: a plain file was called a failed run (issue 31 item 12)."""
    from glasslab.core.runs.control import control_dir
    from glasslab.core.store import reader

    path = Path(str(path).rstrip("/"))
    if path.name.endswith(".zarr.control"):
        path = path.with_name(path.name[: -len(".control")])
    if not path.exists() and not control_dir(path).exists():
        raise BadInput(f"{path} does not exist: give a run's store (glasslab ps lists the live ones)")
    if not reader.is_store(path) and not control_dir(path).exists():
        raise reader.not_a_store(path)
    return path


def _live(store: Path):
    from glasslab.core.runs import live

    row = live.describe(store)
    if row.stale:
        raise BadInput(f"{store} is stale: its process (pid {row.pid}) is gone while the store says running; "
                       f"continue it with: glasslab resume {store}")
    if not row.alive or row.status == "finishing":
        raise BadInput(f"{store} is not running (it is {row.status}): there is nothing to steer")
    return row


def _request(store: Path, action: str, timeout: float, **kw):
    from glasslab.core.runs import control, live

    rid = control.send(store, action, **kw)
    info = lambda: live.process_alive(control.read_json(control.control_dir(store) / "process.json"))  # noqa: E731
    answer = control.wait(store, rid, timeout, alive=info)
    if answer is None:
        raise RunFailed(f"no answer from the run within {timeout:g} s (it answers between steps; a slow model "
                        f"may need --timeout longer); the request stays queued in {control.control_dir(store)}")
    if not answer.applied:
        raise RunFailed(f"{action} refused: {answer.reason}")
    print(f"{action} {answer.line()} ({store})")
    return answer


def stop_cmd(run: RunArg, timeout: WaitOpt = 30.0) -> None:
    """Stop a run at its next step boundary (the store keeps every snapshot, status interrupted)."""
    with clean_errors():
        store = _store(run)
        _live(store)
        _request(store, "stop", timeout, reason="stopped by glasslab stop")


SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="A dynamics field: dynamics.key=value (repeatable).")]


def switch_changes(sets: list[str]) -> dict:
    """--set dynamics.k=v ... -> {k: v}, as given: the run fills in the rest by the one rule of
    core/config/dynamics.switch_values (a new kind takes the preset's values), as the console's dialog does."""
    from glasslab.core.config import presets

    if not sets:
        raise BadInput("give the new dynamics with --set, e.g. --set dynamics.kind=langevin --set dynamics.temperature=1e-4")
    changes = {}
    for text in sets:
        section, key, value = presets.parse_override(text)
        if section != "dynamics":
            raise BadInput(f"--set {text}: only dynamics.* can change during a run")
        changes[key] = value
    return changes


def switch_cmd(run: RunArg, set_: SetOpt = None, timeout: WaitOpt = 30.0) -> None:
    """Switch a run's dynamics at its next step boundary (recorded in the store's events)."""
    from glasslab.core.config import dynamics, presets
    from glasslab.core.runs import control
    from glasslab.core.store.reader import store_attrs

    with clean_errors():
        changes = switch_changes(set_ or [])  # the request itself first: a typo needs no run to be found
        store = _store(run)
        _live(store)
        attrs = store_attrs(store) or {}
        info = control.read_json(control.control_dir(store) / "process.json") or {}
        if attrs.get("preset"):  # checked here as the run checks it, so a typo is exit 2 at once
            preset = presets.from_stored(attrs["preset"])
            current = presets.DynamicsConfig(**info["dynamics"]) if info.get("dynamics") else preset.dynamics
            dynamics.switched(preset, current, changes)
        answer = _request(store, "switch", timeout, changes=changes)
        if answer.dynamics:  # the dynamics the run goes on with, every field (a run before 31.11 sends none)
            print(f"dynamics now: {dynamics.describe_full(answer.dynamics)}")


def _short(text: str, most: int = 40) -> str:
    """A note on one line of the table: its first line, cut to `most` characters."""
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= most and "\n" not in text else line[: most - 1] + "…"


def _shown(store: Path) -> str:
    """A store as ps shows it: relative to the working directory when it lies under it (shorter), else whole."""
    try:
        return str(Path(store).resolve().relative_to(Path.cwd().resolve())) if not Path(store).is_absolute() else str(store)
    except ValueError:
        return str(store)


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if math.isfinite(x) else "-"


def ps_cmd(dirs: Annotated[Optional[list[Path]], typer.Argument(help="Directories holding run stores, or stores (default: $GLASSLAB_OUT or runs).", autocompletion=complete.folders)] = None,
           all_runs: Annotated[bool, typer.Option("--all", "-a", help="Ended runs too.")] = False,
           tag: Annotated[Optional[list[str]], typer.Option("--tag", help="Only runs with this tag (repeatable: all of them); --all for ended runs too.")] = None,
           as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON (docs/json.md).")] = False) -> None:
    """List the live runs under the given directories: store, preset, pid, step/total, steps/s, ETA, status, dynamics, device (a GPU's name and memory in use), tags, latest note."""
    from glasslab.core.config.presets import check_tags
    from glasslab.core.runs import live
    from glasslab.core.store import reader

    with clean_errors():
        wanted = check_tags(tag or [], "--tag")
        for d in dirs or []:  # a plain file is neither a folder of runs nor a store: say so, as stop does
            if d.is_file():
                raise reader.not_a_store(d)
    dirs = dirs or [Path(os.environ.get("GLASSLAB_OUT", "runs"))]
    rows = [r for r in live.find(dirs, all_runs=all_runs) if set(wanted) <= set(r.tags)]
    if as_json:  # from the records, not the table: the table may change its layout
        print(json.dumps({"schema": json_rows.SCHEMA, "dirs": [str(d) for d in dirs],
                          "runs": [json_rows.live_run(r) for r in rows]}, indent=1, allow_nan=False))
        return
    if not rows:
        with_tags = f" tagged {', '.join(wanted)}" if wanted else ""
        hint = "" if all_runs else " (--all lists ended runs too)"
        print(f"no {'' if all_runs else 'live '}runs{with_tags} under {', '.join(map(str, dirs))}{hint}")
        return
    from rich.text import Text

    from ..tables import Col, console_for, parts, print_fitted, width_of

    # The store identifies a row and every figure stays whole: at the terminal's width the table comes
    # in parts, each with the store (tui/tables.py); piped, it is one line a run ($COLUMNS, else 160).
    cols = [Col("STORE", key=True), Col("PRESET"), Col("PID", justify="right"), Col("STEP", justify="right"),
            Col("STEPS/S", justify="right"), Col("ETA", justify="right"), Col("STATUS"), Col("DYNAMICS"),
            Col("DEVICE"), Col("TAGS", text=True), Col("NOTE", text=True)]
    def rows_with(shown):
        return [[Text(shown(r.store)), Text(r.name), str(r.pid or "-"), f"{r.step:,}/{r.total:,}",
                 _fmt_rate(r.steps_per_s), duration(r.eta_s) if math.isfinite(r.eta_s) else "-", r.status,
                 r.dynamics, device_text(r.device, r.gpu), Text(",".join(r.tags) or "-"), Text(_short(r.note) or "-")] for r in rows]

    width = width_of(console_for(), piped=10_000)  # piped without $COLUMNS: one line a run, for scripts
    console = console_for(width)
    table, title = rows_with(_shown), None
    if len(parts(cols, table, width, plain=True)) > 1:  # too wide: the stores relative to their common folder
        common = Path(os.path.commonpath([str(Path(r.store).parent) for r in rows]))
        table, title = rows_with(lambda p: os.path.relpath(p, common)), f"stores under {common}"
    print_fitted(console, title, cols, table, width=width, plain=True)
    for r in rows:
        if r.stale:
            print(f"{r.store}: its process is gone (pid {r.pid} on {r.host or 'this host'}); continue it with: glasslab resume {r.store}")
        elif r.status == "failed":
            print(f"{r.store}: the run did not start; see {r.store}.control/output.log")


def follow_cmd(run: RunArg,
               data_dir: Annotated[Optional[str], typer.Option("--data-dir", help="Where mnist/cifar files live (for a resume).")] = None) -> None:
    """Open the console on this run: live while it trains, whatever started it."""

    from glasslab.core.store.lock import resolved

    with clean_errors():
        store = resolved(_store(run))  # a link (latest.zarr): the console shows the real run among its siblings
        common.open_console(store.parent, follow=store, data_dir=data_dir)


def register(app: typer.Typer) -> None:
    app.command("ps")(quiet_output(ps_cmd))
    app.command("stop")(quiet_output(stop_cmd))
    app.command("switch")(quiet_output(switch_cmd))
    app.command("follow")(follow_cmd)
