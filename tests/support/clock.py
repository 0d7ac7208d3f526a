"""A fake monotonic clock for the store lock's waits: advanced only by the lock's own sleeps (no test sleeps)."""

from __future__ import annotations

from glasslab.core.store import lock as store_lock


def fake_clock(monkeypatch, on_sleep=None) -> list[float]:
    """This host's monotonic clock as the lock reads it; on_sleep(now) runs after each of its waits."""
    clock = [0.0]

    def sleep(s):
        clock[0] += s
        if on_sleep:
            on_sleep(clock[0])

    monkeypatch.setattr(store_lock, "_monotonic", lambda: clock[0])
    monkeypatch.setattr(store_lock, "_sleep", sleep)
    return clock
