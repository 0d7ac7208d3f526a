"""glasslab's engine: presets, data sets, models, dynamics, the run and its Zarr trajectory.

Nothing here imports textual, rich or tui/ (tests/test_core_imports.py proves it):
the engine runs the same under the console, headless, or from a notebook.

The modules, by seam (flat, so that an import names what it uses):

- what trains:    presets, data, models, dynamics, run, records, schedule, threads
- the store:      trajectory (the format), writer, hostcopy, checkpoint, resume, lock
- measurements:   observables, online, evaluate, noise, analysis, collapse, report, ensemble
- running ones:   control, follow, live, launch, sweep/ (grids, manifests, submitit jobs)
- for the UIs:    catalog, errors
"""

import os as _os

# Bitwise-reproducible CPU runs: MKL may otherwise pick its thread count per
# call ("dynamic" mode), and a different split of a matrix product changes its
# rounding.  Must be set before torch loads MKL; a no-op on other BLAS.
_os.environ.setdefault("MKL_DYNAMIC", "FALSE")

__version__ = "0.1.0"
