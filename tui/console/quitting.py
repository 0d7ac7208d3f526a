"""Quitting the console: the question while runs train, waiting for the runs it stops, and the exit lines.

Runs started from the console are their own processes (core/runs/launch.py), so
quitting never ends training by itself.  While runs started here train, q asks
once: leave them running (the default) or stop them; stopped, the console
closes once each store says it ended.  After the terminal is given back,
run_console prints a line per run: where a stopped run continues from, how to
follow or stop a run left training, and the crash line if the console failed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from glasslab.core.errors import GlasslabError
from glasslab.core.runs import control
from glasslab.core.runs.live import ENDED, describe
from glasslab.core.store.reader import store_attrs

from .base import ConsoleApp
from .resumable import continue_step
from .screens.confirm_quit import ConfirmQuit


class QuittingApp(ConsoleApp):
    """ConsoleApp with the quit policy.  A subclass provides `live`, the live screen (its
    `live_runs()`, `session`, `running` and `drain()`).

    exit_message: the exit lines about the runs, joined (None when there are none; kept for tests).
    """

    def __init__(self, out_dir: str | Path = "runs") -> None:
        super().__init__(out_dir)
        self.exit_message: str | None = None
        self._stopping: list[Path] = []  # runs asked to stop on quit; the console exits once they have

    async def action_quit(self) -> None:
        """Quit; while runs started here train, ask once: leave them running (default) or stop them."""
        if self._stopping or not self.screen_stack or isinstance(self.screen, ConfirmQuit):
            return  # already stopping (the runs' ends close the app), or already asking
        running = self.live.live_runs()
        if not running:
            self._exit_saying()
            return

        def answered(choice: str | None) -> None:
            if choice == "leave":
                self._exit_saying()
            elif choice == "stop":
                self._stopping = running
                for path in running:
                    try:
                        control.send(path, "stop", reason="quit from the console")
                    except GlasslabError as err:
                        self.notify(str(err), severity="error")
                self.notify("Stopping the runs started here: the console closes once their stores are closed.")
                self.set_interval(0.1, self._exit_when_stopped)

        self.push_screen(ConfirmQuit(running), answered)

    def terminal_lost(self) -> None:
        """The terminal hung up with SIGHUP ignored: nobody can answer the quit question, so the runs
        are left training (they are their own processes), as the question's default does; the exit
        lines name them on a stderr that may be gone too (run_console drops them quietly then)."""
        if not self._stopping:
            self._exit_saying()

    def _exit_when_stopped(self) -> None:
        # Once each store says it ended: completing its two-time matrices may take minutes on a
        # big run, and the run's own process does that whether the console waits or not.
        running = self.live.live_runs()
        shown = self.live.session
        if shown is not None and shown.path in self._stopping and not shown.finishing and self.live.running:
            # The live screen has not read the run's end yet (and still reads): what it shows stays
            # whole.  Not "while its process lives": a small run completes its store and exits
            # before the follower's next read, and the console closed with the last snapshots unread.
            return
        if all(p not in running or (store_attrs(p) or {}).get("status") in ENDED for p in self._stopping):
            self.live.drain()
            self._exit_saying()

    def _exit_saying(self) -> None:
        """Exit; run_console then prints where the runs stopped here stand and which runs are left training."""
        lines = [stopped_line(p, (store_attrs(p) or {}).get("status", "?")) for p in self._stopping]
        lines += left_running(self.live, self._stopping)
        self.exit_lines += lines
        self.exit_message = "\n".join(lines) or None
        self.exit()


def left_running(live, stopped: list[Path] = ()) -> list[str]:
    """The exit lines for the runs the console leaves training (they are their own processes);
    live: the LiveScreen; `stopped`: the runs it asked to stop, which may still be closing their
    stores but are not left."""
    runs = [p for p in live.live_runs() if p not in stopped]
    shown = live.session.path if live.session is not None and live.running else None
    if shown is not None and shown not in runs and shown not in stopped:
        runs.append(shown)
    if not runs:
        return []
    return [left_running_line(p, describe(p).step) for p in runs] + [f"glasslab: list the live runs: glasslab ps {live.out_dir}"]


def left_running_line(path: Path, step: int | None = None) -> str:
    """The exit line for a run that outlives the console (a detached run): where to follow or stop it."""
    at = f" (at step {step:,})" if step is not None else ""
    return f"glasslab: {path} is still training{at}; follow it: glasslab follow {path}; stop it: glasslab stop {path}"


def stopped_line(path: Path, status: str) -> str:
    """What the console prints on exit for a run it ended by quitting: where it stopped, how to go on."""
    step = continue_step(path)
    if status == "interrupted":
        at = f" at step {step:,}" if step is not None else ""
        return f"glasslab: stopped {path}{at}; continue with: glasslab resume {path}"
    return f"glasslab: {path} {status}"


def run_console(app: ConsoleApp, **run_options) -> int:
    """Run the console; afterwards print a line per run it stopped and, if it failed, the line that
    names the log with the traceback.  Returns the exit code (0, or 1 after an unhandled exception)."""
    from ..output import guarded_output

    app.run(**run_options)
    with guarded_output():  # a terminal that hung up (terminal_lost): the lines go nowhere, not a traceback
        for line in app.exit_lines:
            print(line, file=sys.stderr, flush=True)
    return app.return_code or 0
