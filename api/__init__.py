"""glasslab in a notebook: a run store as one xarray Dataset, sweeps stacked over their axes, analyses as data.

    import glasslab
    ds = glasslab.open("runs/quickstart-20250101-120000.zarr")   # xarray.Dataset, committed snapshots only
    glasslab.lagged(ds.msd)                                        # Delta on (snapshot_w, offset) with 2-D coord lag
    sw = glasslab.open_sweep("sweeps/width")                       # dims: one per sweep axis, seed, snapshot ...
    glasslab.analyze(ds)                                           # what `glasslab analyze` prints, as a dataclass

open, lagged and open_sweep need xarray (pip install 'glasslab[notebook]'); analyze does not.
docs/notebook.md is a whole session.  The names load on first use, so `import glasslab.core`
(the engine, which imports no xarray) stays as light as before.
"""

from __future__ import annotations

__all__ = ["open", "lagged", "open_sweep", "analyze", "Analysis", "__version__"]

# Where each public name lives (loaded on first access: PEP 562).
_WHERE = {"open": "glasslab.dataset", "lagged": "glasslab.dataset", "open_sweep": "glasslab.sweeps",
          "analyze": "glasslab.analysis", "Analysis": "glasslab.analysis"}


def __getattr__(name: str):
    if name == "__version__":
        from glasslab.core import __version__

        return __version__
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'glasslab' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
