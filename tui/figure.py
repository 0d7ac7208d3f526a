"""The paper-style figure of `glasslab analyze --png` (matplotlib, an optional extra).

Three panels: Delta(t_w, t_w + t) against t on log-log axes, one colour per
t_w ([BJ18] Fig. 2 style); the train and test loss against t; Delta / D(t_w)
against t (the diffusive collapse).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import BadInput


def require_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BadInput("--png needs matplotlib: pip install 'glasslab[plot]' (or pip install matplotlib)") from None
    return plt


def paper_figure(path: str | Path, out: str | Path, max_curves: int = 12) -> Path:
    plt = require_matplotlib()
    from core.report import load_two_time

    t, mats = load_two_time(Path(path))
    steps = t.steps.astype(float)
    msd = mats["msd"]
    D = t.array("observables/D")
    ev = t.evals()
    rows = [i for i in range(1, len(steps) - 1) if np.isfinite(msd[i, i + 1:]).any() and steps[i] <= steps[-1] / 2]
    if len(rows) > max_curves:
        rows = [rows[int(k)] for k in np.rint(np.linspace(0, len(rows) - 1, max_curves))]
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.6))
    cmap = plt.get_cmap("viridis")
    for c, i in enumerate(rows):
        lag = steps[i + 1:] - steps[i]
        d = msd[i, i + 1:]
        ok = np.isfinite(d) & (d > 0)
        colour = cmap(c / max(len(rows) - 1, 1))
        ax[0].loglog(lag[ok], d[ok], "-", color=colour, label=f"t_w = {int(steps[i])}")
        if D is not None and np.isfinite(D[i]) and D[i] > 0:
            ax[2].loglog(lag[ok], d[ok] / D[i], "-", color=colour)
    ax[0].set(xlabel="t", ylabel=r"$\Delta(t_w, t_w + t)$", title=f"{t.attrs.get('name')}: mean square displacement")
    ax[0].legend(fontsize=7, ncol=2)
    s = steps[1:]
    ax[1].semilogx(s, ev["train_loss"][1:], label="train")
    ax[1].semilogx(s, ev["test_loss"][1:], label="test")
    ax[1].set(xlabel="t", ylabel="loss", title="loss")
    ax[1].legend()
    ax[2].set(xlabel="t", ylabel=r"$\Delta / D(t_w)$", title="diffusive collapse")
    if D is None or not np.isfinite(D).any():
        ax[2].text(0.5, 0.5, "no D recorded", ha="center", transform=ax[2].transAxes)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
