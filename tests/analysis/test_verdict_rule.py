"""The rule for when a verdict may be given (core/analysis/verdict_rule.py, docs/science.md section 5):
too short -> "too short to judge" with what is missing; a pure diffusion whose D falls like a power of
t_w is not aging; a fit at its bound feeds no verdict; a live run's verdict says "so far, at step S"."""

import numpy as np
import pytest

from glasslab.core.analysis import aging, checks, verdict_rule

from test_analysis import STEPS, aging_msd


def test_a_run_too_short_is_too_short_to_judge_and_says_what_is_missing():
    # Simple aging, mu = 1: on the whole grid (t_w 10..5e4, 3.7 decades) it is "aging"; cut at step 300,
    # its usable t_w span 10..~130, 1.1 decades, and the same curves give no verdict.
    msd = aging_msd(STEPS, 1.0, noise=0.02)
    assert aging.analyze(STEPS, msd, n_boot=30)["verdict"]["label"] == "aging"
    k = int(np.searchsorted(STEPS, 300, side="right"))
    out = aging.analyze(STEPS[:k], msd[:k, :k], n_boot=30)
    v = out["verdict"]
    assert v["label"] == verdict_rule.TOO_SHORT == "too short to judge"
    # t_w min 10: 1.5 decades reach t_w = 316, hence a last step of 2 x 316 = 632, about 630
    assert v["reason"] == "t_w spans 1.1 decade; 1.5 needed (about 630 steps)"
    assert out["sufficiency"]["enough"] is False and out["sufficiency"]["steps_needed"] == 630
    assert verdict_rule.verdict_text(v) == "too short to judge"


def test_sparse_snapshots_are_named_as_what_is_missing():
    # 4 snapshots a decade: under t <= t_w each curve holds one lag, none spans a factor 2
    steps = np.concatenate([[0], np.unique(np.round(np.logspace(1, 5, 17))).astype(np.int64)])
    out = aging.analyze(steps, aging_msd(steps, 1.0), n_boot=0)
    assert out["verdict"]["label"] == verdict_rule.TOO_SHORT
    assert "0/0/0 in the early/intermediate/late third; 3 needed" in out["verdict"]["reason"]
    assert "recording.snapshots" in out["verdict"]["reason"]


@pytest.mark.parametrize("gamma", [0.3, 0.6])
def test_pure_diffusion_with_d_falling_like_a_power_of_tw_is_not_aging(gamma):
    # Delta(t_w, t_w + t) = int_{t_w}^{t_w + t} 2 D(s) ds, D = D0 s^-gamma: no aging, only a D that falls.
    # Raw Delta "ages" (its level falls like t_w^-gamma); Delta/D(t_w) does not, read against the same
    # pure diffusion (the control) - here the data itself.
    D = 1e-3 * np.maximum(STEPS, 1.0) ** -gamma
    out = aging.analyze(STEPS, checks.diffusion_control_msd(STEPS, D), D=D, n_boot=30)
    v = out["verdict"]
    assert out["estimates"]["all"]["state"] == "ages"
    assert v["label"] == verdict_rule.D_FALLS != "aging"
    assert verdict_rule.D_FALLS_WORDS in v["reason"]
    assert out["diffusion_collapse"]["collapses"] and "collapses within the error" in out["diffusion_collapse"]["words"]


def test_a_fit_with_a_window_at_its_bound_feeds_no_verdict():
    # mu = 1 up to t_w = 8,000, then mu = 2: the pooled fit stays inside the grid (1.11) but its last
    # third and quarter stop at 1.5, so its interval [0.99, 1.50] is no measurement (the old code said aging).
    m = aging_msd(STEPS, 1.0, noise=0.02)
    late = STEPS >= 8000
    m[late] = aging_msd(STEPS, 2.0, noise=0.02)[late] * 8000.0
    out = aging.analyze(STEPS, m, n_boot=30)
    e = out["estimates"]["all"]
    assert not e["at_bound"] and "last quarter" in e["bound_windows"] and e["state"] == "at the bound"
    v = out["verdict"]
    assert v["label"] == "undecided" and "stops at the bound" in v["reason"] and "last quarter" in v["reason"]
    assert not verdict_rule.feeds(e["state"], e["bound_windows"])


def test_a_live_run_verdict_says_so_far_at_its_step():
    msd = aging_msd(STEPS, 1.0, noise=0.02)
    v = aging.analyze(STEPS, msd, n_boot=30, so_far=60_000)["verdict"]
    assert v["label"] == "aging" and v["so_far"] == 60_000
    assert verdict_rule.verdict_text(v) == "aging, so far, at step 60,000"
    assert verdict_rule.short_label(v) == "aging, so far"
    done = aging.analyze(STEPS, msd, n_boot=30)["verdict"]
    assert verdict_rule.verdict_text(done) == "aging" and done["so_far"] is None


def test_collapse_words_need_overlap_not_only_a_ratio_below_one():
    # ratio 0.02 but the curves still 0.3 decade apart: closer, not collapsed
    dc = {"ratio": 0.02, "cost_scaled": (0.3 * np.log(10)) ** 2, "cost_raw": (2.0 * np.log(10)) ** 2,
          "tw": [1000.0, 9000.0]}
    r = verdict_rule.collapse_reading(dc, "zero", "lags t <= t_w")
    assert not r["collapses"] and r["words"].startswith("closer, no collapse (spread above 0.1 decade)")
    assert "spread 0.3 decade (Delta: 2), ratio 0.02; late t_w 1,000..9,000, lags t <= t_w" in r["words"]
    # overlapping curves whose Delta/D fit still ages are no collapse either
    dc["cost_scaled"] = (0.05 * np.log(10)) ** 2
    assert not verdict_rule.collapse_reading(dc, "ages", "lags t <= t_w")["collapses"]
    assert verdict_rule.collapse_reading(dc, "zero", "lags t <= t_w")["collapses"]
