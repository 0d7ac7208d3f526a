"""Dialogs that close only themselves: a `dismiss` that acts only while its screen is on top.

Textual's `Screen.dismiss` pops whatever screen is on top of the stack, not
necessarily the one it is called on.  A dismiss that arrives late pops the
wrong screen: the command palette, given `enter enter` faster than it handles
them (easy while a run trains), selects its command twice and dismisses itself
twice; the second dismiss popped the browser beneath it, and the next screen
switch popped an empty result-callback list (`IndexError`, then
`ScreenStackError`: the crash the key fuzz found).  Every modal screen of the
console derives from `Dialog` (the palette from `Palette`), whose dismiss is a
no-op once the screen is no longer the top one.

`Dialog.after_typing` is the other half: an `enter` binding (a priority one,
so that it starts from any field) runs in the app's loop as soon as the key
arrives, while the keys typed just before it may still wait in the focused
field's queue; `send-keys C-u 3000 Enter` in tmux started the old value.  The
dialog's answer is therefore posted behind those keys, to the focused field,
and bubbles back to the dialog once the field has taken them.
"""

from __future__ import annotations

from typing import Callable

from textual import on
from textual.await_complete import AwaitComplete
from textual.command import CommandPalette
from textual.message import Message
from textual.screen import ModalScreen, ScreenResultType
from textual.widgets import Input, OptionList


class DismissOnTop:
    """Mixin for a Screen: `dismiss` closes this screen, or does nothing once it is not on top."""

    def dismiss(self, result=None) -> AwaitComplete:
        if not self.is_active:  # already closed (or covered): the late call must not pop another screen
            return AwaitComplete.nothing()
        return super().dismiss(result)

    def close(self) -> AwaitComplete:
        """Close with no answer (None), as escape does: every console dialog takes None as a cancel."""
        return self.dismiss(None)


class Dialog(DismissOnTop, ModalScreen[ScreenResultType]):
    """The console's modal screens (help, start, dynamics, quit)."""

    class Typed(Message):
        """Behind the keys the focused field has still to take: then `then` runs on the dialog."""

        def __init__(self, then: Callable[[], None]) -> None:
            super().__init__()
            self.then = then

    def after_typing(self, then: Callable[[], None]) -> None:
        """Run `then` (which reads the fields) once the focused field has every key typed before now."""
        (self.focused or self).post_message(Dialog.Typed(then))

    def on_dialog_typed(self, message: "Dialog.Typed") -> None:
        message.stop()
        if self.is_active:  # not closed meanwhile (esc typed after enter)
            message.then()


class Palette(DismissOnTop, CommandPalette):
    """Textual's command palette, closing only itself, and deaf once closed.

    Keys typed faster than it handles them may still sit in its input when it
    closes; their Input.Changed would start a search on widgets already being
    removed (NoMatches 'CommandList' in the search worker: a full-suite key
    fuzz crashed so), and a late selection would select again.  Once the
    palette is no longer the top screen those messages are dropped when they
    are handled (a check when they are posted let through the ones queued
    just before the palette closed).
    """

    @on(Input.Changed)
    @on(Input.Submitted)
    @on(OptionList.OptionSelected)
    @on(OptionList.OptionHighlighted)
    def _drop_when_closed(self, message: Message) -> None:
        # Runs before CommandPalette's own handlers (this class comes first in the MRO);
        # prevent_default stops those.
        if not self.is_active:
            message.prevent_default()
            message.stop()

    def close(self) -> AwaitComplete:
        """Close as escape does: end the search under way first (it would go on into removed widgets)."""
        self.workers.cancel_node(self)
        return super().close()
