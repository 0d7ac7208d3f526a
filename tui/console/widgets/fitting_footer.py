"""FittingFooter: the key footer, made to fit a small terminal (issue 22: keys cut at 80x24, 60x18).

Textual's footer scrolls sideways, so the keys that do not fit are simply not
seen.  Below 100 columns it is compact (less space between keys); below 90 it
leaves out the command palette's key (ctrl+p still opens it); below 80 the
runs browser's secondary keys (y, a) too.  Help (?, always shown) lists every
key, with the long labels (a binding's tooltip) where the footer's are short.
A group's label keeps a space after it when compact: Textual's compact footer
drew "p l r Screens? Help" (issue 31 item 14).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Footer

COMPACT_BELOW = 100
PALETTE_FROM = 90
SECONDARY_FROM = 80
SECONDARY = ("loss_scale", "analysis")  # actions the footer drops below SECONDARY_FROM columns


class FittingFooter(Footer):
    DEFAULT_CSS = """
    FittingFooter.-compact FooterLabel {
        margin: 0 1 0 0;
    }
    """

    async def on_resize(self, event: events.Resize) -> None:
        width = event.size.width
        compact, palette = width < COMPACT_BELOW, width >= PALETTE_FROM
        narrow = width < SECONDARY_FROM
        if (compact, palette, narrow) != (self.compact, self.show_command_palette, getattr(self, "_narrow", False)):
            self.compact, self.show_command_palette, self._narrow = compact, palette, narrow
            await self.recompose()

    def compose(self):
        for widget in super().compose():
            # A key (FooterKey, not public in Textual) has its action; the labels and groups have none.
            if getattr(self, "_narrow", False) and getattr(widget, "action", None) in SECONDARY:
                continue
            yield widget
