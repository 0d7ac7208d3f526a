"""StatusLine: where a run stands (step, speed, ETA, device, N, store path) in one or two lines."""

from __future__ import annotations

import math

from rich.text import Text
from textual.widgets import Static

from glasslab.core.config import dynamics

from ...numbers import device_text, duration
from ..curves import RunCurves

STATUS_STYLE = {"running": "bold green", "starting": "bold yellow", "finished": "bold cyan",
                "interrupted": "bold yellow", "diverged": "bold red", "failed": "bold red"}


def pack(fields: list[Text], width: int, sep: str = "  ") -> Text:
    """The fields on as few lines as fit `width`, each field whole: a line breaks between fields,
    never inside one (a field wider than the line is cut with an ellipsis)."""
    out, used = Text(), 0
    for f in fields:
        if width > 0 and f.cell_len > width:
            f = f.copy()
            f.truncate(width, overflow="ellipsis")
        if used and width > 0 and used + len(sep) + f.cell_len > width:
            out.append("\n")
            used = 0
        elif used:
            out.append(sep)
            used += len(sep)
        out.append_text(f)
        used += f.cell_len
    return out


class StatusLine(Static):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._fields: list[Text] | None = None
        self._message: Text | None = None

    def show(self, c: RunCurves | None, hint: str = "") -> None:
        if c is None:
            self._fields = None
            self.update(hint)
            return
        fields = [Text(c.name, "bold"), Text(c.status, STATUS_STYLE.get(c.status, "bold")),
                  Text(f"step {c.step:,}/{c.total_steps:,}")]
        if c.running:
            rate = c.steps_per_s
            fields.append(Text(f"{rate:,.0f} steps/s" if math.isfinite(rate) else "- steps/s"))
            fields.append(Text(f"ETA {duration(c.eta_s)}"))
        fields += [Text(device_text(c.device, c.gpu, c.gpu_memory_bytes if c.running else None)),
                   Text(f"N {c.n_params:,}")]
        if c.dynamics:
            fields.append(Text(dynamics.describe(c.dynamics)))
        if c.path:
            fields.append(Text(c.path, "dim"))
        self._fields = fields
        self._message = (Text(c.message, "bold red" if c.status in ("failed", "diverged") else "")
                         if c.message else None)
        self._layout()

    def on_resize(self) -> None:
        if self._fields is not None:
            self._layout()

    def _layout(self) -> None:
        t = pack(self._fields, self.content_region.width or self.size.width)
        if self._message is not None:
            t.append("\n")
            t.append_text(self._message)
        self.update(t)
