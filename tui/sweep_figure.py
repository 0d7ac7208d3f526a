"""The figure of `glasslab analyze SWEEP_DIR --png`: ensemble curves with error bands, and the
per-group numbers against the swept axis (matplotlib, an optional extra).

Left: the ensemble mean of Delta(t_w, t_w + t) against t for three waiting times
per group (early, middle, late of the usable ones), with a band of one standard
error over seeds.  Then mu, the late slope of log Delta and the final train loss
against the first non-seed axis (N/P for model.width), with standard-error bars;
under a hinge loss also N_Delta / P, the fraction of unsatisfied constraints
([SG19]: it drops to 0 at the jamming point N*/P), on a linear axis.

A group mean of mu over points whose collapse fit stopped on an end of its mu
grid (core/analysis/collapse.py) is a bound, not a value: it is drawn open, with an arrow
away from the bound.  The legend sits below the panels, one entry per group
colour (at most MAX_GROUP_KEYS of them) and one per line style (the t_w), so
that it never covers a panel whatever the number of groups.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from glasslab.tui.figure import require_matplotlib

MAX_GROUP_KEYS = 8  # colour entries in the legend; the colour map runs in group order between them
STYLES = ("-", "--", ":")  # early, middle, late t_w


def _x(result: dict, g: dict) -> tuple[float, str]:
    axes = result["group_axes"]
    if not axes:
        return 0.0, "(one group)"
    if axes[0] == "model.width" and g.get("N_over_P"):
        return float(g["N_over_P"]), "N / P"
    return float(g["values"][axes[0]]), axes[0]


def log_ticks(axis, lo: float, hi: float) -> None:
    """Readable ticks on a log axis whose view is [lo, hi]: decades over more than two of them, else 1-2-5
    (or 1..9 inside 0.7 of one), labelled plainly (0.2, 5, 1e-05) and no minor labels.  Matplotlib's
    default labels every minor tick when the range holds less than a decade or two, and those
    labels (2x10^-1 3x10^-1 ...) run into each other."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    span = math.log10(hi / lo) if lo > 0 and hi > lo else 0.0
    subs = (1.0,) if span > 2 else (1.0, 2.0, 5.0) if span > 0.7 else tuple(float(k) for k in range(1, 10))
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _tw_picks(g: dict) -> list[int]:
    """Rows of three waiting times (early, middle, late) among those with Delta for t_w <= t_last / 2."""
    steps, dm = np.asarray(g["steps"], float), g["delta_mean"]
    rows = [i for i in range(1, len(steps) - 1) if steps[i] <= steps[-1] / 2 and np.isfinite(dm[i, i + 1:]).any()]
    return sorted({rows[0], rows[len(rows) // 2], rows[-1]}) if rows else []


def _delta_panel(a, result: dict, colours: list) -> list:
    """Delta against the lag per group; returns the t_w picks of each group."""
    picks_of = []
    for g, colour in zip(result["groups"], colours):
        steps, dm, ds = np.asarray(g["steps"], float), g["delta_mean"], g["delta_sem"]
        picks = _tw_picks(g)
        picks_of.append([int(steps[i]) for i in picks])
        for k, i in enumerate(picks):
            lag = steps[i + 1:] - steps[i]
            mean, sem = dm[i, i + 1:], np.nan_to_num(ds[i, i + 1:], nan=0.0)
            ok = np.isfinite(mean) & (mean > 0)
            a.loglog(lag[ok], mean[ok], STYLES[k], color=colour)
            a.fill_between(lag[ok], np.maximum(mean[ok] - sem[ok], mean[ok] * 1e-3), mean[ok] + sem[ok],
                           color=colour, alpha=0.2, linewidth=0)
    a.set(xlabel="t", ylabel=r"$\langle\Delta(t_w, t_w + t)\rangle$ over seeds", title="ensemble Delta (band: 1 s.e.)")
    return picks_of


def _legend_handles(result: dict, colours: list, picks_of: list, bound_sides: set) -> list:
    from matplotlib.lines import Line2D

    groups = result["groups"]
    shown = range(len(groups)) if len(groups) <= MAX_GROUP_KEYS else \
        sorted({int(k) for k in np.rint(np.linspace(0, len(groups) - 1, MAX_GROUP_KEYS))})
    handles = []
    for c in shown:
        g = groups[c]
        name = " ".join(f"{a.rsplit('.', 1)[-1]}={g['values'][a]}" for a in result["group_axes"]) or "all"
        handles.append(Line2D([], [], color=colours[c], lw=6, label=f"{name} (n={g['n']})"))
    if len(shown) < len(groups):
        handles.append(Line2D([], [], lw=0, label=f"(colour runs in order over all {len(groups)} groups)"))
    same = all(p == picks_of[0] for p in picks_of) if picks_of else False
    for k, word in enumerate(("early", "middle", "late")):
        if same and k < len(picks_of[0]):
            handles.append(Line2D([], [], color="0.3", ls=STYLES[k], label=f"t_w = {picks_of[0][k]:,}"))
        elif not same:
            handles.append(Line2D([], [], color="0.3", ls=STYLES[k], label=f"{word} usable t_w"))
    for side, what in (("upper", "arrow up: a lower bound"), ("lower", "arrow down: an upper bound")):
        if side in bound_sides or "both" in bound_sides:
            handles.append(Line2D([], [], color="C0", marker="o", mfc="white", ls="none",
                                  label=f"mu at the fit bound ({what})"))
    return handles


def _mu_bounds(a, pts: list) -> None:
    """Open markers with an arrow away from the bound for the groups whose mu is one (see module doc);
    the arrow reaches past the standard-error bar so that its head shows."""
    for x, y, e, side in pts:
        span = e + 0.06 * max(np.diff(a.get_ylim())[0], 1e-9)
        up = side == "upper"
        a.errorbar([x], [y], yerr=[[0.0 if up else span], [span if up else 0.0]], lolims=up, uplims=not up,
                   fmt="o", mfc="white", mec="C0", color="C0", capsize=3, zorder=3)


def build_figure(result: dict):
    """The matplotlib Figure (not saved): the panels of the module doc."""
    plt = require_matplotlib()
    panels = [("mu", "aging exponent mu"), ("late_slope", "late slope of log Delta"), ("final_train_loss", "final train loss")]
    if result.get("has_n_delta"):
        panels.append(("N_Delta_over_P", "N_Delta / P (unsatisfied constraints)"))
    fig, ax = plt.subplots(1, 1 + len(panels), figsize=(4.75 * (1 + len(panels)), 5.4), layout="constrained")
    groups = result["groups"]
    cmap = plt.get_cmap("viridis")
    colours = [cmap(c / max(len(groups) - 1, 1)) for c in range(len(groups))]
    picks_of = _delta_panel(ax[0], result, colours)
    xs = [_x(result, g) for g in groups]
    xlabel = xs[0][1] if xs else ""
    bound_sides = set()
    for a, (key, title) in zip(ax[1:], panels):
        pts = sorted((x, g[key], g[f"{key}_sem"] or 0.0, g.get("mu_at_bound") if key == "mu" else None)
                     for (x, _), g in zip(xs, groups) if g[key] is not None)
        if pts:
            x, y, e = (np.asarray([p[i] for p in pts], float) for i in range(3))
            bound = np.array([p[3] in ("upper", "lower") for p in pts])
            a.errorbar(x, y, yerr=e, fmt="-", color="C0", lw=1, capsize=3)  # a partly bound mean keeps its s.e.
            a.plot(x[~bound], y[~bound], "o", color="C0")
            if key == "final_train_loss" and (y > 0).any():
                a.set_yscale("log")
            _mu_bounds(a, [p for p in pts if p[3] in ("upper", "lower")])
            bound_sides |= {p[3] for p in pts if p[3]}
            if xlabel in ("N / P", "model.width") or (x > 0).all() and x.max() / max(x.min(), 1e-300) > 20:
                a.set_xscale("log")
        a.set(xlabel=xlabel, title=title)
    for a in ax:  # last: on the final view limits, error bars and margins included
        for axis, lims in ((a.xaxis, a.get_xlim()), (a.yaxis, a.get_ylim())):
            if axis.get_scale() == "log":
                log_ticks(axis, *sorted(lims))
    fig.legend(handles=_legend_handles(result, colours, picks_of, bound_sides), loc="outside lower center",
               ncol=min(6, len(groups) + 4), fontsize=8, frameon=False)
    fig.suptitle(f"sweep {Path(result['sweep']).name}: ensembles over {', '.join(result['seed_axes']) or 'no seed axis'}")
    return fig


def sweep_figure(result: dict, out: str | Path) -> Path:
    """Write build_figure(result) to `out` (PNG, 110 dpi); returns the path."""
    plt = require_matplotlib()
    fig = build_figure(result)
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
