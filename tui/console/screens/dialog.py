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
"""

from __future__ import annotations

from textual.await_complete import AwaitComplete
from textual.command import CommandPalette
from textual.screen import ModalScreen, ScreenResultType


class DismissOnTop:
    """Mixin for a Screen: `dismiss` closes this screen, or does nothing once it is not on top."""

    def dismiss(self, result=None) -> AwaitComplete:
        if not self.is_active:  # already closed (or covered): the late call must not pop another screen
            return AwaitComplete.nothing()
        return super().dismiss(result)


class Dialog(DismissOnTop, ModalScreen[ScreenResultType]):
    """The console's modal screens (help, start, dynamics, quit)."""


class Palette(DismissOnTop, CommandPalette):
    """Textual's command palette, closing only itself."""
