"""Numbers as glasslab prints them: one rule for a mean and its standard error and a mu on the fit
grid's end shown as the bound it is (glasslab analyze SWEEP and the console's sweeps screen), and
one format for a duration (the ETA of the headless progress, the console and glasslab ps)."""

from __future__ import annotations

import math


def pm(v, e) -> str:
    """v ± e with the digits the error warrants: e to two significant digits, v to the same decimal
    place (0.63 ± 0.0067 -> 0.6300 ± 0.0067, 0.893 ± 0.02 -> 0.893 ± 0.020), so that every column
    reads alike.  Outside 1e-3..1e4 both share a power of ten: (1.03 ± 0.10)e-12.  Without an error
    (one seed), or a zero one, v to three significant digits."""
    if v is None or not math.isfinite(v):
        return "-"
    if e is None or not math.isfinite(e) or e <= 0:
        return f"{v:.3g}" + (" ± 0" if e == 0 else "")
    last = math.floor(math.log10(e)) - 1  # decade of the error's second significant digit
    if round(e, -last) >= 10 ** (last + 2):  # 0.0996 rounds to 0.10: one decade up
        last += 1
    top = max(abs(v), e)
    if 1e-3 <= top < 1e4:
        places = max(-last, 0)
        return f"{round(v, -last) or 0.0:.{places}f} ± {round(e, -last):.{places}f}"  # or: no "-0.00"
    exp = math.floor(math.log10(top))
    places = max(exp - last, 0)
    return f"({round(v / 10 ** exp, places) or 0.0:.{places}f} ± {e / 10 ** exp:.{places}f})e{exp}"


BOUND_MARK = {"upper": "≥ ", "lower": "≤ ", "both": ""}


def bounded_mu(v, e, side: str | None, n_at: int = 1, n: int = 1) -> str:
    """mu ± e; a mu on an end of the fit's grid is a bound, not a value: '≥ 1.5 (at fit bound)', and a
    group mean over such points says how many: '≥ 1.33 ± 0.17 (1/3 at fit bound)'."""
    if not side or v is None:
        return pm(v, e)
    if n_at == n:  # every point on the bound: their spread says nothing
        return f"{BOUND_MARK[side]}{v:.3g} ({'' if n == 1 else f'{n_at}/{n} '}at fit bound)"
    return f"{BOUND_MARK[side]}{pm(v, e)} ({n_at}/{n} at fit bound)"


def duration(s: float) -> str:
    """Seconds as 4m05s, 3h07m or 2d05h (days-long runs); '?' when unknown (NaN)."""
    if not math.isfinite(s):
        return "?"
    s = int(round(max(s, 0.0)))
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def gib(n_bytes) -> str:
    """Bytes as GiB, one decimal: 1.2 GiB."""
    return f"{n_bytes / 2**30:.1f} GiB"


def device_text(device: str, gpu: dict | None = None, in_use: int | None = None) -> str:
    """The device a run trains on, as ps, the status line and the headless printer show it:
    'cpu'; on a GPU its name and the memory the run's tensors hold (of the card's total):
    'cuda:1 NVIDIA H100 80GB HBM3 1.2/79.6 GiB', or only the total when the use is not known."""
    if not gpu:
        return device or "-"
    total = gpu.get("memory_total_bytes")
    used = in_use if in_use is not None else gpu.get("memory_allocated_bytes")
    memory = (f"{used / 2**30:.1f}/{gib(total)}" if used is not None and total else gib(total) if total else "")
    return " ".join(x for x in (device or f"cuda:{gpu.get('index', 0)}", gpu.get("name", ""), memory) if x)
