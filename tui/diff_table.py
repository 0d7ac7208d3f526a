"""Rich rendering of `glasslab diff` (core/analysis/diff.compare's dict): only what differs, side by side."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from glasslab.core.analysis.windows import text as estimate_text


def _v(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    if isinstance(x, list):
        return escape("[" + ", ".join(str(v) for v in x) + "]")
    return escape(str(x))


def _switches(rows: list[dict]) -> str:
    if not rows:
        return "none"
    return "; ".join(f"{s['old']} -> {s['new']} at step {s['step']:,}"
                     + (f" ({', '.join(f'{k}={_v(v)}' for k, v in s['changed'].items() if k != 'kind')})"
                        if len(s["changed"]) > 1 or "kind" not in s["changed"] else "")
                     for s in rows)


def _estimate(e: dict | None, slope: bool = False) -> str:
    if not e or e.get("value") is None:
        return "-"
    if "interval" not in e:  # a bare fit (no window estimates): value ± its bootstrap error
        stat = e.get("stat")
        return f"{e['value']:.2f}" + (f" ± {stat:.2f}" if stat is not None else "")
    return estimate_text(e, slope=slope)


def _side_by_side(title: str, a_name: str, b_name: str) -> Table:
    t = Table(title=title, title_justify="left", show_header=True, header_style="bold")
    t.add_column("", style="bold")
    t.add_column(a_name, overflow="fold")
    t.add_column(b_name, overflow="fold")
    return t


def print_diff(r: dict, console: Console | None = None) -> None:
    console = console or Console()
    a, b = r["a"], r["b"]
    console.print(f"[bold]A[/] {escape(a['run'])} ({a['status']}, step {a['last_step']:,})"
                  + (f"  tags: {escape(', '.join(a['tags']))}" if a["tags"] else ""), highlight=False)
    console.print(f"[bold]B[/] {escape(b['run'])} ({b['status']}, step {b['last_step']:,})"
                  + (f"  tags: {escape(', '.join(b['tags']))}" if b["tags"] else ""), highlight=False)
    if r["preset"]:
        t = _side_by_side("preset: the keys that differ", "A", "B")
        for row in r["preset"]:
            t.add_row(row["key"], _v(row["a"]), _v(row["b"]))
        console.print(t)
    else:
        console.print("preset: the resolved presets are the same")
    t = _side_by_side("dynamics switches", "A", "B")
    t.add_row("switches", _switches(r["switches"]["a"]), _switches(r["switches"]["b"]))
    console.print(t)
    t = _side_by_side("provenance (* differs)", "A", "B")
    for row in r["provenance"]:
        mark = "" if row["same"] else " *"
        t.add_row(row["key"] + mark, _v(row["a"]), _v(row["b"]))
    console.print(t)
    ra, rb = r["readings"]["a"], r["readings"]["b"]
    t = _side_by_side("readings", "A", "B")
    for key, label in (("train_loss", "final train loss"), ("test_loss", "final test loss"),
                       ("train_acc", "final train acc"), ("test_acc", "final test acc")):
        t.add_row(label, _v(ra["final"].get(key)), _v(rb["final"].get(key)))
    t.add_row("train loss a decade of steps earlier", _v(ra["loss_decade_ago"]), _v(rb["loss_decade_ago"]))
    t.add_row("mu, all t_w", _estimate(ra["mu"]) if ra["mu"] else escape(ra["analysis_error"] or "-"),
              _estimate(rb["mu"]) if rb["mu"] else escape(rb["analysis_error"] or "-"))
    t.add_row("slope d log Delta / d log t, late third of t_w (verdict)", _estimate(ra["late_tw_slope"], slope=True),
              _estimate(rb["late_tw_slope"], slope=True))
    t.add_row("verdict", ra["verdict"], rb["verdict"])
    console.print(t)
    console.print(f"final losses are over the whole set at the last snapshot (no sampling error); "
                  f"mu and slopes: value ± bootstrap error, the band over fit windows, the interval "
                  f"({r['docs']})", highlight=False)
