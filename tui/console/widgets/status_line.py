"""StatusLine: where a run stands (step, speed, ETA, device, N, store path) in one or two lines."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from ..curves import RunCurves

STATUS_STYLE = {"running": "bold green", "starting": "bold yellow", "finished": "bold cyan",
                "interrupted": "bold yellow", "diverged": "bold red", "failed": "bold red"}


def duration(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def dynamics_text(d: dict) -> str:
    if not d:
        return ""
    kind = d.get("kind", "?")
    text = f"{kind} lr {d.get('lr', 0):g}"
    if kind == "langevin":
        text += f" T {d.get('temperature', 0):g}"
    elif kind == "sgd":
        text += f" B {d.get('batch_size', 0)}"
    return text


class StatusLine(Static):
    def show(self, c: RunCurves | None, hint: str = "") -> None:
        if c is None:
            self.update(hint)
            return
        t = Text()
        t.append(c.name, "bold")
        t.append("  ")
        t.append(c.status, STATUS_STYLE.get(c.status, "bold"))
        parts = [f"step {c.step:,}/{c.total_steps:,}"]
        if c.running:
            rate = c.steps_per_s
            parts.append(f"{rate:,.0f} steps/s" if math.isfinite(rate) else "- steps/s")
            parts.append(f"ETA {duration(c.eta_s)}")
        parts += [c.device or "-", f"N {c.n_params:,}", dynamics_text(c.dynamics)]
        t.append("  " + "  ".join(p for p in parts if p))
        if c.path:
            t.append(f"  {c.path}", "dim")
        if c.message:
            t.append(f"\n{c.message}", "bold red" if c.status in ("failed", "diverged") else "")
        self.update(t)
