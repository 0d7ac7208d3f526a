"""The figure of `glasslab analyze SWEEP_DIR --png`: ensemble curves with error bands, and the
per-group numbers against the swept axis (matplotlib, an optional extra).

Left: the ensemble mean of Delta(t_w, t_w + t) against t for three waiting times
per group (early, middle, late of the usable ones), with a band of one standard
error over seeds.  Then mu, the late slope of log Delta and the final train loss
against the first non-seed axis (N/P for model.width), with standard-error bars;
under a hinge loss also N_Delta / P, the fraction of unsatisfied constraints
([SG19]: it drops to 0 at the jamming point N*/P), on a linear axis.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glasslab.tui.figure import require_matplotlib


def _x(result: dict, g: dict) -> tuple[float, str]:
    axes = result["group_axes"]
    if not axes:
        return 0.0, "(one group)"
    if axes[0] == "model.width" and g.get("N_over_P"):
        return float(g["N_over_P"]), "N / P"
    return float(g["values"][axes[0]]), axes[0]


def sweep_figure(result: dict, out: str | Path) -> Path:
    plt = require_matplotlib()
    panels = [("mu", "aging exponent mu"), ("late_slope", "late slope of log Delta"), ("final_train_loss", "final train loss")]
    if result.get("has_n_delta"):
        panels.append(("N_Delta_over_P", "N_Delta / P (unsatisfied constraints)"))
    fig, ax = plt.subplots(1, 1 + len(panels), figsize=(4.75 * (1 + len(panels)), 4.6))
    cmap = plt.get_cmap("viridis")
    groups = result["groups"]
    for c, g in enumerate(groups):
        colour = cmap(c / max(len(groups) - 1, 1))
        steps, dm, ds = np.asarray(g["steps"], float), g["delta_mean"], g["delta_sem"]
        rows = [i for i in range(1, len(steps) - 1) if steps[i] <= steps[-1] / 2 and np.isfinite(dm[i, i + 1:]).any()]
        picks = sorted({rows[0], rows[len(rows) // 2], rows[-1]}) if rows else []
        name = " ".join(f"{a.rsplit('.', 1)[-1]}={g['values'][a]}" for a in result["group_axes"]) or "all"
        for k, i in enumerate(picks):
            lag = steps[i + 1:] - steps[i]
            mean, sem = dm[i, i + 1:], np.nan_to_num(ds[i, i + 1:], nan=0.0)
            ok = np.isfinite(mean) & (mean > 0)
            ax[0].loglog(lag[ok], mean[ok], ("-", "--", ":")[k], color=colour,
                         label=f"{name}, t_w={int(steps[i])} (n={g['n']})")
            ax[0].fill_between(lag[ok], np.maximum(mean[ok] - sem[ok], mean[ok] * 1e-3), mean[ok] + sem[ok],
                               color=colour, alpha=0.2, linewidth=0)
    ax[0].set(xlabel="t", ylabel=r"$\langle\Delta(t_w, t_w + t)\rangle$ over seeds", title="ensemble Delta (band: 1 s.e.)")
    ax[0].legend(fontsize=6)
    xs = [_x(result, g) for g in groups]
    xlabel = xs[0][1] if xs else ""
    for a, (key, title) in zip(ax[1:], panels):
        pts = [(x, g[key], g[f"{key}_sem"] or 0.0) for (x, _), g in zip(xs, groups) if g[key] is not None]
        if pts:
            x, y, e = map(np.asarray, zip(*sorted(pts)))
            a.errorbar(x, y, yerr=e, fmt="o-", capsize=3)
            if xlabel in ("N / P", "model.width") or (x > 0).all() and x.max() / max(x.min(), 1e-300) > 20:
                a.set_xscale("log")
        if key == "final_train_loss":
            a.set_yscale("log")
        a.set(xlabel=xlabel, title=title)
    fig.suptitle(f"sweep {Path(result['sweep']).name}: ensembles over {', '.join(result['seed_axes']) or 'no seed axis'}")
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
