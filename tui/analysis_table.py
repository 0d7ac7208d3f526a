"""Rich rendering of `glasslab analyze` results (core.analysis.report.analyze_store's dict)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from glasslab.core.analysis.verdict_rule import verdict_text
from glasslab.core.analysis.windows import text as estimate_text


def _pm(x, err) -> str:
    if x is None:
        return "-"
    return f"{x:.3f} ± {err:.3f}" if err is not None else f"{x:.3f}"


def _g(x, fmt=".4g") -> str:
    return "-" if x is None else format(x, fmt)


def mu_text(fit: dict, est: dict | None = None) -> str:
    """mu in three parts (bootstrap error, band over fit windows, the interval and its state), or
    why there is no number: a minimum on the end of the mu range is no fit."""
    if fit.get("at_bound"):
        grid = fit.get("mu_grid") or [None]
        lo, hi = grid[0], grid[-1]
        rng = f" in [{lo:g}, {hi:g}]" if lo is not None else ""
        return f"at the bound ({fit['mu']:.2f}): no collapse{rng}, the fit stops there"
    return estimate_text(est) if est else _pm(fit["mu"], fit["mu_err"])


def notebook_rows(r: dict) -> list[tuple[str, str]]:
    """The run's tags and notes (glasslab run --tag, glasslab note), oldest note first; none without them."""
    rows = [("tags", ", ".join(r["tags"]))] if r.get("tags") else []
    for n in r.get("notes") or []:
        if n.get("text"):
            rows.append((f"note at step {int(n.get('step') or 0):,}", escape(n["text"])))
    return rows


def switches_text(switches: list[dict]) -> str:
    return ", ".join(f"{s['old']} -> {s['new']} at step {s['step']:,}" for s in switches)


def analysis_rows(r: dict) -> list[tuple[str, str]]:
    """(label, value) rows of the analysis proper (mu, slopes, collapse, tau_e, switches, verdict):
    what `glasslab analyze` prints and the console's runs screen shows for an opened run."""
    rows: list[tuple[str, str]] = []
    a = r.get("analysis")
    if r.get("switches"):
        rows.append(("dynamics switches", switches_text(r["switches"])))
    if a is None:
        rows.append(("analysis", r.get("analysis_error", "-")))
        return rows
    est = a.get("estimates") or {}
    if a.get("fit_window"):
        rows.append(("fit window", a["fit_window"]))
    for name in ("all", "early", "intermediate", "late", "all_scaled", "early_scaled", "intermediate_scaled",
                 "late_scaled"):
        fit = a["aging"].get(name)
        if fit:
            label = f"mu, {name.removesuffix('_scaled')} t_w" + (" on Delta/D" if name.endswith("_scaled") else "")
            tw = fit.get("tw") or []
            span = f"  (t_w {int(tw[0]):,}..{int(tw[-1]):,}, {len(tw)} curves)" if tw else ""
            rows.append((label, mu_text(fit, est.get(name)) + ("" if fit.get("at_bound") else span)))
    ctrl = a.get("control")
    if ctrl and ctrl.get("mu_late_scaled") is not None:
        parts = [f"{w} {ctrl[f'mu_{w}_scaled']:.2f}" + (" (at the bound)" if ctrl.get(f"{w}_scaled_at_bound") else "")
                 for w in ("all", "early", "intermediate", "late") if ctrl.get(f"mu_{w}_scaled") is not None]
        rows.append(("control: pure diffusion with this D, mu on Delta/D",
                     ", ".join(parts) + "  (what diffusion alone gives: the Delta/D states are read against it)"))
    for key, label in (("late_slope", "slope d log Delta / d log t, last decade of lags, all t_w"),
                       ("late_tw_slope", "slope d log Delta / d log t, late third of t_w (verdict)")):
        s = a.get(key)
        if s:
            rows.append((label, estimate_text(est[key], slope=True) if est.get(key) else _pm(s["slope"], s["slope_err"])))
    dc = a.get("diffusion_collapse")
    if dc:
        rows.append(("Delta/D(t_w) collapse", dc.get("words") or _g(dc["ratio"], ".3g")))
    rel = a.get("relaxation")
    if rel and rel.get("tw"):
        rows.append(("tau_e (steps) by t_w", tau_e_text(rel["tw"], rel["tau_e"])))
    rows += control_rows(r)
    v = a["verdict"]
    switched = f"; the run switched its dynamics ({len(r['switches'])}x)" if r.get("switches") else ""
    rows.append(("verdict", f"[bold]{verdict_text(v)}[/]  ({v['reason']}{switched})"))
    return rows


def tau_e_text(tws, taus, most: int = 6) -> str:
    """tau_e per t_w where Q reached 1/e: all of them, or `most` spread from the first t_w to the last
    (aging shows as tau_e growing with t_w, so the late ones must be among those shown)."""
    pairs = [f"t_w {int(tw):,}: {_g(te, '.3g')}" for tw, te in zip(tws, taus) if te is not None]
    if not pairs:
        return "not reached"
    if len(pairs) <= most:
        return ", ".join(pairs)
    keep = sorted({round(i * (len(pairs) - 1) / (most - 1)) for i in range(most)})
    return ", ".join(pairs[i] for i in keep) + f"  ({len(keep)} of {len(pairs)} t_w; --json has all)"


def control_rows(r: dict) -> list[tuple[str, str]]:
    """The noise-size check and the radial share of Delta, by t_w (core/analysis/checks.py)."""
    rows = []
    ns = r.get("noise_size")
    if ns and ns.get("rows"):
        by_tw: dict = {}
        beyond = []
        for e in ns["rows"]:
            if e.get("beyond_epoch"):  # outside the prediction's range: no number, only where it would be
                beyond.append(f"{int(e['tw']):,}")
                continue
            by_tw.setdefault(e["tw"], []).append(f"{int(e['lag']):,}: {_g(e['ratio'], '.3g')}")
        text = "; ".join(f"t_w {int(tw):,} (lag: ratio) " + ", ".join(v) for tw, v in by_tw.items())
        if beyond:
            text += ("; " if text else "") + f"t_w {', '.join(beyond)}: first lag beyond an epoch, no prediction"
        rows.append((f"Delta measured / SGD-noise prediction, lags <= an epoch ({ns['epoch']:.0f} steps)", text))
    elif ns and ns.get("note"):
        rows.append(("Delta / SGD-noise prediction", ns["note"]))
    rad = r.get("radial")
    if rad:
        rows.append(("radial share of Delta (lag ~ t_w)", ", ".join(
            f"t_w {int(e['tw']):,}: {_g(e['share'], '.2f')} of {_g(e['delta'], '.3g')}" for e in rad)))
    return rows


def print_analysis(r: dict, console: Console | None = None) -> None:
    console = console or Console()
    t = Table(title=f"{r['name']} ({r['status']}): {r['run']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("N / P", f"{r['n_params']:,} / " + (f"{r['train_size']:,}" if r['train_size'] else "-"))
    t.add_row("snapshots / last step", f"{r['n_snapshots']:,} / {r['last_step']:,}")
    for label, value in notebook_rows(r):
        t.add_row(label, value)
    if r.get("missing_rows"):
        t.add_row("missing rows", f"{', '.join(map(str, r['missing_rows']))}: committed but never written "
                                  "(a copy taken while its run wrote?); left out")
    if r.get("two_time_not_written"):
        t.add_row("two-time matrices", r["two_time_not_written"])
    f = r["final"]
    t.add_row("final train loss / acc", f"{_g(f['train_loss'])} / {_g(f['train_acc'], '.3f')}")
    t.add_row("final test loss / acc", f"{_g(f['test_loss'])} / {_g(f['test_acc'], '.3f')}")
    nd = r.get("n_delta")
    if nd:
        t.add_row("final N_Delta, N_Delta/N, N_Delta/P", f"{nd['N_Delta']:,}, {_g(nd['per_N'], '.3g')}, {_g(nd['per_P'], '.3g')}")
    a = r.get("analysis")
    loss = a.get("loss") if a else None
    if loss:
        t.add_row("loss over the last decade", f"{_g(loss['loss_decade_ago'])} -> {_g(loss['final_loss'])} "
                  f"({'still falling' if loss['still_falling'] else 'plateau'})")
    if r.get("D_trend"):
        d = r["D_trend"]
        t.add_row("D first -> last (log-log slope)", f"{_g(d['first'])} -> {_g(d['last'])} ({_g(d['loglog_slope'], '.2f')})")
    for label, value in analysis_rows(r):
        t.add_row(label, value)
    console.print(t)  # the definitions: `glasslab analyze` ends with science_doc(), a path that exists installed too
