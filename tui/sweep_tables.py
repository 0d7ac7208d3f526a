"""The tables of `glasslab sweep status` and `glasslab analyze SWEEP`, fitted to the terminal
(tui/tables.py: the point, the grid's axes and every figure whole at any width; long readings under
the table).  The numbers are core/sweep's (ensemble.analyze_sweep, sweep.status)."""

from __future__ import annotations

import re

from rich.console import Console

from glasslab.core.analysis.verdict_rule import SHORT

from .numbers import bounded_mu, pm
from .tables import Col, print_fitted

FEW_SEEDS = re.compile(r" \((\d+) seeds < 5: indicative only\)")


def short_verdict(text: str | None) -> str:
    """A verdict (verdict_rule.verdict_text) with its label shortened for a table ('too short, so far')."""
    if not text:
        return "-"
    for label, short in SHORT.items():
        if text.startswith(label):
            rest = text[len(label):]
            return short + (", so far" if rest.startswith(", so far") else rest)
    return text


def _legend(verdicts) -> list[str]:
    """The short labels used, spelled out under the table."""
    used = {short_verdict(v).removesuffix(", so far"): v for v in verdicts if v}
    full = {s: lab for lab, s in SHORT.items() if s in used}
    return [f"verdicts: {'; '.join(f'{s} = {lab}' for s, lab in full.items())}"] if full else []


def _axis(a: str) -> str:
    return a.rsplit(".", 1)[-1]


def print_status(console: Console, m: dict, rows: list[dict], width: int | None = None) -> None:
    """`glasslab sweep status`: one row per point (id, the axes, state, starts, step / total, train loss, verdict)."""
    from glasslab.core.sweep.grid import fmt

    axes = list(m["axes"])
    colour = {"finished": "green", "failed": "red", "lost": "red", "interrupted": "yellow", "cancelled": "yellow"}
    cols = [Col("point", key=True), *(Col(_axis(a), key=True, justify="right") for a in axes), Col("state"),
            Col("starts", justify="right"), Col("step / total", justify="right"), Col("train loss", justify="right"),
            Col("verdict", text=True)]
    table = []
    for r in rows:
        state = r["state"] if r["state"] not in colour else f"[{colour[r['state']]}]{r['state']}[/]"
        step = f"{r['step'] if r['step'] is not None else '-'} / {r['total'] or '-'}"
        loss = f"{r['train_loss']:.4g}" if r["train_loss"] is not None else "-"
        table.append([r["id"], *(fmt(r["values"][a]) for a in axes), state, str(r["attempts"]), step, loss,
                      short_verdict(r["verdict"])])
    title = f"sweep {m['name']} ({m['executor']['kind']}, {len(rows)} points)"
    print_fitted(console, title, cols, table, _legend(r["verdict"] for r in rows), width=width)


def _interval(iv) -> str:
    return "-" if not iv else f"[{iv[0]:.3g}, {iv[1]:.3g}]"


def _band(b) -> str:
    return "-" if not b else f"{b[0]:.3g}..{b[1]:.3g}"


def _said(text: str | None, few: set) -> str:
    """A reading without its '(n seeds < 5: indicative only)', which goes under the table once."""
    if not text:
        return "-"
    m = FEW_SEEDS.search(text)
    if m:
        few.add(int(m.group(1)))
    return FEW_SEEDS.sub("", text)


def _mean_t95(e) -> str:
    if not e or e.get("mean") is None:
        return "-"
    iv = e.get("t95")
    return f"{e['mean']:.3g}" + (f" [{iv[0]:.3g}, {iv[1]:.3g}]" if iv else "")


def _iv(e) -> str:
    if not e or e.get("value") is None:
        return "-"
    return f"{e['value']:.2f} [{e['interval'][0]:.2f}, {e['interval'][1]:.2f}]"


def print_analysis(console: Console, result: dict, sweep_dir, width: int | None = None) -> None:
    """`glasslab analyze SWEEP`: the points, the ensembles over seeds, their Student-t intervals, mu on
    each fit window and the controls, each table fitted to `width` (default: the console's)."""
    from glasslab.core.sweep.grid import fmt

    axes, gaxes = result["axes"], result["group_axes"]
    nd = result.get("has_n_delta")  # N_Delta/P only under a hinge loss: elsewhere it does not exist
    keys = [Col("point", key=True), *(Col(_axis(a), key=True, justify="right") for a in axes)]
    cols = [*keys, Col("state"), Col("final train loss", justify="right"), Col("mu", justify="right"),
            Col("late slope", justify="right"), *([Col("N_Delta/P", justify="right")] if nd else []),
            Col("verdict", text=True)]
    rows, errors = [], []
    for r in result["points"]:
        if r.get("analysis_error"):
            errors.append(f"point {r['id']}: {r['analysis_error']}")
        rows.append([r["id"], *(fmt(r["values"][a]) for a in axes), r["state"], pm(r.get("final_train_loss"), None),
                     bounded_mu(r.get("mu"), r.get("mu_err"), r.get("mu_at_bound")), pm(r.get("late_slope"), None),
                     *([pm(r.get("N_Delta_over_P"), None)] if nd else []),
                     short_verdict(r.get("verdict")) if r.get("verdict") else "no analysis (below)"])
    notes = _legend(r.get("verdict") for r in result["points"]) + errors
    print_fitted(console, f"points of {sweep_dir}", cols, rows, notes, width=width)

    seeds = ", ".join(result["seed_axes"]) or "no seed axis"
    gkeys = [Col(_axis(a), key=True, justify="right") for a in gaxes] or [Col("group", key=True)]
    gvals = lambda x: [fmt(x["values"][a]) for a in gaxes] or ["all"]  # noqa: E731
    cols = [*gkeys, Col("n", justify="right"), Col("N", justify="right"), Col("N/P", justify="right"),
            Col("N/(P C)", justify="right"), Col("mu", justify="right"), Col("late slope", justify="right"),
            Col("final train loss", justify="right"), *([Col("N_Delta/P", justify="right")] if nd else []),
            Col("verdicts", text=True)]
    rows = []
    for x in result["groups"]:
        verdicts = ", ".join(f"{short_verdict(k)} x{v}" for k, v in x["verdicts"].items())
        rows.append([*gvals(x), str(x["n"]), f"{x['N']:,}" if x["N"] else "-",
                     f"{x['N_over_P']:.3g}" if x["N_over_P"] else "-",
                     f"{x['N_over_PC']:.3g}" if x.get("N_over_PC") else "-",
                     bounded_mu(x["mu"], x["mu_sem"], x["mu_at_bound"], x["mu_n_at_bound"], x["n"]),
                     pm(x["late_slope"], x["late_slope_sem"]), pm(x["final_train_loss"], x["final_train_loss_sem"]),
                     *([pm(x["N_Delta_over_P"], x["N_Delta_over_P_sem"])] if nd else []), verdicts])
    print_fitted(console, f"ensembles over {seeds} (mean ± standard error)", cols, rows,
                 _legend(k for x in result["groups"] for k in x["verdicts"]), width=width)

    few: set = set()
    cols, rows = [*gkeys, Col("n", justify="right")], [[*gvals(x), str(x["n"])] for x in result["groups"]]
    for k, name in (("mu", "mu"), ("mu_late_scaled", "mu late on Delta/D(t_w)"), ("late_slope", "late slope")):
        cols += [Col(f"{name} 95 %", justify="right"), Col("says", text=True), Col("windows", justify="right")]
        for row, x in zip(rows, result["groups"]):
            row += [_interval(x.get(f"{k}_t95")), _said(x.get(f"{k}_reading"), few), _band(x.get(f"{k}_band"))]
    notes = [f"{', '.join(map(str, sorted(few)))} seeds < 5: indicative only (a claim reads these with at "
             "least 5 seeds)"] if few else []
    print_fitted(console, f"over {seeds}: 95 % Student-t intervals; windows: the band over fit windows", cols,
                 rows, notes, width=width)

    labels = sorted({k for x in result["groups"] for k in (x.get("mu_windows") or {})})
    if labels:
        cols = [*gkeys, Col("N/(P C)", justify="right"), *(Col(k, justify="right") for k in labels)]
        rows = [[*gvals(x), f"{x['N_over_PC']:.3g}" if x.get("N_over_PC") else "-",
                 *(_mean_t95((x.get("mu_windows") or {}).get(k)) for k in labels)] for x in result["groups"]]
        print_fitted(console, f"mu on each fit window, over {seeds}: mean [95 % Student-t]", cols, rows, width=width)
    _controls(console, result, seeds, gkeys, gvals, width)


def _controls(console, result, seeds, gkeys, gvals, width) -> None:
    """R per t_w and the replicas' spreading over seeds (glasslab control on the points), with intervals."""
    groups = [x for x in result["groups"] if x.get("R") or x.get("spreading")]
    if not groups:
        return
    cols = [*gkeys, Col("N/(P C)", justify="right"), Col("branch", text=True), Col("R by t_w", text=True),
            Col("reading", text=True), Col("Delta_AB exponent by t_w", text=True), Col("mu_AB", justify="right"),
            Col("verdict", text=True)]
    rows = []
    for x in groups:
        sp = x.get("spreading") or {}
        r_text = ", ".join(f"{int(tw):,}: {v['mean']:.3g}" + (f" [{v['t95'][0]:.3g}, {v['t95'][1]:.3g}]" if v["t95"] else "")
                           for tw, v in (x.get("R") or {}).items()) or "-"
        for i, (label, rd) in enumerate((sp.get("readings") or {"-": {}}).items()):
            by_tw = "; ".join(f"{int(tw):,}: {_iv(e)}" for tw, e in (rd.get("gamma_by_tw") or {}).items()) or "-"
            dep = rd.get("tw_dependence") or {}
            first = i == 0
            rows.append([*(gvals(x) if first else ["" for _ in gkeys]),
                         (f"{x['N_over_PC']:.3g}" if x.get("N_over_PC") else "-") if first else "",
                         (sp.get("branch") or x.get("R_branch") or "-") if first else "", r_text if first else "",
                         label, by_tw, _iv(dep.get("mu")), rd.get("verdict", "-")])
    print_fitted(console, f"controls over {seeds} (glasslab control): mean [95 % interval over seeds and fit windows]",
                 cols, rows, ["R says which of drift and noise dominates over the branch (it tends to 1 for long "
                              "branches); the replicas' spreading tests diffusion: Delta_AB ~ t independent of t_w "
                              "(docs/science.md, 6b and 6c)"], width=width)
