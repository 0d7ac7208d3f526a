"""A one-shot Textual timer fires once, however late; a delay at or below zero cannot spin the UI.

Why: on a busy machine, continue a run from the
runs screen, quit while it trains, and the console froze for good.  py-spy
showed the UI thread in textual.timer.Timer._run with interval -0.0014 s: a
toast was built for a notification that expired a moment earlier
(Toast takes `notification.time_left`, negative by then), and Timer._run's
catch-up branch (skip=True) recomputes `count` from a negative interval, so
`count <= repeat` never becomes false and the loop never awaits (Textual
8.2.8).  The same branch also drops a one-shot timer whose task starts after
its delay (count jumps past repeat = 0, the callback never runs).

`install()` wraps Timer.__init__: a one-shot timer (repeat = 0) never skips,
so it sleeps max(0, delay) and fires once; a repeating timer's interval is
at least 1 ms (skipping needs a positive interval).
"""

from __future__ import annotations

from textual.timer import Timer

MIN_INTERVAL_S = 1e-3


def install() -> None:
    """Patch textual.timer.Timer once (idempotent)."""
    if getattr(Timer.__init__, "_glasslab", False):
        return
    original = Timer.__init__

    def __init__(self, event_target, interval, *args, repeat=None, skip=True, **kwargs):
        if repeat == 0:  # one shot: skipping missed ticks makes no sense, and with delay <= 0 it spins
            interval, skip = max(float(interval), 0.0), False
        else:
            interval = max(float(interval), MIN_INTERVAL_S)
        original(self, event_target, interval, *args, repeat=repeat, skip=skip, **kwargs)

    __init__._glasslab = True
    Timer.__init__ = __init__
