"""glasslab's engine, grouped by the stages a run's data passes through.

Nothing here imports textual, rich or tui/; imports point one way, from a stage to
itself and the ones before it (tests/test_core_imports.py proves both):

    errors, records   the vocabulary every stage speaks: user errors, the records a run yields
    config/           presets, the snapshot grid, threads
    system/           data, models and their losses, dynamics, devices (cuda:N, a GPU's name and memory)
    measure/          observables, noise (D), evaluation, the online recorder
    store/            the Zarr layout, reader, writer, codec, resume state, completion, lock
    train/            the training loop (a generator of records)
    runs/             headless runs, detached starts, control, liveness, follow, resume
    analysis/         aging fits, verdicts, the report (read-only on stores)
    sweep/            grids of runs through submitit, and their ensembles

docs/architecture.md draws the flow and which process runs which stage.
"""

import os as _os

# Bitwise-reproducible CPU runs: MKL may otherwise pick its thread count per
# call ("dynamic" mode), and a different split of a matrix product changes its
# rounding.  Must be set before torch loads MKL; a no-op on other BLAS.
_os.environ.setdefault("MKL_DYNAMIC", "FALSE")

__version__ = "0.1.0"
