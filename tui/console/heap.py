"""Keep Python's full garbage collections out of the way of key presses.

Measured in the console (benchmarks/console.py, gc.callbacks): a full (generation
2) collection of its heap (torch, Textual, the catalogue: ~200,000 objects)
stalls the UI thread 170-430 ms, and it came every ~10 s while a run was drawing,
so one key press in ten waited that long.  `settle()` collects once at a moment
the user is not waiting on (the app has just started, a run has just begun or
ended) and then freezes what survived (gc.freeze): later full collections only
walk the objects created since, a few ms.  Unfreezing first lets the settle free
whatever of the old heap has become garbage meanwhile, so nothing leaks.
"""

from __future__ import annotations

import gc


def settle() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()
