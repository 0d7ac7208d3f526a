"""glasslab.core.analysis.aging on synthetic snapshot arrays whose answer is known by construction."""

import json
import math

import numpy as np
import pytest

from glasslab.core.analysis import aging, collapse, relaxation
from glasslab.core.errors import BadInput
from glasslab.core.store import codec


def log_grid(n=60, t0=10, t_max=1e5):
    """Snapshot times as a run writes them (SCIENCE.md "Time")."""
    t = np.unique(np.round(np.exp(np.linspace(np.log(t0), np.log(t_max), n)))).astype(np.int64)
    return np.concatenate([[0], t])


def aging_msd(steps, mu, f=np.log1p, A=1e-3, noise=0.0, seed=1):
    """Delta(t_w, t_w + t) = A f(t / t_w^mu) above the diagonal, times exp(noise * N(0, 1))."""
    K = len(steps)
    msd = np.full((K, K), np.nan)
    for i in range(K):
        t = (steps[i + 1:] - steps[i]).astype(float)
        msd[i, i + 1:] = A * f(t / max(steps[i], 1) ** mu)
    if noise:
        msd *= np.exp(noise * np.random.default_rng(seed).standard_normal((K, K)))
    return msd


def power(u):
    return u**0.3 / (1 + u) ** 0.1


STEPS = log_grid()


# ------------------------------------------------------------ collapse fit ---

@pytest.mark.parametrize("mu, f", [(0.0, np.log1p), (0.5, power), (1.0, np.log1p)])
def test_fit_recovers_mu_exact_curves(mu, f):
    fit = collapse.fit_aging_exponent(STEPS, aging_msd(STEPS, mu, f), n_boot=50)
    # Exact curves collapse exactly except for the piecewise-linear interpolation
    # between snapshots; over the ~9 units of log t_w lever arm that moves mu by
    # ~1e-3 (measured), so 0.01 leaves a margin of 5 and still fails a wrong mu.
    assert abs(fit.mu - mu) < 0.01
    assert fit.mu_err < 0.01
    assert fit.n_curves > 40
    assert fit.cost_min < 1e-3 * np.nanmax(fit.cost)


@pytest.mark.parametrize("mu, f", [(0.0, np.log1p), (0.5, power), (1.0, np.log1p)])
def test_fit_recovers_mu_within_bootstrap_error(mu, f):
    # 5% multiplicative noise; the next test checks that mu_err is the seed-to-seed
    # scatter of mu, so the truth lies within 3 mu_err.
    fit = collapse.fit_aging_exponent(STEPS, aging_msd(STEPS, mu, f, noise=0.05, seed=7))
    assert abs(fit.mu - mu) < 3 * fit.mu_err
    assert abs(fit.mu - mu) < 0.05
    assert 0 < fit.mu_err < 0.05
    # At the right mu only the noise is left: between snapshots the interpolant
    # (1-f) y_a + f y_b has variance sigma^2 ((1-f)^2 + f^2), 2/3 sigma^2 on average
    # over f, so two independent curves differ by 4/3 sigma^2 in mean square.
    assert fit.cost_min == pytest.approx(4 / 3 * 0.05**2, rel=0.15)


def test_bootstrap_error_matches_scatter_over_noise_seeds():
    # mu_err should be the seed-to-seed std of mu: 16 seeds estimate that std to
    # +-18% (1/sqrt(2*15)), so the ratio must lie in 0.6 .. 1.6 (over 2.2 sigma).
    idx = collapse.usable_waiting_times(STEPS, aging_msd(STEPS, 0.5))[::4]
    grid = np.linspace(0.2, 0.8, 61)  # same 0.01 step as the default, narrower: faster
    fits = [collapse.fit_aging_exponent(STEPS, aging_msd(STEPS, 0.5, power, noise=0.05, seed=s), idx,
                                  grid, n_boot=50) for s in range(16)]
    mus, errs = np.array([f.mu for f in fits]), np.array([f.mu_err for f in fits])
    assert 0.6 < mus.std(ddof=1) / errs.mean() < 1.6
    assert abs(mus.mean() - 0.5) < 3 * mus.std(ddof=1) / 4   # unbiased within 3 standard errors
    # the cost curve reported on the grid is collapse_cost
    msd = aging_msd(STEPS, 0.5, power, noise=0.05, seed=0)
    for k in (0, 20, 30, 60):
        want = collapse.collapse_cost(STEPS, msd, fits[0].mu_grid[k], idx)
        assert fits[0].cost[k] == pytest.approx(want, rel=1e-9)


def test_bootstrap_pair_matrices():
    # the bootstrap cost w.A.w / w.L.w: w = 1 is collapse_cost, and copies of one
    # curve form no pair, so weights (2, 1, 0, ...) give the two-curve cost
    msd = aging_msd(STEPS, 0.5, power, noise=0.05)
    rows = collapse.usable_waiting_times(STEPS, msd)[::5]
    col, kept = collapse._collapse_from_rows(STEPS, msd, rows)
    A, L = col.pair_matrices_of(*col._sample(0.7))
    w = np.ones(len(kept))
    want = collapse.collapse_cost(STEPS, msd, 0.7, rows)
    assert w @ A @ w / (w @ L @ w) == pytest.approx(want, rel=1e-9)
    w = np.zeros(len(kept))
    w[[1, 2]] = [2.0, 1.0]
    assert w @ A @ w / (w @ L @ w) == pytest.approx(
        collapse.collapse_cost(STEPS, msd, 0.7, kept[[1, 2]]), rel=1e-9)


def test_fits_of_different_mu_differ():
    idx = collapse.usable_waiting_times(STEPS, aging_msd(STEPS, 0.3))[::3]
    a = collapse.fit_aging_exponent(STEPS, aging_msd(STEPS, 0.3), idx, n_boot=20)
    b = collapse.fit_aging_exponent(STEPS, aging_msd(STEPS, 0.8), idx, n_boot=20)
    assert b.mu - a.mu == pytest.approx(0.5, abs=0.02)
    # each data set prefers its own mu
    assert collapse.collapse_cost(STEPS, aging_msd(STEPS, 0.3), 0.3, idx) < \
        collapse.collapse_cost(STEPS, aging_msd(STEPS, 0.3), 0.8, idx) / 100


@pytest.mark.parametrize("mu, f", [(0.5, power), (1.0, np.log1p)])
def test_fit_works_with_few_points_per_curve(mu, f):
    steps = log_grid(n=12)  # 0.84 in log t between snapshots; the last usable curve has 2 points
    fit = collapse.fit_aging_exponent(steps, aging_msd(steps, mu, f), n_boot=50)
    assert fit.n_curves == 10
    assert abs(fit.mu - mu) < 0.05


def test_nan_rows_and_bad_values_are_ignored():
    msd = aging_msd(STEPS, 0.5, power, noise=0.05)
    dirty = msd.copy()
    dirty[[5, 20, 33], :] = np.nan          # rows not yet filled
    dirty[10, 30] = 0.0                      # non-positive Delta is dropped too
    dirty[11, 40] = -1e-9
    clean = msd.copy()
    clean[10, 30] = clean[11, 40] = np.nan
    idx = [i for i in collapse.usable_waiting_times(STEPS, msd) if i not in (5, 20, 33)]
    got = collapse.fit_aging_exponent(STEPS, dirty, n_boot=30)
    want = collapse.fit_aging_exponent(STEPS, clean, idx, n_boot=30)
    assert got.mu == want.mu and got.n_curves == want.n_curves == len(idx)
    assert abs(got.mu - 0.5) < 0.05
    # a run still going: snapshots after column 45 not measured yet
    running = msd.copy()
    running[:, 46:] = np.nan
    usable = collapse.usable_waiting_times(STEPS, running)
    assert STEPS[usable].max() <= STEPS[45] / 2
    assert abs(collapse.fit_aging_exponent(STEPS, running, n_boot=30).mu - 0.5) < 0.05


def test_fit_with_fewer_than_two_curves_is_nan():
    fit = collapse.fit_aging_exponent(STEPS, aging_msd(STEPS, 1.0), [3])
    assert math.isnan(fit.mu) and fit.n_curves == 1


# ------------------------------------------------------------------ slopes ---

@pytest.mark.parametrize("a", [1.0, 0.5])
def test_late_time_slope_of_a_power_law(a):
    K = len(STEPS)
    lag = STEPS[None, :] - STEPS[:, None]
    msd = np.where(lag > 0, 3e-4 * np.abs(lag) ** a, np.nan)
    fit = aging.late_time_slope(STEPS, msd)
    assert fit.slope == pytest.approx(a, abs=1e-9)
    assert fit.t_min >= 10 * fit.tw.min() * (1 - 1e-9)
    assert fit.t_max == pytest.approx(STEPS[-1] - fit.tw.min())
    per_tw = aging.slopes_by_tw(STEPS, msd)
    ok = np.isfinite(per_tw["slope"])
    assert ok.sum() >= K - 3 and np.allclose(per_tw["slope"][ok], a, atol=1e-9)
    # with 5% noise the OLS error covers the truth
    noisy = msd * np.exp(0.05 * np.random.default_rng(3).standard_normal((K, K)))
    fit = aging.late_time_slope(STEPS, noisy)
    assert 0 < fit.slope_err < 0.05 and abs(fit.slope - a) < 4 * fit.slope_err


def test_late_time_slope_uses_only_the_last_decade():
    # slope 0.3 up to t = 1e3, slope 1 after: the last decade of lags sees only 1
    lag = (STEPS[None, :] - STEPS[:, None]).astype(float)
    d = np.where(lag < 1e3, np.abs(lag) ** 0.3, 1e3**0.3 * np.abs(lag) / 1e3)
    msd = np.where(lag > 0, d, np.nan)
    fit = aging.late_time_slope(STEPS, msd, [1])
    assert fit.slope == pytest.approx(1.0, abs=1e-9)
    assert fit.t_min >= fit.t_max / 10 * (1 - 1e-9)
    assert fit.t_max == pytest.approx(STEPS[-1] - STEPS[1])


# -------------------------------------------------------------- relaxation ---

def _crossing_bound(lag_a, lag_b, tau, b):
    """Bound on |log t_est - log t_true| of a level crossing of Q(s) = exp(-exp(b (s - log tau))).

    s = log t.  The linear interpolant in s differs from Q by at most
    E = h^2/8 max|Q''| on the bracket [s_a, s_b] (h = s_b - s_a), so its crossing
    of any level sits within E / min|Q'| of the true one.
    Q' = -b z Q, Q'' = b^2 z Q (z - 1), z = (t/tau)^b.
    """
    s = np.linspace(np.log(lag_a), np.log(lag_b), 2001)
    z = np.exp(b * (s - np.log(tau)))
    q = np.exp(-z)
    h = s[-1] - s[0]
    return h**2 / 8 * np.max(np.abs(b**2 * z * q * (z - 1))) / np.min(np.abs(b * z * q))


@pytest.mark.parametrize("b", [1.0, 0.5])
def test_relaxation_times_of_stretched_exponential(b):
    K = len(STEPS)
    tau = 40.0 + 2.0 * STEPS.astype(float) ** 0.8          # aging: tau grows with t_w
    lag = (STEPS[None, :] - STEPS[:, None]).astype(float)
    Q = np.where(lag > 0, np.exp(-(np.abs(lag) / tau[:, None]) ** b), np.nan)
    out = relaxation.relaxation_times(STEPS, Q)
    checked = 0
    for key, level in [("tau_e", 1 / math.e), ("tau_90", 0.9)]:
        exact = tau * (-np.log(level)) ** (1 / b)   # Q = level at t = tau (-ln level)^(1/b)
        for i in range(K):
            lags, q = lag[i, i + 1:], Q[i, i + 1:]
            k = np.flatnonzero(q < level)
            if k.size == 0 or k[0] == 0:
                assert math.isnan(out[key][i])
                continue
            bound = _crossing_bound(lags[k[0] - 1], lags[k[0]], tau[i], b)
            assert abs(np.log(out[key][i]) - np.log(exact[i])) <= bound + 1e-12
            checked += 1
    assert checked >= 40


def test_relaxation_times_nan_when_never_crossed_or_unresolved():
    steps = np.array([0, 10, 20, 40, 80])
    Q = np.full((5, 5), np.nan)
    Q[1, 2:] = [0.99, 0.95, 0.92]     # never below 0.9
    Q[2, 3:] = [0.2, 0.1]             # already below 1/e at the first lag
    Q[3, 4] = np.nan                  # row not filled
    out = relaxation.relaxation_times(steps, Q)
    assert np.isnan(out["tau_90"][1]) and np.isnan(out["tau_e"][2]) and np.isnan(out["tau_e"][3])
    Q[0, 1:] = [0.95, 0.85, 0.5, 0.3]  # lags 10, 20, 40, 80: crossing 0.9 half way in log t
    out = relaxation.relaxation_times(steps, Q)
    assert out["tau_90"][0] == pytest.approx(10 * 2**0.5)


# -------------------------------------------------------------------- loss ---

def test_loss_plateau():
    t = STEPS.astype(float)
    falling = 1.0 - 0.2 * np.log10(np.maximum(t, 1))   # 1.0 -> 0.0 over 5 decades, linear in log t
    out = relaxation.loss_plateau(STEPS, falling + 0.1)
    assert out.final_loss == pytest.approx(0.1)
    assert out.loss_decade_ago == pytest.approx(0.3)
    assert out.rel_drop == pytest.approx(2 / 3) and out.still_falling
    flat = np.where(t < 1e3, falling, 0.4)
    flat[-1] = np.nan                                   # last snapshot not measured yet
    flat = relaxation.loss_plateau(STEPS, flat)
    assert flat.t_end == STEPS[-2] and flat.final_loss == pytest.approx(0.4)
    assert flat.rel_drop == 0 and not flat.still_falling


# ----------------------------------------------------------------- verdict ---

def interrupted_msd(steps, t_c=2000.0, D=None):
    """Simple aging (mu = 1) for t_w < t_c, Delta = D(t_w) t afterwards."""
    msd = aging_msd(steps, 1.0, noise=0.02)
    D = np.full(len(steps), 1e-6) if D is None else D
    for i in np.flatnonzero(steps >= t_c):
        msd[i, i + 1:] = D[i] * (steps[i + 1:] - steps[i])
    return msd


def test_verdict_simple_aging():
    out = aging.analyze(STEPS, aging_msd(STEPS, 1.0, noise=0.02), n_boot=50)
    assert out["verdict"]["label"] == "aging"
    assert abs(out["aging"]["all"]["mu"] - 1.0) < 0.05


def test_verdict_time_translation_invariant():
    out = aging.analyze(STEPS, aging_msd(STEPS, 0.0, noise=0.02), n_boot=50)
    assert out["verdict"]["label"] == "time-translation invariant"


def test_verdict_interrupted_aging():
    # every late window (last half, third, quarter of the usable t_w) agrees on mu ~ 0 here; a later
    # crossover makes them disagree and the verdict undecided (test_windows_and_controls.py)
    out = aging.analyze(STEPS, interrupted_msd(STEPS), n_boot=50)
    v = out["verdict"]
    assert v["label"] == "interrupted aging (diffusive)"
    assert v["mu_early"] == pytest.approx(1.0, abs=0.05)
    assert abs(v["mu_late"]) < 0.05 and v["late_slope"] == pytest.approx(1.0, abs=1e-6)


def test_verdict_interrupted_aging_needs_d_when_d_varies():
    # D(t_w) falling like t_w^-0.5 shifts the straight lines log Delta = log t + log D(t_w):
    # raw Delta then "ages" with mu = 0.5, Delta / D(t_w) collapses at mu = 0 [BJ18].
    D = 1e-6 * (np.maximum(STEPS, 1) / 2000.0) ** -0.5
    D[3] = np.nan
    msd = interrupted_msd(STEPS, D=D)
    without = aging.analyze(STEPS, msd, n_boot=50)
    assert without["verdict"]["label"] == "aging"
    assert without["verdict"]["mu_late"] == pytest.approx(0.5, abs=0.01)
    out = aging.analyze(STEPS, msd, D=D, n_boot=50)
    assert out["verdict"]["label"] == "interrupted aging (diffusive)"
    dc = out["diffusion_collapse"]
    assert dc["cost_scaled"] < 1e-4 * dc["cost_raw"]


def _fit(mu, err):
    e = np.zeros(0)
    return collapse.AgingFit(mu, err, 0.0, 2, e, e, e, e)


def test_verdict_rules():
    def label(all_, early, mid, late, slope, err=0.01):
        fits = [_fit(mu, err) for mu in (all_, early, mid, late)]
        return aging.verdict(*fits, aging.SlopeFit(slope, 0.01, 1, 10, 5, np.zeros(1))).label

    # No tolerance: mu = 0.09 +- 0.01 lies above 0 (it ages, weakly); 0.01 +- 0.01 contains 0.
    assert label(0.09, 0.09, 0.05, 0.09, 1.0) == "aging"
    assert label(0.09, 0.09, 0.05, 0.0, 1.0) == "interrupted aging (diffusive)"
    assert label(0.01, 0.01, 0.0, 0.0, 1.0) == "time-translation invariant"
    # a large error makes mu = 0.15 consistent with 0 (interval [-0.05, 0.35]), and 0.3 not
    assert label(0.15, 0.5, 0.5, 0.3, 1.0, err=0.1) == "time-translation invariant"
    # an interval that contains 0 and reaches half way to simple aging decides nothing
    assert label(0.15, 0.5, 0.5, 0.3, 1.0, err=0.2) == "undecided"
    assert label(-0.3, 0.5, 0.5, 0.3, 1.0) == "undecided"    # negative: older curves move faster
    # the late third is consistent with 0 but its interval [-0.12, 0.12] overlaps the aged
    # intermediate one [0.08, 0.32]: the drop is not resolved, aging is not said to stop
    assert label(0.15, 0.1, 0.2, 0.0, 1.0, err=0.04) == "interrupted aging (diffusive)"
    assert label(0.15, 0.1, 0.2, 0.0, 1.0, err=0.06) == "aging"
    assert label(0.15, 0.1, 0.2, 0.0, 1.0) == "interrupted aging (diffusive)"
    assert label(0.15, 0.0, 0.0, 0.0, 1.0) == "aging"       # never aged: not interrupted
    assert label(0.5, 1.0, 1.0, 0.0, 0.5) == "aging"        # late slope 0.5: not diffusive
    assert label(0.5, 1.0, 1.0, 0.0, 1.25) == "aging"
    with pytest.raises(BadInput):
        label(math.nan, 1.0, 1.0, 0.0, 1.0)


# ----------------------------------------------------------------- analyze ---

def test_analyze_is_json_and_handles_missing_data():
    K = len(STEPS)
    msd = aging_msd(STEPS, 1.0, noise=0.02)
    msd[[7, 8], :] = np.nan
    lag = (STEPS[None, :] - STEPS[:, None]).astype(float)
    Q = np.where(lag > 0, np.exp(-np.abs(lag) / (5.0 + STEPS[:, None])), np.nan)
    D = np.linspace(1e-3, 1e-5, K)
    D[-5:] = np.nan
    loss = np.linspace(2.0, 0.1, K)
    loss[-3:] = np.nan
    out = aging.analyze(STEPS, msd, D=D, overlap=Q, train_loss=loss, n_boot=20, tw_window=(20, 1e4))
    text = json.dumps(out, allow_nan=False)
    assert set(out) >= {"aging", "late_slope", "late_tw_slope", "slopes_by_tw", "verdict",
                        "diffusion_collapse", "loss", "relaxation", "windows", "tw_usable"}
    assert min(out["tw_usable"]) >= 20 and max(out["tw_usable"]) <= 1e4
    assert STEPS[7] not in out["tw_usable"]
    assert out["relaxation"]["tau_e"][1] == pytest.approx(15.0, rel=0.1)
    assert "NaN" not in text and out["verdict"]["label"] in aging.LABELS
    with pytest.raises(BadInput):
        aging.analyze(STEPS[:3], msd[:3, :3])


# ------------------------------------------------------ what the reports say (issue 12) ---

def test_a_fit_whose_minimum_is_the_end_of_the_mu_range_is_marked_and_not_judged():
    # Curves that collapse only for mu = 2 (outside -0.5..1.5): the minimum sits on the upper bound.
    fit = collapse.fit_aging_exponent(STEPS, aging_msd(STEPS, 2.0), n_boot=10)
    assert fit.at_bound and fit.mu == pytest.approx(1.5, abs=0.01) and fit.to_dict()["at_bound"] is True
    inside = collapse.fit_aging_exponent(STEPS, aging_msd(STEPS, 0.5), n_boot=10)
    assert not inside.at_bound
    assert not aging._ages(fit) and not aging._zero(fit)  # a bound says nothing about aging


def test_the_analysis_table_names_each_figure_and_says_when_a_fit_hit_its_bound():
    from rich.console import Console

    from glasslab.tui.analysis_table import print_analysis

    out = aging.analyze(STEPS, aging_msd(STEPS, 1.0, noise=0.02), n_boot=20)
    out["aging"]["late"]["at_bound"] = True  # as a fit stuck on -0.5 reports it
    out["aging"]["late"]["mu"] = -0.5
    Q = np.exp(-aging_msd(STEPS, 1.0) * 5000)  # crosses 1/e within each curve
    out["relaxation"] = aging._jsonable(relaxation.relaxation_times(STEPS, Q))
    result = {"run": "r.zarr", "name": "r", "status": "finished", "n_params": 19210, "train_size": 2000,
              "n_snapshots": 61, "last_step": 100000, "final": {k: 0.1 for k in ("train_loss", "train_acc", "test_loss", "test_acc")},
              "switches": [{"step": 3000, "old": "sgd", "new": "langevin"}], "analysis": out}
    console = Console(width=400, record=True, file=open("/dev/null", "w"))
    print_analysis(result, console)
    text = console.export_text()
    assert "N / P                " in text and "19,210 / 2,000" in text  # one number format
    assert "at the bound (-0.50): no collapse in [-0.5, 1.5], the fit stops there" in text
    assert "-0.500 ± " not in text
    assert "last decade of lags, all t_w" in text and "late third of t_w (verdict)" in text
    tau_row = next(line for line in text.splitlines() if "tau_e (steps) by t_w" in line)
    last = max(tw for tw, te in zip(out["relaxation"]["tw"], out["relaxation"]["tau_e"]) if te is not None)
    assert "t_w 10: " in tau_row and f"t_w {int(last):,}: " in tau_row  # the first t_w to the last, keyed as t_w
    assert "sgd -> langevin at step 3,000" in text and "switched its dynamics" in text


def test_overlay_labels_say_what_differs_and_the_dynamics_a_run_went_through():
    from glasslab.tui.figure import run_labels

    sgd = {"name": "quickstart", "dynamics": {"kind": "sgd", "lr": 0.5, "temperature": 0.0}, "run": {"device": "cpu"}}
    hot = {"name": "quickstart", "dynamics": {"kind": "sgd", "lr": 0.1, "temperature": 0.0}, "run": {"device": "cuda"}}
    switched = codec.switches([{"kind": "dynamics_changed", "step": 100, "old": {"kind": "sgd"}, "new": {"kind": "langevin"}},
                               {"kind": "dynamics_changed", "step": 900, "old": {"kind": "langevin"}, "new": {"kind": "sgd"}}])
    assert run_labels(["a", "b"], [sgd, hot], [[], []]) == ["a (lr=0.5)", "b (lr=0.1)"]
    assert run_labels(["a", "b"], [sgd, sgd], [[], switched]) == ["a (sgd)", "b (sgd -> langevin -> sgd)"]
    assert run_labels(["a", "b"], [sgd, sgd], [[], []]) == ["a", "b"]  # the store names tell them apart


def test_the_tau_e_row_spans_the_first_t_w_to_the_last():
    """Aging is tau_e growing with t_w: with many t_w the row shows the first and the last, and says how many it left."""
    from glasslab.tui.analysis_table import tau_e_text

    tws = [10 * 2**k for k in range(12)]
    taus = [None] + [float(tw) / 2 for tw in tws[1:]]  # the first t_w never reached 1/e
    text = tau_e_text(tws, taus)
    assert text.startswith("t_w 20: 10, ") and "t_w 20,480: 1.02e+04" in text, text
    assert text.count("t_w ") == 6 and "(6 of 11 t_w; --json has all)" in text, text  # six pairs and the note
    assert tau_e_text(tws[:3], taus[:3]) == "t_w 20: 10, t_w 40: 20"
    assert tau_e_text(tws[:1], taus[:1]) == "not reached"
