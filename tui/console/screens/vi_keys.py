"""The vi moves of the console's lists (j, k, g, G), defined once so that every list answers them alike.

A screen that adds VI_MOVES to its BINDINGS implements action_move(by) and action_move_to(index)
(index -1: the last row) for its own list widget.
"""

from __future__ import annotations

from textual.binding import Binding

VI_MOVES = [
    Binding("j", "move(1)", "Down", show=False),
    Binding("k", "move(-1)", "Up", show=False),
    Binding("g", "move_to(0)", "First", show=False),
    Binding("G", "move_to(-1)", "Last", show=False),
]
