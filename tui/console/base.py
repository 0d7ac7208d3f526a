"""ConsoleApp: Textual's App with the console's workarounds, so that tui/app.py holds the console alone.

Each override below fixes a crash or a lost key that Textual 8 gives a busy console:

- `pop_screen`: a pop that would remove a browser (a switched screen, not a dialog) is a late
  dismiss of a dialog already closed; popping it left the bare default screen, and the next
  switch crashed.  It is ignored.
- `action_command_palette`: the palette is console/screens/dialog.py's `Palette`, whose late
  second dismiss cannot pop the screen beneath it.
- `on_event`: a key read before the first screen is up, or after the last has gone (typed while
  the console starts or closes), is dropped; Textual raised ScreenStackError.
- `on_key`: typeahead; a printable key that reached a widget before the focus moved to an Input
  goes to that Input.
- `_handle_exception`: an unhandled exception's traceback goes to a log file and the exit to one
  line (`exit_lines`) and code 1, not a screenful of traceback and code 0 (console/crash.py).
- console/timers.py's patch of Textual's Timer, installed on import: a toast for a just-expired
  notice froze the UI.
- `on_mount`'s terminal watch: a console whose terminal hung up while SIGHUP was ignored (nohup,
  some IDEs and job wrappers) read EOF forever in Textual's input thread, at ~50% of a core, for
  as long as nobody killed it.  Once a second it asks the terminal for its attributes, which a
  hung-up terminal refuses (EIO), and then calls `terminal_lost()`: exit, nothing asked.
- `get_driver_class`: the driver's output goes quiet once a write fails (tui/output.py's
  QuietOnError).  Textual's writer thread died on the first EIO of a hung-up terminal, its queue
  filled, and the next screen update blocked the console for good, exit included.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from textual import events
from textual.app import App
from textual.await_complete import AwaitComplete
from textual.command import CommandPalette
from textual.screen import ModalScreen
from textual.widgets import Input

from ..output import QuietOnError
from . import crash, timers
from .screens.dialog import Palette

timers.install()


class ConsoleApp(App):
    """An App whose dialogs, keys and failures behave on a busy machine (see the module docstring).

    out_dir: where the crash log goes (beside the runs).  exit_lines: what run_console prints on
    stderr once the terminal is given back (console/quitting.py).
    """

    def __init__(self, out_dir: str | Path = "runs") -> None:
        super().__init__()
        self.out_dir = Path(out_dir)
        self.exit_lines: list[str] = []

    def get_driver_class(self):
        return quiet_on_hang_up(super().get_driver_class())

    def on_mount(self) -> None:
        if not self.is_headless:  # a real terminal (Pilot's headless driver has none to lose)
            self.set_interval(1.0, self._watch_terminal, name="terminal-watch")

    def _watch_terminal(self) -> None:
        if not self._exit and terminal_gone():
            self.terminal_lost()

    def terminal_lost(self) -> None:
        """The terminal hung up (SIGHUP ignored, so the console lives on): nobody can answer a question
        or read the screen, so exit at once.  QuittingApp leaves its runs training."""
        self.exit()

    def action_command_palette(self) -> None:
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(Palette(id="--command-palette"))

    def pop_screen(self) -> AwaitComplete:
        """Pop the top dialog.  The browsers (presets, live, runs, sweeps) are switched, never popped:
        a pop that would remove one is a late dismiss of a dialog already closed, and is ignored
        (popping it left the bare default screen, and the next switch crashed)."""
        if self.screen_stack and not isinstance(self.screen, ModalScreen):
            self.log.warning(f"pop_screen ignored: {self.screen} is a browser, not a dialog")
            return AwaitComplete.nothing()
        return super().pop_screen()

    def _handle_exception(self, error: Exception) -> None:
        """Any unhandled exception: the traceback goes to a log file, the exit to one line and code 1."""
        if self._exception is not None:  # the first failure is the one to report; later ones follow from it
            super()._handle_exception(error)
            self._exit_renderables.clear()
            return
        try:
            log = crash.write_log(error, self.out_dir)
            line = crash.crash_line(error, log)
        except OSError as err:  # nowhere to write: the line says so, Textual's traceback stays
            line = f"glasslab: error: the console failed ({type(error).__name__}: {error}); no log: {err}"
            log = None
        super()._handle_exception(error)  # sets the exit code to 1, closes the app, keeps the error for Pilot
        if log is not None:
            self._exit_renderables.clear()  # the traceback is in the log: no screenful of it
        self.exit_lines.append(line)

    async def on_event(self, event: events.Event) -> None:
        # A key read before the first screen is up, or after the last has gone (typed while the
        # console starts or closes), has nothing to go to: Textual would raise ScreenStackError.
        if isinstance(event, events.Key) and not self.screen_stack:
            return
        await super().on_event(event)

    def on_key(self, event: events.Key) -> None:
        """Typeahead: a key that reached a widget before the focus moved goes to the new focus.

        Textual routes each key to the widget focused when the key arrives, so
        on a busy app `/quick` (or `s` then `300`) is routed before `/` (or `s`)
        has moved the focus.  Such keys bubble up here unhandled; an Input that
        has the focus now never lets its own keys bubble, so a printable key
        here while an Input has the focus was typed ahead for it.
        """
        if event.is_printable and isinstance(self.focused, Input):
            event.stop()
            self.focused.post_message(events.Key(event.key, event.character))


def quiet_on_hang_up(driver_class):
    """`driver_class` whose terminal output drops its writes once one has failed (EIO: hung up)."""

    class QuietDriver(driver_class):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            if getattr(self, "_file", None) is not None:  # LinuxDriver writes through _file (sys.__stderr__)
                self._file = QuietOnError(self._file)

    QuietDriver.__name__ = QuietDriver.__qualname__ = f"Quiet{driver_class.__name__}"
    return QuietDriver


GONE = (errno.EIO, errno.ENXIO, errno.EBADF)  # a hung-up terminal, a vanished device, a closed descriptor


def terminal_gone(fd: int | None = None) -> bool:
    """Whether the console's terminal has hung up: its attributes cannot be read any more (EIO).  A
    terminal that merely lost its window, or a slow one, still answers; cheap (one ioctl)."""
    import termios

    try:
        termios.tcgetattr(sys.__stdin__.fileno() if fd is None else fd)
    except termios.error as err:
        return bool(err.args) and err.args[0] in GONE
    except (OSError, ValueError, AttributeError):  # stdin closed or gone
        return True
    return False
