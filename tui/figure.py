"""The paper-style figures of `glasslab analyze --png` and `glasslab overlay --png` (matplotlib, an
optional extra).

analyze: three panels, Delta(t_w, t_w + t) against t on log-log axes, one colour per t_w ([BJ18]
Fig. 2 style); the train and test loss against t (with N_Delta / P, the fraction of unsatisfied
constraints, under a hinge loss [SG19]); Delta / D(t_w) against t (the diffusive collapse).  Each
panel's title says what the analysis found on it, and a suptitle line carries the verdict and mu
with its interval, so the figure stands on a slide without the table beside it.  The legends sit
outside the panels (constrained layout reserves room for them), never on the data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glasslab.core.errors import BadInput
from glasslab.core.records import DynamicsChanged
from glasslab.core.store import codec


def require_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BadInput("--png needs matplotlib: pip install 'glasslab[plot]' (or pip install matplotlib)") from None
    return plt


# ------------------------------------------------------------ what the titles say ---

def _iv(iv) -> str:
    return f"[{iv[0]:.2f}, {iv[1]:.2f}]"


def mu_words(result: dict, name: str = "all") -> str:
    """'mu = 0.64, interval [0.50, 0.80]' of one fit window, or why there is no number."""
    a = result.get("analysis") or {}
    fit, est = (a.get("aging") or {}).get(name), (a.get("estimates") or {}).get(name)
    if not fit or fit.get("mu") is None:
        return "no mu"
    if fit.get("at_bound"):
        return f"mu at the fit bound ({fit['mu']:.2f}): no measurement"
    if est and est.get("interval") and None not in est["interval"]:
        return f"mu = {fit['mu']:.2f}, interval {_iv(est['interval'])}"
    return f"mu = {fit['mu']:.2f}"


def verdict_line(result: dict) -> str:
    """The suptitle's second line: 'verdict: aging; mu = 0.64, interval [0.50, 0.80]'."""
    a = result.get("analysis")
    if not a:
        return f"no verdict: {result.get('analysis_error', 'no analysis')}"
    from glasslab.core.analysis.verdict_rule import verdict_text

    line = f"verdict: {verdict_text(a['verdict'])}; {mu_words(result)}"
    if result.get("switches"):
        line += f"; the run switched its dynamics ({len(result['switches'])}x)"
    return line


def run_line(result: dict) -> str:
    """The suptitle's first line: the run, its status and where it stopped."""
    status = result.get("status") or "?"
    return f"{result.get('name') or Path(result.get('run', '?')).stem}: {status}, last snapshot at step {result['last_step']:,}"


def msd_title(result: dict) -> str:
    a = result.get("analysis")
    if not a:
        return r"$\Delta(t_w, t_w + t)$: no aging fit"
    s = (a.get("late_slope") or {}).get("slope")
    slope = f", late slope {s:.2f}" if s is not None else ""
    return rf"$\Delta(t_w, t_w + t)$: {mu_words(result)}{slope}"


def loss_title(result: dict) -> str:
    lp = (result.get("analysis") or {}).get("loss")
    if not lp or lp.get("rel_drop") is None:
        return "loss"
    how = "still falling" if lp["still_falling"] else "on a plateau"
    return f"loss: {how} ({-100 * lp['rel_drop']:+.0f}% over the last decade)"


def collapse_title(result: dict) -> str:
    """The Delta/D(t_w) panel's title: the table row's phrase (verdict_rule.collapse_reading's words:
    'collapses within the error: spread 0.088 decade (Delta: 0.71), ratio 0.0156; late t_w ...'),
    or why there is none."""
    a = result.get("analysis")
    dc = a.get("diffusion_collapse") if a else None
    head = r"$\Delta / D(t_w)$: "
    if a is None:
        return head + "not measured (no analysis)"
    if dc is None:
        return head + "not measured (no D recorded)"
    words = dc.get("words") or "no ratio"
    said, _, rest = words.partition(": ")  # what it says; the numbers; which curves (the table's words)
    return head + said + "".join("\n" + part for part in rest.split("; ") if part)


# ------------------------------------------------------------------- analyze --png ---

def build_paper_figure(path: str | Path, result: dict | None = None, max_curves: int = 12):
    """The matplotlib Figure of `analyze --png` (not saved).  result: report.analyze_store(path)'s dict
    (computed here when not given); the titles and the verdict line are read from it."""
    plt = require_matplotlib()
    from glasslab.core.analysis.report import analyze_store, load_two_time

    if result is None:
        result = analyze_store(path)
    t, mats = load_two_time(Path(path))
    steps = t.steps.astype(float)
    msd = mats["msd"]
    D = t.array("observables/D")
    ev = t.evals()
    rows = [i for i in range(1, len(steps) - 1) if np.isfinite(msd[i, i + 1:]).any() and steps[i] <= steps[-1] / 2]
    if len(rows) > max_curves:
        rows = [rows[int(k)] for k in np.rint(np.linspace(0, len(rows) - 1, max_curves))]
    fig, ax = plt.subplots(1, 3, figsize=(16, 5.0), layout="constrained")
    cmap = plt.get_cmap("viridis")
    for c, i in enumerate(rows):
        lag = steps[i + 1:] - steps[i]
        d = msd[i, i + 1:]
        ok = np.isfinite(d) & (d > 0)
        colour = cmap(c / max(len(rows) - 1, 1))
        ax[0].loglog(lag[ok], d[ok], "-", color=colour, label=f"t_w = {int(steps[i]):,}")
        if D is not None and np.isfinite(D[i]) and D[i] > 0:
            ax[2].loglog(lag[ok], d[ok] / D[i], "-", color=colour, lw=0.8, alpha=0.35)
    # In bold: the curves the title's numbers are about (the late t_w, on the fits' lag window), so the
    # eye judges the same overlap the words claim.
    dc = (result.get("analysis") or {}).get("diffusion_collapse") or {}
    lag_all = (result.get("analysis") or {}).get("lag_max") == "all"
    for c, tw in enumerate(dc.get("tw") or []):
        i = int(np.searchsorted(steps, tw))
        if D is None or i >= len(steps) or steps[i] != tw or not (np.isfinite(D[i]) and D[i] > 0):
            continue
        lag, d = steps[i + 1:] - steps[i], msd[i, i + 1:]
        ok = np.isfinite(d) & (d > 0) & ((lag <= steps[i]) | lag_all)
        ax[2].loglog(lag[ok], d[ok] / D[i], "-", lw=2.0, color=cmap(0.5 + 0.5 * c / max(len(dc["tw"]) - 1, 1)))
    ax[0].set(xlabel="t", ylabel=r"$\Delta(t_w, t_w + t)$", title=msd_title(result))
    s = steps[1:]
    loss_lines = ax[1].semilogx(s, ev["train_loss"][1:], label="train loss")
    loss_lines += ax[1].semilogx(s, ev["test_loss"][1:], label="test loss")
    ax[1].set(xlabel="t", ylabel="loss", title=loss_title(result))
    n_delta = ev.get("n_delta")
    if n_delta is not None and np.isfinite(n_delta).any() and t.attrs.get("train_size"):
        # [SG19]: the fraction of unsatisfied constraints, on its own axis (0..1)
        twin = ax[1].twinx()
        loss_lines += twin.semilogx(s, n_delta[1:] / t.attrs["train_size"], "k--", label=r"$N_\Delta / P$")
        twin.set(ylabel=r"$N_\Delta / P$", ylim=(0, 1.05))
    ax[2].set(xlabel="t", ylabel=r"$\Delta / D(t_w)$", title=collapse_title(result))
    ax[2].title.set_fontsize(9)
    if D is None or not np.isfinite(D).any():
        ax[2].text(0.5, 0.5, "no D recorded", ha="center", transform=ax[2].transAxes)
    # Off the data: constrained layout makes room right of the panels for both legends.
    if ax[0].lines:
        fig.legend(handles=ax[0].lines, loc="outside right upper", fontsize=7, title="t_w (panels 1, 3)",
                   title_fontsize=8)
    fig.legend(handles=loss_lines, loc="outside right lower", fontsize=7, title="panel 2", title_fontsize=8)
    fig.suptitle(f"{run_line(result)}\n{verdict_line(result)}", fontsize=11)
    return fig


def paper_figure(path: str | Path, out: str | Path, result: dict | None = None, max_curves: int = 12) -> Path:
    """Write build_paper_figure to `out` (PNG, 110 dpi); returns the path."""
    plt = require_matplotlib()
    fig = build_paper_figure(path, result, max_curves)
    out = Path(out)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


# ------------------------------------------------------------------- overlay --png ---

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
# The planned length says nothing of the data: a run stopped at 8,080 of 150,000 planned steps is
# labelled by where it stopped (run_labels' `ends`), never by the plan.
PLANNED = ("run.steps",)


def dynamics_path(preset: dict, switches: list[DynamicsChanged]) -> str:
    """The dynamics a run went through: its kind, or the kinds joined by ' -> ' when it switched.
    switches: its dynamics switches (core.store.codec.switches of its events)."""
    kinds = [preset.get("dynamics", {}).get("kind", "?")]
    kinds += [r.new.kind for r in switches]
    return " -> ".join(kinds)


def end_words(last_step: int, status: str) -> str:
    """Where a run's data ends: 'to step 8,080, interrupted' ('to step 150,000' when finished)."""
    return f"to step {last_step:,}" + ("" if status == "finished" else f", {status}")


def run_labels(stores: list[str], presets: list[dict], switches: list[list[DynamicsChanged]],
               ends: list[tuple[int, str]] | None = None) -> list[str]:
    """One legend label per run: its store name, then what differs between the runs (preset fields by
    their last name, and the dynamics path when the runs switched differently), then where its data
    ends when `ends` (last committed snapshot step, status) is given.  The planned run.steps is never
    shown.  Runs of the same preset that differ in nothing get their store names (and ends) only."""
    flats = [_flat(p) for p in presets]
    keys = sorted({k for f in flats for k in f} - set(IGNORED) - set(PLANNED))
    differ = [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]
    paths = [dynamics_path(p, s) for p, s in zip(presets, switches)]
    labels = []
    for n, (store, f, path) in enumerate(zip(stores, flats, paths)):
        parts = [f"{k.split('.')[-1]}={f.get(k)!s}" for k in differ if k != "dynamics.kind"]
        if len(set(paths)) > 1 or "->" in path:
            parts.insert(0, path)
        what = ", ".join(parts)
        if ends is not None:
            what = "; ".join(x for x in (what, end_words(*ends[n])) if x)
        labels.append(f"{store}" + (f" ({what})" if what else ""))
    return labels


def last_written_step(t) -> int:
    """The step of the last committed snapshot actually written (rows of step -1 were never written)."""
    steps = np.asarray(t.steps)
    steps = steps[steps >= 0]
    return int(steps.max()) if steps.size else 0


def build_overlay_figure(paths: list[str | Path], tw: float | None = None):
    """Several runs side by side (the Figure, not saved): loss, Delta(t_w, t_w + t), Q(t) and Q against
    t / tau_e.

    The last panel is [KWJ24]'s time-temperature superposition when the runs
    differ only by temperature.  Colours follow the order of the runs; each is labelled by its store
    name, what differs between the runs and where its data ends (run_labels), in one legend right of
    the panels; dynamics switches are dashed lines.
    """
    plt = require_matplotlib()
    from glasslab.core.analysis import relaxation
    from glasslab.core.analysis.report import load_two_time

    fig, ax = plt.subplots(1, 4, figsize=(20, 4.8), layout="constrained")
    loaded = [load_two_time(Path(path)) for path in paths]
    labels = run_labels([Path(path).stem for path in paths], [t.preset for t, _ in loaded],
                        [codec.switches(t.events) for t, _ in loaded],
                        [(last_written_step(t), t.status) for t, _ in loaded])
    handles, tws = [], []
    for c, ((t, mats), label) in enumerate(zip(loaded, labels)):
        steps = t.steps.astype(float)
        i = _row(steps, tw)
        tws.append(int(steps[i]))
        colour = f"C{c % 10}"
        (line,) = ax[0].semilogx(steps[1:], t.evals()["train_loss"][1:], color=colour)
        for r in codec.switches(t.events):  # a dynamics switch: a dashed line in the run's colour, named at the top
            if r.step > 0:
                ax[0].axvline(r.step, color=colour, ls="--", lw=0.8)
                ax[0].annotate(r.new.kind, (r.step, 1), xycoords=("data", "axes fraction"),
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
            ax[3].semilogx(lag / tau_e, q, color=colour)
            label += f"; tau_e = {tau_e:.3g}"
        line.set_label(label)
        handles.append(line)
    at = f"t_w = {tws[0]:,}" if len(set(tws)) == 1 else "t_w = " + " / ".join(f"{x:,}" for x in tws)
    ax[0].set(xlabel="t", ylabel="train loss", title="train loss")
    ax[1].set(xlabel="t", ylabel=r"$\Delta(t_w, t_w + t)$", title=f"MSD at {at}")
    ax[2].set(xlabel="t", ylabel="Q", title=f"overlap at {at}", ylim=(-0.02, 1.02))
    ax[2].axhline(1 / np.e, color="grey", lw=0.5)
    tts = "time-temperature superposition" if ax[3].lines else "no run's Q reached 1/e: no tau_e"
    ax[3].set(xlabel=r"$t / \tau_e$", ylabel="Q", title=tts, ylim=(-0.02, 1.02))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 2), fontsize=8, frameon=False)
    return fig


def overlay_figure(paths: list[str | Path], out: str | Path, tw: float | None = None) -> Path:
    """Write build_overlay_figure to `out` (PNG, 100 dpi); returns the path."""
    plt = require_matplotlib()
    fig = build_overlay_figure(paths, tw)
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
