"""`glasslab control RUN`: is the late motion drift or noise?  The noise-off control and replicas.

Branches the run at chosen snapshots (core/runs/branch.py), trains each branch headless
into RUN.controls/ (finished branches are kept, so a second call only reports), then
prints Delta_on / Delta_off against the lag per t_w, the replica distance, and a
verdict (core/analysis/controls.py).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..output import quiet_output
from . import complete
from .common import clean_errors, science_doc


def control_cmd(
    run_dir: Annotated[Path, typer.Argument(help="The run's store (a .zarr directory).", autocompletion=complete.stores)],
    at: Annotated[Optional[list[int]], typer.Option("--at", help="Branch at the snapshot nearest this step (repeatable; default: near 1/100, 1/10 and 1/2 of the run).")] = None,
    steps: Annotated[Optional[int], typer.Option("--steps", help="Steps of every branch (default t_w: the lags t <= t_w; at least 4 epochs under SGD).")] = None,
    replicas: Annotated[int, typer.Option("--replicas", help="Replicas per t_w: the run's dynamics with another minibatch order / noise.")] = 1,
    replicas_only: Annotated[bool, typer.Option("--replicas-only", help="Leave out the full-batch noise-off branch: noise-on and the replicas alone, the spreading test of diffusion (no R).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where the branch stores go (default RUN.controls/ beside the run).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON on stdout.")] = False,
):
    """Continue a run from its snapshots with its noise switched off and as replicas: drift or diffusion?"""
    from glasslab.core.analysis import controls
    from glasslab.core.analysis import replicas as spreading
    from glasslab.core.runs import branch

    with clean_errors():
        plan = branch.plan(run_dir, at=at, steps=steps, replicas=replicas, out=out, noise_off_branch=not replicas_only)
        with branch.lease(plan):
            train_branches(plan)
        asked = {b.tw for b in plan}
        results = [r for r in controls.analyze_controls(run_dir, out) if r.tw in asked]
        spreads, _ = spreading.analyze_replicas(run_dir, out)
        spreads = [s for s in spreads if s.tw in asked]
        spread_verdict = spreading.verdict(spreads)
    if as_json:
        print(json.dumps({"controls": [r.to_dict() for r in results], "spreading": [s.to_dict() for s in spreads],
                          "spreading_verdict": spread_verdict}, indent=2, allow_nan=False))
        return
    if not results and not spreads:
        print("no controls: run glasslab control RUN first")
    print_controls([r.to_dict() for r in results])
    print_spreading([s.to_dict() for s in spreads], spread_verdict)


def train_branches(plan) -> None:
    """Train the branches of `plan` that are not yet trained (finished ones are kept); a branch that
    fails ends the command with its exit code and one line."""
    from glasslab.core.runs import branch

    for b in plan:
        if b.done:
            print(f"t_w {b.tw:,} {b.role}: already trained ({b.path})", file=sys.stderr)
            continue
        print(f"t_w {b.tw:,} {b.role}: {b.preset.run.steps:,} steps of {b.preset.dynamics.kind} "
              f"into {b.path}", file=sys.stderr, flush=True)
        outcome = branch.train(b)
        if outcome.exit_code:
            problem = outcome.problem(b.path) or f"the branch ended {outcome.end.status}"
            print(f"glasslab: {problem}", file=sys.stderr)
            raise typer.Exit(outcome.exit_code)


def _g(x) -> str:
    """A ratio as printed: inf and None (a control that did not move: JSON has no inf) as 'inf'."""
    return "inf" if x is None or math.isinf(x) else f"{x:.3g}"


def print_controls(results: list[dict]) -> None:
    """Per t_w (Control.to_dict()s): a few lags with Delta_off, Delta_on, R and the replica distance, then the verdict."""
    for r in results:
        if r["verdict"] == "undecided":
            print(f"t_w = {r['tw']:,}, {r['branch']}: undecided ({r['note']})")
        else:
            print(f"t_w = {r['tw']:,}, {r['branch']}: {r['verdict']} (median R = {_g(r['late_ratio'])} over the late half of the lags"
                  + (f", {r['note']}" if r["note"] else "")
                  + (f"; {r['replicas_read']}: Delta_AB / Delta_on = {_g(r['replica_ratio'])} at the last lag)"
                     if r["replicas"] else ")"))
        print(f"  {'lag t':>9}  {'Delta_off':>10}  {'Delta_on':>10}  {'R':>7}" + (f"  {'Delta_AB':>10}" if r["replicas"] else ""))
        n = len(r["lags"])
        for i in sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1}):
            line = f"  {r['lags'][i]:>9,}  {r['delta_off'][i]:>10.3e}  {r['delta_on'][i]:>10.3e}  {_g(r['ratio'][i]):>7}"
            if r["replicas"]:
                line += f"  {r['replica_distance'][i]:>10.3e}"
            print(line)
    if results:
        print("R = Delta_on / Delta_off says which of drift and noise dominates the displacement over this branch "
              "length (~1 drift, >= 2 noise-driven; it tends to 1 for any long branch: the drift grows like t^2), "
              "not whether the weights diffuse: that is the replicas' spreading.  Under reshuffled epochs only lags "
              f"of an epoch or more count ({science_doc()}, section 6b)")


def _iv(e) -> str:
    if not e or e.get("value") is None:
        return "-"
    return f"{e['value']:.2f} [{e['interval'][0]:.2f}, {e['interval'][1]:.2f}]"


def print_spreading(spreads: list[dict], verdict: dict) -> None:
    """Per t_w the replica distance Delta_AB at a few lags of each reading and its growth exponent, then the
    verdict over the t_w (core/analysis/replicas.py: Spreading.to_dict(), verdict())."""
    if not spreads:
        return
    print(f"replicas' spreading, {verdict['branch']}: Delta_AB(t_w, t) = |w_A - w_B|^2 / N over the pairs")
    for s in spreads:
        print(f"t_w = {s['tw']:,}: {s['replicas']} replicas, {len(s['distance_by_pair'])} pair(s)")
        for label, r in s["readings"].items():
            ex = r["exponent"]
            spread = "" if ex.get("half_width") is None else f", +-{ex['half_width']:.2f} over pairs"
            band = "" if not ex.get("band") else f", windows {ex['band'][0]:.2f}..{ex['band'][1]:.2f}"
            print(f"  {label}: growth exponent {_iv(ex)}{spread}{band}")
            n = len(r["lags"])
            if n:
                picks = sorted({0, n // 3, (2 * n) // 3, n - 1})
                print("    " + "  ".join(f"t={r['lags'][i]:,}: {r['distance'][i]:.3e}" for i in picks))
    print(f"verdict: {verdict['verdict']} ({verdict['reason']})")
    for label, v in verdict["readings"].items():
        if len(verdict["readings"]) > 1:
            print(f"  {label}: {v['verdict']} ({v['reason']})")
    print("diffusive: Delta_AB ~ t (exponent in [0.8, 1.2]) independent of t_w ([BJ18]'s interrupted aging); "
          "confined: it saturates (exponent within +-0.2 of 0); still aging: it slows with t_w "
          f"({science_doc()}, section 6c)")


def register(app: typer.Typer) -> None:
    app.command("control")(quiet_output(control_cmd))  # `control RUN | head`: the branches still train
