"""The paper-style figure of `glasslab analyze --png` (matplotlib, an optional extra).

Three panels: Delta(t_w, t_w + t) against t on log-log axes, one colour per
t_w ([BJ18] Fig. 2 style); the train and test loss against t (with N_Delta / P,
the fraction of unsatisfied constraints, under a hinge loss [SG19]); Delta / D(t_w)
against t (the diffusive collapse).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glasslab.core.errors import BadInput


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
    from glasslab.core.analysis.report import load_two_time

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
    n_delta = ev.get("n_delta")
    if n_delta is not None and np.isfinite(n_delta).any() and t.attrs.get("train_size"):
        # [SG19]: the fraction of unsatisfied constraints, on its own axis (0..1)
        twin = ax[1].twinx()
        twin.semilogx(s, n_delta[1:] / t.attrs["train_size"], "k--", label=r"$N_\Delta / P$")
        twin.set(ylabel=r"$N_\Delta / P$", ylim=(0, 1.05))
        twin.legend(loc="center right")
    ax[2].set(xlabel="t", ylabel=r"$\Delta / D(t_w)$", title="diffusive collapse")
    if D is None or not np.isfinite(D).any():
        ax[2].text(0.5, 0.5, "no D recorded", ha="center", transform=ax[2].transAxes)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _row(steps: np.ndarray, tw: float | None) -> int:
    """Snapshot index of the waiting time closest to tw (default: the first non-zero snapshot)."""
    if tw is None:
        return 1
    return int(np.argmin(np.abs(np.log(np.maximum(steps, 1)) - np.log(max(tw, 1)))))


def _flat(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


IGNORED = ("run.name", "run.device", "run.threads", "description", "name")  # not physics


def dynamics_path(preset: dict, events: list[dict]) -> str:
    """The dynamics a run went through: 'sgd', or 'sgd -> langevin -> sgd' when it switched."""
    kinds = [preset.get("dynamics", {}).get("kind", "?")]
    kinds += [e.get("new", {}).get("kind", "?") for e in events if e.get("kind") == "dynamics_changed"]
    return " -> ".join(kinds)


def run_labels(stores: list[str], presets: list[dict], events: list[list[dict]]) -> list[str]:
    """One legend label per run: its store name, then what differs between the runs (preset fields by
    their last name, and the dynamics path when the runs switched differently).  Runs of the same
    preset that differ in nothing get their store names only."""
    flats = [_flat(p) for p in presets]
    keys = sorted({k for f in flats for k in f} - set(IGNORED))
    differ = [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]
    paths = [dynamics_path(p, e) for p, e in zip(presets, events)]
    labels = []
    for store, f, path in zip(stores, flats, paths):
        parts = [f"{k.split('.')[-1]}={f.get(k)!s}" for k in differ if k != "dynamics.kind"]
        if len(set(paths)) > 1 or "->" in path:
            parts.insert(0, path)
        labels.append(f"{store}" + (f" ({', '.join(parts)})" if parts else ""))
    return labels


def overlay_figure(paths: list[str | Path], out: str | Path, tw: float | None = None) -> Path:
    """Several runs side by side: loss, Delta(t_w, t_w + t), Q(t) and Q against t / tau_e.

    The last panel is [KWJ24]'s time-temperature superposition when the runs
    differ only by temperature.  Colours follow the order of the runs; each is labelled by its store
    name and what differs between the runs (run_labels); dynamics switches are dashed lines.
    """
    plt = require_matplotlib()
    from glasslab.core.analysis import relaxation
    from glasslab.core.analysis.report import load_two_time

    fig, ax = plt.subplots(1, 4, figsize=(19, 4.6))
    loaded = [load_two_time(Path(path)) for path in paths]
    labels = run_labels([Path(path).stem for path in paths], [t.preset for t, _ in loaded],
                        [list(t.events) for t, _ in loaded])
    for c, ((t, mats), label) in enumerate(zip(loaded, labels)):
        steps = t.steps.astype(float)
        i = _row(steps, tw)
        colour = f"C{c % 10}"
        ax[0].semilogx(steps[1:], t.evals()["train_loss"][1:], color=colour, label=label)
        for e in t.events:  # a dynamics switch: a dashed line in the run's colour, named at the top
            if e.get("kind") == "dynamics_changed" and e["step"] > 0:
                ax[0].axvline(e["step"], color=colour, ls="--", lw=0.8)
                ax[0].annotate(e.get("new", {}).get("kind", "?"), (e["step"], 1), xycoords=("data", "axes fraction"),
                               color=colour, fontsize=7, rotation=90, va="top", ha="right")
        lag = steps[i + 1:] - steps[i]
        d = mats["msd"][i, i + 1:]
        ok = np.isfinite(d) & (d > 0)
        ax[1].loglog(lag[ok], d[ok], color=colour)
        q = mats["overlap"][i, i + 1:]
        ax[2].semilogx(lag, q, color=colour)
        tau = relaxation.relaxation_times(steps, mats["overlap"])
        tau_e = dict(zip(tau["tw"], tau["tau_e"])).get(steps[i])
        if tau_e is not None and np.isfinite(tau_e):
            ax[3].semilogx(lag / tau_e, q, color=colour, label=f"{label}: tau_e = {tau_e:.3g}")
    ax[0].set(xlabel="t", ylabel="train loss", title="loss")
    ax[0].legend(fontsize=7)
    ax[1].set(xlabel="t", ylabel=r"$\Delta(t_w, t_w + t)$", title=f"MSD at t_w = {int(steps[i])}")
    ax[2].set(xlabel="t", ylabel="Q", title="overlap", ylim=(-0.02, 1.02))
    ax[2].axhline(1 / np.e, color="grey", lw=0.5)
    ax[3].set(xlabel=r"$t / \tau_e$", ylabel="Q", title="time-temperature superposition", ylim=(-0.02, 1.02))
    if ax[3].lines:
        ax[3].legend(fontsize=7)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
