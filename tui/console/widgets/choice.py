"""Choice: a radio button whose mark says whether it is chosen, with or without colour."""

from __future__ import annotations

from textual.widgets import RadioButton


class Choice(RadioButton):
    """Textual draws a chosen and an unchosen radio button with the same mark in two colours:
    under NO_COLOR, or on a monochrome terminal, the choice could not be seen.  Here the
    chosen button shows ● and the others ○ (the console's dialogs: device, dynamics kind)."""

    @property
    def BUTTON_INNER(self) -> str:  # noqa: N802 (ToggleButton reads this class variable at each render)
        return "●" if self.value else "○"
