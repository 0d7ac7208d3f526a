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


def print_analysis(r: dict, console: Console | None = None) -> None:
    console = console or Console()
    t = Table(title=f"{r['name']} ({r['status']}): {r['run']}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("N / P", f"{r['n_params']:,} / {r['train_size'] or '-'}")
    t.add_row("snapshots / last step", f"{r['n_snapshots']} / {r['last_step']:,}")
    f = r["final"]
    t.add_row("final train loss / acc", f"{_g(f['train_loss'])} / {_g(f['train_acc'], '.3f')}")
    t.add_row("final test loss / acc", f"{_g(f['test_loss'])} / {_g(f['test_acc'], '.3f')}")
    nd = r.get("n_delta")
    if nd:
        t.add_row("final N_Delta, N_Delta/N, N_Delta/P", f"{nd['N_Delta']:,}, {_g(nd['per_N'], '.3g')}, {_g(nd['per_P'], '.3g')}")
    a = r.get("analysis")
    if a is None:
        t.add_row("analysis", r.get("analysis_error", "-"))
        console.print(t)
        _docs_line(r, console)
        return
    loss = a.get("loss")
    if loss:
        t.add_row("loss over the last decade", f"{_g(loss['loss_decade_ago'])} -> {_g(loss['final_loss'])} "
                  f"({'still falling' if loss['still_falling'] else 'plateau'})")
    for name in ("all", "early", "intermediate", "late", "late_scaled"):
        fit = a["aging"].get(name)
        if fit:
            label = "mu, late t_w on Delta/D" if name == "late_scaled" else f"mu, {name} t_w"
            tw = fit.get("tw") or []
            span = f"  (t_w {int(tw[0])}..{int(tw[-1])}, {len(tw)} curves)" if tw else ""
            t.add_row(label, _pm(fit["mu"], fit["mu_err"]) + span)
    s = a["late_slope"]
    t.add_row("late slope d log Delta / d log t", _pm(s["slope"], s["slope_err"]))
    dc = a.get("diffusion_collapse")
    if dc:
        t.add_row("Delta/D collapse (cost ratio)", _g(dc["ratio"], ".3f") + "  (< 1: dividing by D collapses)")
    if r.get("D_trend"):
        d = r["D_trend"]
        t.add_row("D first -> last (log-log slope)", f"{_g(d['first'])} -> {_g(d['last'])} ({_g(d['loglog_slope'], '.2f')})")
    rel = a.get("relaxation")
    if rel and rel.get("tw"):
        pairs = [f"{int(tw)}: {_g(te, '.3g')}" for tw, te in zip(rel["tw"], rel["tau_e"]) if te is not None][:6]
        t.add_row("tau_e by t_w", ", ".join(pairs) or "not reached")
    v = a["verdict"]
    t.add_row("verdict", f"[bold]{v['label']}[/]  ({v['reason']})")
    console.print(t)
    _docs_line(r, console)


def _docs_line(r: dict, console: Console) -> None:
    if r.get("docs"):
        console.print(f"definitions of these numbers and fits: {r['docs']}", highlight=False)
