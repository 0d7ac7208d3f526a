"""ListingScreen: a browser screen whose table follows the disk while it is shown (runs, sweeps).

The listing is read again on showing the screen and every RELIST_S seconds
while it is shown; the timer is paused while another screen covers it, so a
hidden browser costs no disk reads.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import DataTable

RELIST_S = 5.0  # new and finishing runs (and sweep points) appear within this while the table is shown


class ListingScreen(Screen):
    """A screen with a `relist()` (start a read of its listing) and a main table, LIST_TABLE (a selector),
    which gets the focus whenever the screen is shown."""

    LIST_TABLE = "DataTable"

    def relist(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} must say how it reads its listing")

    def on_mount(self) -> None:
        self._relist = self.set_interval(RELIST_S, self.relist, pause=True)

    def on_screen_resume(self) -> None:
        self.relist()
        self._relist.resume()
        self.query_one(self.LIST_TABLE, DataTable).focus()

    def on_screen_suspend(self) -> None:
        self._relist.pause()
