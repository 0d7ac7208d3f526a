"""The runs screen shows a run's tags and notes (glasslab run --tag, glasslab note) and filters by tag."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from glasslab.core.runs import notes
from glasslab.tui.app import make_app

from support.console import one_torch_thread, two_stores  # noqa: F401 (a fixture)
from support.pilot import SIZE, press, text_of, to_the_runs_screen, type_text, wait_for

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def keys(table) -> list[str]:
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


async def test_tags_show_filter_the_table_and_notes_are_in_the_analysis(tmp_path):
    out = tmp_path / "runs"
    over, under = two_stores(out)
    notes.add(over, "ages: checked the Delta curves by eye", ["fig2", "checked"])
    app = make_app(out_dir=out)
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await to_the_runs_screen(pilot, 2)
        assert screen.rows[str(over)].tags == ("fig2", "checked") and screen.rows[str(under)].tags == ()
        row = table.get_row_index(str(over))
        assert "fig2,checked" in str(table.get_cell_at((row, 1)))

        await press(pilot, "slash")
        box = screen.query_one("#runs-filter", Input)
        await wait_for(pilot, lambda: box.display and screen.focused is box, what="the tag filter")
        await type_text(pilot, "FI")  # a prefix of a tag, any case
        await wait_for(pilot, lambda: keys(table) == [str(over)], what="the table filtered by tag")
        legend = screen.query_one("#runs-legend", Static)
        assert "tag FI*: 1 of 2 runs" in text_of(legend)
        await press(pilot, "enter", "enter")  # enter ends the filter, the second opens the run shown
        await wait_for(pilot, lambda: str(over) in screen.curves, what="the filtered run to open")
        await press(pilot, "a")
        pane = screen.query_one("#runs-analysis-text", Static)
        await wait_for(pilot, lambda: "verdict" in text_of(pane), what="the analysis")
        shown = text_of(pane)
        assert "fig2, checked" in shown and "ages: checked the Delta curves by eye" in shown
        await press(pilot, "a")

        await press(pilot, "slash")
        await wait_for(pilot, lambda: screen.focused is box, what="the tag filter again")
        await type_text(pilot, "x")
        await wait_for(pilot, lambda: table.row_count == 0, what="no run tagged fix...")
        await press(pilot, "escape")
        await wait_for(pilot, lambda: sorted(keys(table)) == sorted([str(over), str(under)]) and not box.display,
                       what="the filter cleared")
