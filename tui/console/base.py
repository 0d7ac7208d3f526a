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
"""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import App
from textual.await_complete import AwaitComplete
from textual.command import CommandPalette
from textual.screen import ModalScreen
from textual.widgets import Input

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
