"""Issue 15's tables and figures from the two sweeps (REPRODUCTION.md, "The over/under-parametrised transition").

    python docs/transition_study.py jamming SWEEP_DIR... [--png docs/figures/transition-jamming.png] [--json FILE]
    python docs/transition_study.py aging   SWEEP_DIR... [--png docs/figures/transition-aging.png]   [--json FILE]

`glasslab analyze SWEEP_DIR` gives the ensemble table of the sweep (mu over all
t_w, the late slope, the final loss, with standard errors over seeds).  The
transition study needs three more numbers per point, read here from each
point's store with core/analysis/report.py's own analysis (so the definitions are those
of docs/science.md): N_Delta / P [SG19], the late-t_w mu on Delta and on
Delta / D(t_w) [BJ18], and the loss trend that decides whether a run "has
stopped".  Per width: mean and standard error over the seeds (std(ddof=1) / sqrt(n)).

Stop rules (the presets' comments say why):
  jamming: N_Delta = 0, or train loss < 1e-12 (the float32 floor of the quadratic
           hinge), or a change < 1 % between the snapshots nearest t_max / 2 and t_max;
  aging:   the train loss dropped by < 10 % between the snapshots nearest t_max / 2 and t_max.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from glasslab.core.analysis import report
from glasslab.core.config import presets
from glasslab.core.sweep import manifest
from glasslab.core.train.run import Run


def mean_sem(values) -> tuple[float | None, float | None]:
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return None, None
    return float(v.mean()), (float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else None)


def _half_way(steps: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """(value at the snapshot nearest t_max / 2, value at t_max)."""
    i = int(np.argmin(np.abs(steps - steps[-1] / 2)))
    return float(values[i]), float(values[-1])


def final_gaps(t) -> np.ndarray:
    """1 - y f(x) on the P training samples at the last snapshot (the model rebuilt from the stored preset)."""
    run = Run(presets.from_stored(t.preset))
    with torch.no_grad():
        run.flat.w.copy_(torch.from_numpy(np.asarray(t.snapshot(-1))).to(run.flat.w))
        out = run.model(run.data.x_train)
        return (1 - run.data.y_train.to(out.dtype) * out[:, 0]).numpy()


def point(path: Path, kind: str) -> dict:
    t, mats = report.load_two_time(path)
    r = report.analyze_store(path, n_boot=100)
    steps, ev = np.asarray(t.steps, float), t.evals()
    loss = np.asarray(ev["train_loss"], float)
    half, last = _half_way(steps, loss)
    change = abs(last - half) / half if half > 0 else 0.0
    row = {"N": r["n_params"], "P": r["train_size"], "last_step": r["last_step"], "loss": last,
           "loss_half": half, "loss_change": change, "train_acc": r["final"].get("train_acc"),
           "steps": steps, "loss_curve": loss}
    if kind == "jamming":
        nd = np.asarray(ev["n_delta"], float)
        gaps = final_gaps(t)
        # N_Delta counts y f < 1 exactly; under the quadratic hinge the last constraints close
        # geometrically, so at a finite t many sit at gaps ~1e-5.  The counts at a tolerance
        # separate those from constraints that are really violated (docs/science.md, section 6).
        row.update(n_delta=float(nd[-1]), n_delta_P=float(nd[-1]) / r["train_size"], n_delta_curve=nd / r["train_size"],
                   n_delta_1e3_P=float((gaps > 1e-3).sum()) / r["train_size"],
                   n_delta_1e1_P=float((gaps > 0.1).sum()) / r["train_size"],
                   wrong_P=float((gaps > 1).sum()) / r["train_size"], max_gap=float(gaps.max()))
        row["stopped"] = ("N_Delta = 0" if nd[-1] == 0 else "loss < 1e-12" if last < 1e-12
                          else "flat (< 1 %)" if change < 0.01 else "no")
        return row
    # The loss trend of the late run: its drop over each of the last three doublings of t.
    at = [float(loss[int(np.argmin(np.abs(steps - steps[-1] / 2 ** k)))]) for k in (3, 2, 1, 0)]
    row["drops"] = [1 - at[k + 1] / at[k] for k in range(3)]
    a, v = r["analysis"], r["analysis"]["verdict"]
    D = t.array("observables/D")
    row.update(mu_all=a["aging"]["all"]["mu"], mu_late=v["mu_late"], mu_late_err=v["mu_late_err"],
               mu_late_D=v["mu_late_scaled"], mu_late_D_err=v["mu_late_scaled_err"],
               slope=a["late_slope"]["slope"], slope_late_tw=a["late_tw_slope"]["slope"],
               collapse=a["diffusion_collapse"]["ratio"], verdict=v["label"],
               stopped="flat (< 10 %)" if (half - last) / half < 0.10 else "no",
               msd=np.asarray(mats["msd"], float), D=np.asarray(D, float))
    return row


def study(sweep_dirs: list[Path], kind: str) -> dict:
    """Per width over the finished points of one or more sweeps of the same preset (e.g. a grid run in two parts)."""
    by_width: dict[int, list[dict]] = {}
    total = 0
    for sweep_dir in sweep_dirs:
        total += _collect(sweep_dir, kind, by_width)
    return _groups(by_width, kind, ", ".join(str(d) for d in sweep_dirs), total)


def _collect(sweep_dir: Path, kind: str, by_width: dict) -> int:
    m = manifest.read(sweep_dir)
    for p in m["points"]:
        path = sweep_dir / p["store"]
        if p["state"] != "finished" or not path.exists():
            continue  # a partial study says which points it lacks (the 'n' column)
        row = point(path, kind)
        row["seed"] = p["overrides"].get("run.seed")
        by_width.setdefault(int(p["overrides"]["model.width"]), []).append(row)
    return len(m["points"])


def _groups(by_width: dict, kind: str, name: str, total: int) -> dict:
    groups = []
    for w in sorted(by_width):
        rows = by_width[w]
        g = {"width": w, "n": len(rows), "N": rows[0]["N"], "P": rows[0]["P"], "N_over_P": rows[0]["N"] / rows[0]["P"],
             "seeds": [r["seed"] for r in rows], "stopped": [r["stopped"] for r in rows]}
        keys = ("loss", "loss_change", "train_acc") + (("n_delta_P", "n_delta_1e3_P", "n_delta_1e1_P", "wrong_P", "max_gap")
                                                       if kind == "jamming" else
                                                       ("mu_all", "mu_late", "mu_late_D", "slope", "slope_late_tw", "collapse"))
        for k in keys:
            g[k], g[k + "_sem"] = mean_sem(r[k] for r in rows)
            g[k + "_per_seed"] = [r[k] for r in rows]
        if kind == "jamming":
            g["log10_loss"], g["log10_loss_sem"] = mean_sem(math.log10(max(r["loss"], 1e-30)) for r in rows)
        else:
            g["mu_late_err_per_seed"] = [r["mu_late_err"] for r in rows]
            g["mu_late_D_err_per_seed"] = [r["mu_late_D_err"] for r in rows]
            g["verdicts"] = [r["verdict"] for r in rows]
            g["drops"] = [mean_sem(r["drops"][k] for r in rows) for k in range(3)]
        g["_rows"] = rows
        groups.append(g)
    return {"sweep": name, "kind": kind, "groups": groups, "points_total": total}


def fmt(v, sem=None, digits=3) -> str:
    if v is None:
        return "-"
    s = f"{v:.{digits}g}"
    return s if sem is None else f"{s} +- {sem:.2g}"


def table(res: dict) -> str:
    lines = []
    if res["kind"] == "jamming":
        lines.append("| width | N | N/P | seeds | final train loss (per seed) | log10 loss | N_Delta / P | "
                     "gap > 1e-3, / P | gap > 0.1, / P | largest gap (per seed) | stopped (per seed) |")
        lines.append("| ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- | --- |")
        for g in res["groups"]:
            lines.append(f"| {g['width']} | {g['N']:,} | {g['N_over_P']:.3g} | {g['n']} | "
                         f"{', '.join(f'{x:.2g}' for x in g['loss_per_seed'])} | {fmt(g['log10_loss'], g['log10_loss_sem'])} | "
                         f"{fmt(g['n_delta_P'], g['n_delta_P_sem'])} | {fmt(g['n_delta_1e3_P'], g['n_delta_1e3_P_sem'])} | "
                         f"{fmt(g['n_delta_1e1_P'], g['n_delta_1e1_P_sem'])} | {', '.join(f'{x:.2g}' for x in g['max_gap_per_seed'])} | "
                         f"{', '.join(g['stopped'])} |")
    else:
        lines.append("| width | N | N/P | seeds | final train loss | loss drop t_max/2 -> t_max | mu late (Delta) | mu late (Delta/D) "
                     "| late slope (t >> t_w) | late slope (late t_w) | Delta/D collapse ratio | verdicts |")
        lines.append("| ---: | ---: | ---: | ---: | --- | --- | --- | --- | --- | --- | --- | --- |")
        for g in res["groups"]:
            lines.append(f"| {g['width']} | {g['N']:,} | {g['N_over_P']:.3g} | {g['n']} | {fmt(g['loss'], g['loss_sem'])} | "
                         f"{fmt(g['loss_change'], g['loss_change_sem'], 2)} | {fmt(g['mu_late'], g['mu_late_sem'])} | "
                         f"{fmt(g['mu_late_D'], g['mu_late_D_sem'])} | {fmt(g['slope'], g['slope_sem'])} | "
                         f"{fmt(g['slope_late_tw'], g['slope_late_tw_sem'])} | {fmt(g['collapse'], g['collapse_sem'], 2)} | "
                         f"{', '.join(g['verdicts'])} |")
        lines.append("")
        lines.append("loss drop per doubling of t, over (t_max/8, t_max/4), (t_max/4, t_max/2), (t_max/2, t_max):")
        for g in res["groups"]:
            lines.append(f"  width {g['width']}: " + ", ".join(fmt(m, e, 2) for m, e in g["drops"]))
    return "\n".join(lines)


def _curves_panel(ax, g: dict, scalings: tuple[bool, ...]) -> None:
    """Ensemble Delta (scaled False) and/or Delta / D(t_w) (True) of one width against the lag t, for
    waiting times spread over the fits' range (a decade apart, the last at t_max / 2); band: 1 s.e."""
    rows = g["_rows"]
    steps = rows[0]["steps"]
    k = len(steps)
    picks = sorted({int(np.argmin(np.abs(steps - steps[-1] * f))) for f in (2e-3, 2e-2, 0.1, 0.5)})
    picks = [i for i in picks if 0 < i < k - 1]
    for j, i in enumerate(picks):
        lag = steps[i + 1:] - steps[i]
        for scaled in scalings:
            curves = [r["msd"][i, i + 1:] / (r["D"][i] if scaled else 1.0) for r in rows]
            mean = np.nanmean(curves, axis=0)
            sem = np.nanstd(curves, axis=0, ddof=1) / math.sqrt(len(curves)) if len(curves) > 1 else 0 * mean
            ls = "--" if scaled and len(scalings) > 1 else "-"
            ax.loglog(lag, mean, ls, color=f"C{j}", label=f"t_w={int(steps[i])}" + (
                "" if len(scalings) == 1 else " Delta/D" if scaled else " Delta"))
            ax.fill_between(lag, np.maximum(mean - sem, mean * 1e-3), mean + sem, color=f"C{j}", alpha=0.2, lw=0)
    ax.set(xlabel="t")
    ax.legend(fontsize=6)


def curves_figure(res: dict, out: Path) -> None:
    """Part 2's curves for every width: Delta (top row) and Delta / D(t_w) (bottom row), seed means."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gs = res["groups"]
    fig, ax = plt.subplots(2, len(gs), figsize=(2.6 * len(gs), 5.6), squeeze=False)
    for col, g in enumerate(gs):
        _curves_panel(ax[0, col], g, (False,))
        _curves_panel(ax[1, col], g, (True,))
        ax[0, col].set(title=f"width {g['width']}, N/P={g['N_over_P']:.2g}")
        ax[1, col].set(title=f"mu late, Delta/D: {g['mu_late_D']:.2f}")
    ax[0, 0].set_ylabel("Delta(t_w, t_w + t)")
    ax[1, 0].set_ylabel("Delta / D(t_w)")
    fig.suptitle(f"{', '.join(Path(d).name for d in res['sweep'].split(', '))}: ensemble means over "
                 f"{gs[0]['n']} seeds (band: 1 s.e.); lag t on x")
    fig.tight_layout()
    fig.savefig(out, dpi=72)
    plt.close(fig)


def figure(res: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gs = res["groups"]
    x = np.array([g["N_over_P"] for g in gs])
    cmap = plt.get_cmap("viridis")
    colour = {g["width"]: cmap(i / max(len(gs) - 1, 1)) for i, g in enumerate(gs)}
    if res["kind"] == "jamming":
        fig, ax = plt.subplots(1, 3, figsize=(13, 3.8))
        for g in gs:
            for r in g["_rows"]:
                ax[0].loglog(r["steps"][1:], np.maximum(r["loss_curve"][1:], 1e-16), color=colour[g["width"]], lw=0.8,
                             label=f"N/P={g['N_over_P']:.2g}" if r is g["_rows"][0] else None)
                ax[1].scatter(g["N_over_P"], max(r["loss"], 1e-16), color="C0", s=12)
                ax[2].scatter(g["N_over_P"], r["n_delta_P"], color="C1", s=12)
        ax[0].set(xlabel="t (GD steps)", ylabel="train loss (floored at 1e-16)", title="loss per run")
        ax[0].legend(fontsize=6, ncol=2)
        ax[1].plot(x, [10 ** g["log10_loss"] for g in gs], "k-", lw=1)
        ax[1].set(xscale="log", yscale="log", xlabel="N / P", ylabel="final train loss (floored at 1e-16)",
                  title="final loss: seeds and geometric mean")
        for key, lab, ls in (("n_delta_P", "y f < 1 (N_Delta)", "k-"), ("n_delta_1e3_P", "1 - y f > 1e-3", "C2--"),
                             ("n_delta_1e1_P", "1 - y f > 0.1", "C3:")):
            ax[2].errorbar(x, [g[key] for g in gs], yerr=[g[key + "_sem"] or 0 for g in gs], fmt=ls, capsize=3, label=lab)
        ax[2].legend(fontsize=7)
        ax[2].set(xscale="log", xlabel="N / P", ylabel="N_Delta / P", title="unsatisfied constraints [SG19]")
    else:
        fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
        for col, g in ((0, gs[0]), (1, gs[-1])):
            _curves_panel(ax[col], g, (False, True))
            ax[col].set(title=f"width {g['width']} (N/P={g['N_over_P']:.2g}), mean of {g['n']} seeds")
        for key, lab, c in (("mu_late", "late mu on Delta", "C0"), ("mu_late_D", "late mu on Delta/D", "C1")):
            ax[2].errorbar(x, [g[key] for g in gs], yerr=[g[key + "_sem"] or 0 for g in gs], fmt="o-", capsize=3, color=c, label=lab)
        ax[2].axhline(0, color="grey", lw=0.6)
        ax[2].set(xscale="log", xlabel="N / P", title="late-t_w aging exponent (mean +- s.e., seeds)")
        ax[2].legend(fontsize=7)
        ax[3].errorbar(x, [g["loss"] for g in gs], yerr=[g["loss_sem"] or 0 for g in gs], fmt="o-", capsize=3, label="final train loss")
        ax3 = ax[3].twinx()
        ax3.errorbar(x, [g["slope"] for g in gs], yerr=[g["slope_sem"] or 0 for g in gs], fmt="s--", color="C3", capsize=3)
        ax3.set_ylabel("late slope of log Delta", color="C3")
        ax[3].set(xscale="log", yscale="log", xlabel="N / P", ylabel="final train loss", title="loss and late slope")
    fig.suptitle(f"{', '.join(Path(d).name for d in res['sweep'].split(', '))}: "
                 f"{sum(g['n'] for g in gs)} of {res['points_total']} points finished")
    fig.tight_layout()
    fig.savefig(out, dpi=72)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("jamming", "aging"))
    ap.add_argument("sweep_dir", type=Path, nargs="+")
    ap.add_argument("--png", type=Path)
    ap.add_argument("--curves-png", type=Path, help="aging: Delta and Delta/D(t_w) of every width (seed means)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    for d in a.sweep_dir:
        if not (d / "sweep.json").exists():
            print(f"{d} is not a sweep directory (no sweep.json)", file=sys.stderr)
            return 2
    res = study(a.sweep_dir, a.kind)
    print(table(res))
    if a.png:
        figure(res, a.png)
    if a.curves_png and a.kind == "aging":
        curves_figure(res, a.curves_png)
    if a.json:
        def clean(v):
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items() if not k.startswith("_")}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return float(v) if isinstance(v, (np.floating, float)) else v
        a.json.write_text(json.dumps(clean(res), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
