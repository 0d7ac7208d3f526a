"""Console cosmetics seen at 80x24 and 120x40 (issue 31 item 14), each tested on its piece."""

from __future__ import annotations

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
