"""Console cosmetics seen at 80x24 and 120x40 (issue 31 item 14), each tested on its piece."""

from __future__ import annotations

import pytest

from glasslab.tui.app import make_app


async def test_the_compact_footer_keeps_a_space_after_a_groups_label(tmp_path):
    """At 80 columns the footer is compact; it read "p l r Screens? Help"."""
    from textual.widgets._footer import FooterKey, FooterLabel  # not public in Textual 8

    from glasslab.tui.console.widgets.fitting_footer import FittingFooter

    app = make_app(out_dir=tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(FittingFooter)
        assert footer.compact
        label = footer.query_one(FooterLabel)
        after = [k.region.x for k in footer.query(FooterKey) if k.region.x >= label.region.right]
        assert str(label.render()).strip() == "Screens" and after
        assert min(after) > label.region.right  # a blank column between "Screens" and "? Help"


def test_close_switch_numbers_do_not_overlap_on_the_log_axis():
    """Three switches close on the log axis were drawn over each other ("13")."""
    from glasslab.tui.console.widgets.log_plot import switch_label_layout

    def columns(placed, x0=0.0, x1=5.0, cols=70):  # every label's columns, as drawn centred on its x
        out = []
        for x, text in placed:
            left = round(x * cols / (x1 - x0) - len(text) / 2)
            out.append(range(left, left + len(text)))
        return out

    close = [(3.0, "1"), (3.02, "2"), (3.04, "3")]  # steps 1000, 1047, 1096 on an axis of 5 decades
    [(x, text)] = switch_label_layout(close, 0.0, 5.0, 70)
    assert text == "1-3" and x == pytest.approx(3.02)
    apart = [(1.0, "1"), (2.0, "2"), (3.0, "3")]
    assert switch_label_layout(apart, 0.0, 5.0, 70) == apart  # far apart: untouched
    mixed = [(1.0, "1"), (1.03, "2"), (4.0, "3")]
    placed = switch_label_layout(mixed, 0.0, 5.0, 70)
    assert [t for _, t in placed] == ["1,2", "3"]
    spans = columns(placed)
    assert all(a[-1] + 1 < b[0] for a, b in zip(spans, spans[1:]))  # a blank column between any two
