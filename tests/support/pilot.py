"""Driving the console under Textual's Pilot: keys, typed text, waits for a state."""

from __future__ import annotations

import time

import pytest
from rich.console import Console
from textual import events
from textual.widgets import DataTable, OptionList, Static

from support.console import one_torch_thread, reap_runs, two_stores  # noqa: F401 (fixtures)

SIZE = (100, 30)
pytestmark = pytest.mark.usefixtures("one_torch_thread", "reap_runs")


def text_of(widget: Static) -> str:
    """What a Static shows, as plain text."""
    console = Console(width=400, record=True, file=open("/dev/null", "w"))
    console.print(widget.content)
    return console.export_text()


async def wait_for(pilot, condition, timeout: float = 300.0, what: str = "condition") -> None:
    """Wait for a state; the timeout only guards against a hang (generous: the suite runs beside other jobs)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.05)


def option_ids(app) -> list[str]:
    ol = app.screen.query_one(OptionList)
    return [ol.get_option_at_index(i).id for i in range(ol.option_count)]


CHARS = {"enter": "\r", "tab": "\t", "escape": "\x1b", "space": " ", "slash": "/", "minus": "-",
         "full_stop": ".", "question_mark": "?"}


async def press(pilot, *keys: str) -> None:
    """Like pilot.press, but settle on the screen's message queues rather than on the process going
    idle: while the engine trains in this process it never does, and pilot.press then waits 2 s a key."""
    for key in keys:
        pilot.app._driver.send_message(events.Key(key, CHARS.get(key, key if len(key) == 1 else None)))
        await pilot.pause(0.01)


async def type_text(pilot, text: str) -> None:
    await press(pilot, *[{" ": "space", "-": "minus", ".": "full_stop", "/": "slash"}.get(c, c) for c in text])


# ------------------------------------------------------------------ presets

async def to_the_runs_screen(pilot, rows: int):
    """r, then wait until the runs screen lists `rows` runs; returns (screen, its table)."""
    await press(pilot, "r")
    screen = pilot.app.get_screen("runs")
    # A screen is composed when it is first shown, some ms after the key: its table exists only then.
    await wait_for(pilot, lambda: pilot.app.screen is screen and screen.query(DataTable), what="the runs screen")
    table = screen.query_one(DataTable)
    await wait_for(pilot, lambda: table.row_count == rows, what="the runs listed")
    return screen, table
