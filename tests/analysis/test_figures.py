"""The figures of `analyze --png` and `overlay --png` as a physicist puts them on a slide (issue 24c):
each panel's title says what was found, the verdict and mu with its interval are on the figure, the
legends cover no data, and a stopped run is labelled by where its data ends, not by its plan.

Texts and boxes are read from the matplotlib objects of small real runs (tiny_preset)."""

from __future__ import annotations

import pytest

from glasslab.core.analysis import report
from glasslab.core.records import StepLogged

from support.presets import tiny_preset

pytest.importorskip("matplotlib")


def _result(ratio, D=True, spread=0.05, state="zero"):
    from glasslab.core.analysis.verdict_rule import collapse_reading

    dc = None
    if D:
        ln10 = 2.302585092994046
        dc = {"ratio": ratio, "cost_raw": None if ratio is None else (spread * ln10) ** 2 / ratio,
              "cost_scaled": (spread * ln10) ** 2, "tw": [1000.0, 9000.0]}
        dc.update(collapse_reading(dc, state, "lags t <= t_w"))
    a = {"diffusion_collapse": dc,
         "aging": {"all": {"mu": 0.64, "mu_err": 0.05, "at_bound": False}},
         "estimates": {"all": {"interval": [0.5, 0.8]}},
         "verdict": {"label": "aging"}}
    return {"name": "r", "status": "finished", "last_step": 1000, "analysis": a}


@pytest.mark.parametrize("ratio, spread, state, said", [
    (1.18, 0.05, "zero", "no collapse"), (1.0, 0.05, "zero", "no collapse"),
    (0.07, 0.05, "zero", "collapses within the error"), (0.999, 0.05, "zero", "collapses within the error"),
    # the case: a ratio far below 1 while the curves still spread: closer, not collapsed
    (0.0156, 0.4, "zero", "closer, no collapse (spread above 0.1 decade)"),
    (0.0156, 0.05, "ages", "closer, no collapse (its Delta/D fit ages)")])
def test_the_collapse_title_says_what_the_table_row_says(ratio, spread, state, said):
    from glasslab.tui.figure import collapse_title

    r = _result(ratio, spread=spread, state=state)
    words = r["analysis"]["diffusion_collapse"]["words"]
    title = collapse_title(r)
    assert words.startswith(said + ": ") and title.split("\n")[0].endswith(said)
    assert title.replace("\n", "; ").endswith(words.replace(": ", "; ", 1))  # the same phrase, in lines
    assert f"ratio {ratio:.3g}" in title and ("collapses within" in title) == (said.startswith("collapses"))


def test_the_titles_say_why_there_is_no_number():
    from glasslab.tui import figure

    assert figure.collapse_title(_result(None, D=False)).endswith("not measured (no D recorded)")
    assert "no ratio (fewer than two curves with D)" in figure.collapse_title(_result(None))
    r = _result(0.5)
    assert figure.verdict_line(r) == "verdict: aging; mu = 0.64, interval [0.50, 0.80]"
    r["analysis"]["verdict"]["so_far"] = 6_600
    assert figure.verdict_line(r) == "verdict: aging, so far, at step 6,600; mu = 0.64, interval [0.50, 0.80]"
    r["analysis"]["verdict"]["so_far"] = None
    r["analysis"]["aging"]["all"].update(mu=1.5, at_bound=True)
    r["analysis"]["verdict"]["label"] = "undecided"
    assert figure.verdict_line(r) == "verdict: undecided; mu at the fit bound (1.50): no measurement"
    none = {"name": "r", "status": "running", "last_step": 9, "analysis": None, "analysis_error": "needs 2 curves"}
    assert figure.verdict_line(none) == "no verdict: needs 2 curves"
    assert figure.collapse_title(none).endswith("not measured (no analysis)")


def _legends_off_the_data(fig) -> None:
    """Every legend's box lies inside the figure and meets no axes' data area."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [*fig.legends, *(a.get_legend() for a in fig.axes if a.get_legend())]
    assert legends
    for legend in legends:
        box = legend.get_window_extent(renderer)
        assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1
        for a in fig.axes:
            area = a.get_window_extent(renderer)
            apart = box.x1 <= area.x0 or area.x1 <= box.x0 or box.y1 <= area.y0 or area.y1 <= box.y0
            assert apart, (a.get_title(), [t.get_text() for t in legend.get_texts()][:3])


def test_the_analyze_figure_carries_the_verdict_mu_and_what_each_panel_found(run_to_store):
    import matplotlib.pyplot as plt

    from glasslab.tui.figure import build_paper_figure

    path, _ = run_to_store(tiny_preset())
    result = report.analyze_store(path, n_boot=10)
    fig = build_paper_figure(path, result)
    a = result["analysis"]
    mu, iv = a["aging"]["all"]["mu"], a["estimates"]["all"]["interval"]
    sup = fig._suptitle.get_text()
    assert f"verdict: {a['verdict']['label']}; mu = {mu:.2f}, interval [{iv[0]:.2f}, {iv[1]:.2f}]" in sup
    assert "finished, last snapshot at step 200" in sup
    msd, loss, collapse = (ax.get_title() for ax in fig.axes[:3])
    assert f"mu = {mu:.2f}" in msd and "late slope" in msd
    assert "still falling" in loss or "on a plateau" in loss
    from glasslab.tui.analysis_table import analysis_rows

    words = a["diffusion_collapse"]["words"]  # the table row and the panel title: one phrase
    assert dict(analysis_rows(result))["Delta/D(t_w) collapse"] == words
    assert collapse.replace("\n", "; ").endswith(words.replace(": ", "; ", 1))
    _legends_off_the_data(fig)
    plt.close(fig)


def test_the_overlay_labels_a_stopped_run_by_its_last_step_and_keeps_the_legend_off_the_data(run_to_store):
    import matplotlib.pyplot as plt

    from glasslab.core.store.reader import Trajectory
    from glasslab.core.store.writer import TrajectoryWriter
    from glasslab.core.train.run import Run, drive
    from glasslab.tui.figure import build_overlay_figure

    done, _ = run_to_store(tiny_preset(), name="done.zarr")
    run = Run(tiny_preset(**{"run.steps": 150000}))  # planned long, stopped at step 300

    class StopAt300:
        def handle(self, r):
            if isinstance(r, StepLogged) and r.step == 300:
                run.stop("the test")

    stopped = done.parent / "stopped.zarr"
    drive(run, [TrajectoryWriter(stopped), StopAt300()])
    t = Trajectory.open(stopped)
    last = int(t.steps[-1])
    assert t.status == "interrupted" and 5 <= last <= 300  # the last snapshot before the stop
    fig = build_overlay_figure([done, stopped])
    (legend,) = fig.legends
    texts = [x.get_text() for x in legend.get_texts()]
    assert texts[0].startswith("done (") and "to step 200" in texts[0] and "finished" not in texts[0]
    assert texts[1].startswith("stopped (") and f"to step {last:,}, interrupted" in texts[1]
    assert not any("150000" in x or "150,000" in x for x in texts)  # the plan, not the data
    _legends_off_the_data(fig)
    plt.close(fig)
