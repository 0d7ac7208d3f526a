"""glasslab's engine: presets, data sets, models, dynamics, the run and its Zarr trajectory.

Nothing here imports textual, rich or tui/ (tests/test_core_imports.py proves it):
the engine runs the same under the console, headless, or from a notebook.
"""

__version__ = "0.1.0"
