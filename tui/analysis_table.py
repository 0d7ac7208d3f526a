"""Rich rendering of `glasslab analyze` results (core.report.analyze_store's dict)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _pm(x, err) -> str:
    if x is None:
        return "-"
    return f"{x:.3f} ± {err:.3f}" if err is not None else f"{x:.3f}"


def _g(x, fmt=".4g") -> str:
    return "-" if x is None else format(x, fmt)


def mu_text(fit: dict) -> str:
    """mu +- its error, or why there is no number: a minimum on the end of the mu range is no fit."""
    if fit.get("at_bound"):
        grid = fit.get("mu_grid") or [None]
        lo, hi = grid[0], grid[-1]
        rng = f" in [{lo:g}, {hi:g}]" if lo is not None else ""
        return f"no collapse{rng}: the fit stops at its bound ({fit['mu']:.2f})"
    return _pm(fit["mu"], fit["mu_err"])


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
    for name in ("all", "early", "intermediate", "late", "late_scaled"):
        fit = a["aging"].get(name)
        if fit:
            label = "mu, late t_w on Delta/D" if name == "late_scaled" else f"mu, {name} t_w"
            tw = fit.get("tw") or []
            span = f"  (t_w {int(tw[0]):,}..{int(tw[-1]):,}, {len(tw)} curves)" if tw else ""
            rows.append((label, mu_text(fit) + ("" if fit.get("at_bound") else span)))
    s = a["late_slope"]
    rows.append(("slope d log Delta / d log t, last decade of lags, all t_w", _pm(s["slope"], s["slope_err"])))
    s = a.get("late_tw_slope")
    if s:
        rows.append(("slope d log Delta / d log t, late third of t_w (verdict)", _pm(s["slope"], s["slope_err"])))
    dc = a.get("diffusion_collapse")
    if dc:
        rows.append(("Delta/D collapse (cost ratio)", _g(dc["ratio"], ".3g") + "  (< 1: dividing by D collapses)"))
    rel = a.get("relaxation")
    if rel and rel.get("tw"):
        pairs = [f"t_w {int(tw):,}: {_g(te, '.3g')}" for tw, te in zip(rel["tw"], rel["tau_e"]) if te is not None][:6]
        rows.append(("tau_e (steps) by t_w", ", ".join(pairs) or "not reached"))
    v = a["verdict"]
    switched = f"; the run switched its dynamics ({len(r['switches'])}x)" if r.get("switches") else ""
    rows.append(("verdict", f"[bold]{v['label']}[/]  ({v['reason']}{switched})"))
    return rows


def print_analysis(r: dict, console: Console | None = None) -> None:
    console = console or Console()
    t = Table(title=f"{r['name']} ({r['status']}): {r['run']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("N / P", f"{r['n_params']:,} / " + (f"{r['train_size']:,}" if r['train_size'] else "-"))
    t.add_row("snapshots / last step", f"{r['n_snapshots']:,} / {r['last_step']:,}")
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
    console.print(t)
    if r.get("docs"):
        console.print(f"definitions of these numbers and fits: {r['docs']}", highlight=False)
