"""`glasslab analyze` and `glasslab overlay`: the aging analysis of a run or a sweep, and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from glasslab.core.errors import BadInput

from ..output import quiet_output
from . import sweep as cli_sweep
from . import complete
from .common import clean_errors, science_doc


def analyze_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run's store (a .zarr directory), finished or still running, or a sweep directory (glasslab sweep).", autocompletion=complete.stores_or_sweeps)],
    as_json: Annotated[bool, typer.Option("--json", help="Print every number as JSON on stdout.")] = False,
    csv_dir: Annotated[Optional[Path], typer.Option("--csv", help="Write one tidy CSV per observable into DIR.")] = None,
    png: Annotated[Optional[Path], typer.Option("--png", help="Write the paper-style figure (needs matplotlib).")] = None,
    tw_min: Annotated[Optional[float], typer.Option("--tw-min", help="Smallest waiting time in the fits.")] = None,
    tw_max: Annotated[Optional[float], typer.Option("--tw-max", help="Largest waiting time in the fits.")] = None,
    boot: Annotated[int, typer.Option("--boot", min=10, help="Bootstrap replicates for the error of mu.")] = 200,
    lag_max: Annotated[str, typer.Option("--lag-max", help="Lags of the collapse fits: 't_w' (t <= t_w, the default: "
                                         "D(t_w) still describes the lag) or 'all'.")] = "t_w",
):
    """Aging analysis of a run or a sweep: mu, late-time diffusion, Delta/D collapse, tau from Q, verdict.

    Of a sweep: the same per point, then means ± standard errors over its seeds.  Every number is defined
    in science.md, shipped with glasslab: the analysis ends with its path."""
    import json

    from glasslab.core.analysis import report

    if lag_max not in ("t_w", "all"):
        with clean_errors():
            raise BadInput(f"--lag-max must be 't_w' or 'all', got {lag_max!r}")
    window = None if tw_min is None and tw_max is None else (tw_min or 0.0, tw_max or float("inf"))
    from glasslab.core.sweep.manifest import is_sweep

    if is_sweep(run_dir):  # a sweep directory: per point, then ensembles over seeds
        with clean_errors():
            cli_sweep.analyze(run_dir, as_json=as_json, csv_dir=csv_dir, png=png, n_boot=boot, tw_window=window,
                              lag_max=lag_max)
        if not as_json:
            print(f"what every number means: {science_doc()}")
        return
    with clean_errors():
        if png is not None:
            from glasslab.tui.figure import require_matplotlib

            require_matplotlib()  # fail before the long computation
        result = report.analyze_store(run_dir, tw_window=window, n_boot=boot, lag_max=lag_max)
        if csv_dir is not None:
            report.write_csv(run_dir, csv_dir)
        if png is not None:
            from glasslab.tui.figure import paper_figure

            paper_figure(run_dir, png, result)
    if as_json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return
    from glasslab.tui.analysis_table import print_analysis

    print_analysis(result)
    if result.get("controls"):
        from .control import print_controls

        print("the noise-off control and replicas (glasslab control):")
        print_controls(result["controls"])
    if result.get("spreading"):
        from .control import print_spreading

        print_spreading(result["spreading"]["tws"], result["spreading"]["verdict"])
    if csv_dir is not None:
        print(f"CSV written to {csv_dir}")
    if png is not None:
        print(f"figure written to {png}")
    print(f"what every number means: {science_doc()}")


def overlay_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run stores.", autocompletion=complete.stores)],
    png: Annotated[Path, typer.Option("--png", help="Where to write the figure.")],
    tw: Annotated[Optional[float], typer.Option("--tw", help="Waiting time of the Delta and Q panels (closest snapshot).")] = None,
):
    """Overlay runs in one figure: loss, Delta, Q, and Q against t / tau_e (time-temperature superposition)."""
    from glasslab.tui.figure import overlay_figure, require_matplotlib

    with clean_errors():
        require_matplotlib()
        overlay_figure(runs, png, tw)
    print(f"figure written to {png}")


def register(app: typer.Typer) -> None:
    app.command("analyze")(quiet_output(analyze_cmd))  # `analyze RUN | head`: exit 0, the CSV and figure written
    app.command("overlay")(quiet_output(overlay_cmd))
