"""Issue 29's tables and figure from one sweep per sampler (REPRODUCTION.md, "Over the line, in the noise regime").

    python docs/replica_study.py reshuffle=SWEEP_DIR[,SWEEP_DIR...] replacement=SWEEP_DIR [--png docs/figures/over-noise-replicas.png]

Several sweeps of one sampler (the same preset, other seeds) are pooled into one ensemble.

Every number comes from glasslab's own analysis (core/sweep/ensemble.py: the aging fits with
their Student-t interval over seeds and their band over fit windows; core/analysis/replicas.py:
the replicas' spreading of `glasslab control --replicas-only` on each point), so the definitions
are docs/science.md's.  Prints markdown tables (labelled with N/(P C) and the sampler) and the
cost (the points' and branches' wall_s from their stores); draws Delta_AB(t) per t_w, mean over
the pairs and seeds, one panel per sampler and width.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from glasslab.core.analysis import replicas
from glasslab.core.runs import branch
from glasslab.core.sweep import ensemble


def iv(e, digits: int = 2) -> str:
    """"value [lo, hi]" of an interval_of dict."""
    if not e or e.get("value") is None:
        return "-"
    lo, hi = e["interval"]
    return f"{e['value']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def t95(mean, interval, band=None, digits: int = 3) -> str:
    """"mean [Student-t lo, hi], windows a..b"."""
    if mean is None:
        return "-"
    out = f"{mean:.{digits}f}" + (f" [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]" if interval else "")
    return out + (f", windows {band[0]:.{digits}f}..{band[1]:.{digits}f}" if band else "")


def wall(sweep_dir: Path) -> tuple[float, float]:
    """(seconds of the points, seconds of their control branches), from the stores' wall_s."""
    def secs(path: Path) -> float:
        try:
            return float(json.loads((path / "zarr.json").read_text())["attributes"].get("wall_s", 0.0))
        except (OSError, ValueError, KeyError):
            return 0.0
    points = sorted((sweep_dir / "points").glob("*.zarr"))
    branches = [p for pt in points for p in branch.controls_dir(pt).glob("tw*.zarr")]
    return sum(secs(p) for p in points), sum(secs(p) for p in branches)


def curves(result: dict) -> dict:
    """{width: {t_w: (lags, Delta_AB mean over pairs and seeds, at-epoch mask)}} from every point's replicas."""
    out: dict = {}
    for r in result["points"]:
        spreads, _ = replicas.analyze_replicas(r["store"])
        w = r["values"]["model.width"]
        for s in spreads:
            out.setdefault(w, {}).setdefault(s.tw, []).append((np.array(s.lags), np.array(s.distance), s.epoch))
    merged: dict = {}
    for w, by_tw in out.items():
        for tw, runs in by_tw.items():
            shared = sorted(set.intersection(*[set(l.tolist()) for l, _, _ in runs]))
            d = np.mean([dist[np.isin(lags, shared)] for lags, dist, _ in runs], axis=0)
            epoch = runs[0][2]
            lags = np.array(shared)
            merged.setdefault(w, {})[tw] = (lags, d, (lags % epoch == 0) if epoch else np.zeros(len(lags), bool), len(runs))
    return merged


def noise_share(result: dict) -> dict:
    """{width: {t_w: [Delta_AB / Delta_on at the last lag, per seed]}}: the replicas' distance against the
    displacement of noise-on from w(t_w) (independent diffusions give 2, pure drift 0)."""
    from glasslab.core.analysis.controls import _from_start
    from glasslab.core.store.reader import Trajectory

    out: dict = {}
    for r in result["points"]:
        spreads, _ = replicas.analyze_replicas(r["store"])
        found = branch.find(r["store"])
        for s in spreads:
            steps, d_on = _from_start(Trajectory.open(found[s.tw]["noise-on"]))
            if len(steps) and int(steps[-1]) == s.lags[-1] and d_on[-1] > 0:
                out.setdefault(r["values"]["model.width"], {}).setdefault(s.tw, []).append(s.distance[-1] / d_on[-1])
    return out


def table(sampler: str, result: dict) -> None:
    print(f"\n#### sampler: {sampler}\n")
    print("| width | N/(P C) | seeds | final train loss | mu, all t_w [95 % t over seeds], band over fit windows "
          "| mu late, on Delta/D(t_w) | late slope | verdicts |")
    print("| ---: | ---: | ---: | --- | --- | --- | --- | --- |")
    for g in result["groups"]:
        verdicts = ", ".join(f"{k} x{v}" for k, v in g["verdicts"].items())
        print(f"| {g['values']['model.width']} | {g['N_over_PC']:.3g} | {g['n']} | "
              f"{g['final_train_loss']:.5f} +- {g['final_train_loss_sem']:.5f} | "
              f"{t95(g['mu'], g['mu_t95'], g['mu_band'])} | {t95(g['mu_late_scaled'], g['mu_late_scaled_t95'], g['mu_late_scaled_band'])} | "
              f"{t95(g['late_slope'], g['late_slope_t95'], g['late_slope_band'])} | {verdicts} |")
    print("\nmu on each fit window (mean [95 % t over seeds]):\n")
    labels = sorted({k for g in result["groups"] for k in g.get("mu_windows") or {}})
    print("| width | N/(P C) | " + " | ".join(labels) + " |")
    print("| ---: | ---: | " + " | ".join("---" for _ in labels) + " |")
    for g in result["groups"]:
        ws = g.get("mu_windows") or {}
        print(f"| {g['values']['model.width']} | {g['N_over_PC']:.3g} | "
              + " | ".join(t95(ws[k]["mean"], ws[k]["t95"]) if k in ws else "-" for k in labels) + " |")
    print("\nthe replicas' spreading over seeds (growth exponent of Delta_AB by t_w; mu_AB; verdict):\n")
    print("| width | N/(P C) | branch | reading | gamma by t_w [95 % t over seeds + window band] | mu_AB | verdict |")
    print("| ---: | ---: | --- | --- | --- | --- | --- |")
    for g in result["groups"]:
        sp = g.get("spreading")
        if not sp:
            continue
        for label, rd in sp["readings"].items():
            by_tw = "; ".join(f"{int(tw):,}: {iv(e)}" for tw, e in rd["gamma_by_tw"].items())
            mu = (rd.get("tw_dependence") or {}).get("mu")
            print(f"| {g['values']['model.width']} | {g['N_over_PC']:.3g} | {sp['branch']} | {label} | {by_tw} | "
                  f"{iv(mu)} | {rd['verdict']} |")
    share = noise_share(result)
    print("\nDelta_AB / Delta_on at the branch's last lag (mean and range over seeds; 2 = independent diffusions, "
          "0 = pure drift):\n")
    print("| width | N/(P C) | " + " | ".join(f"t_w = {int(tw):,}" for tw in sorted(next(iter(share.values()), {}))) + " |")
    print("| ---: | ---: |" + " --- |" * len(next(iter(share.values()), {})))
    for g in result["groups"]:
        by = share.get(g["values"]["model.width"], {})
        print(f"| {g['values']['model.width']} | {g['N_over_PC']:.3g} | "
              + " | ".join(f"{np.mean(v):.3f} ({min(v):.3f}-{max(v):.3f})" for _, v in sorted(by.items())) + " |")


def figure(results: dict, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samplers = list(results)
    widths = sorted({g["values"]["model.width"] for r in results.values() for g in r["groups"]}, reverse=True)
    fig, axes = plt.subplots(len(samplers), len(widths), figsize=(4.2 * len(widths), 3.6 * len(samplers)),
                             squeeze=False, sharey=True)
    for i, sampler in enumerate(samplers):
        res = results[sampler]
        nopc = {g["values"]["model.width"]: g["N_over_PC"] for g in res["groups"]}
        cs = curves(res)
        for j, w in enumerate(widths):
            ax = axes[i][j]
            for k, (tw, (lags, d, at, n)) in enumerate(sorted(cs.get(w, {}).items())):
                color = f"C{k}"
                ax.loglog(lags[~at], d[~at], "-", color=color, lw=1, label=f"t_w = {tw:,} ({n} seeds)")
                ax.loglog(lags[at], d[at], "o", color=color, ms=3)
            if cs.get(w):
                lags, d, _, _ = next(iter(sorted(cs[w].items())))[1]
                ref = lags[lags >= 200]
                if len(ref):
                    ax.loglog(ref, d[lags >= 200][0] * ref / ref[0], ":", color="gray", lw=1, label="~ t (diffusion)")
            ax.set_title(f"{sampler}: width {w}, N/(P C) = {nopc.get(w, float('nan')):.2f}", fontsize=9)
            ax.set_xlabel("lag t (steps; dots: epoch multiples)")
            if j == 0:
                ax.set_ylabel("Delta_AB(t_w, t)")
            ax.legend(fontsize=7)
    fig.suptitle("Replicas' spreading, toy model, P = 5,000, B = 25 (200 batches an epoch), 20-epoch branches",
                 fontsize=10)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def analyze(dirs: list[Path], n_boot: int) -> dict:
    """One ensemble over the points of several sweeps of one preset (other seeds): grouped by width."""
    results = [ensemble.analyze_sweep(d, n_boot=n_boot) for d in dirs]
    if len(results) == 1:
        return results[0]
    gaxes = results[0]["group_axes"]
    points = [p for r in results for p in r["points"]]
    by: dict = {}
    for row in points:
        if "mu" in row or "final_train_loss" in row:
            by.setdefault(tuple(repr(row["values"][a]) for a in gaxes), []).append(row)
    groups = [ensemble._group(dirs[0], gaxes, rows) for rows in by.values()]
    groups.sort(key=lambda g: [g["values"][a] for a in gaxes])
    return {**results[0], "points": points, "groups": groups}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sweeps", nargs="+", help="SAMPLER=SWEEP_DIR")
    ap.add_argument("--png", type=Path)
    ap.add_argument("--boot", type=int, default=100)
    args = ap.parse_args()
    results = {}
    for item in args.sweeps:
        sampler, _, d = item.partition("=")
        dirs = [Path(x) for x in d.split(",")]
        results[sampler] = analyze(dirs, args.boot)
        table(sampler, results[sampler])
        pts, brs = (sum(x) for x in zip(*(wall(x) for x in dirs)))
        print(f"\ncost ({sampler}): points {pts / 60:.1f} min, replica branches {brs / 60:.1f} min of wall time "
              "(each single-threaded, summed)")
    if args.png:
        figure(results, args.png)
        print(f"\nfigure written to {args.png}")


if __name__ == "__main__":
    main()
