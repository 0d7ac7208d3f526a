"""Reduced versions of REPRODUCTION.md's over/under-parametrised experiments (1, 2 and issue 15's study).

Part 2 ([BJ18]): the transition-aging preset (toy model, sigmoid + MSE, 2,000
Fashion-MNIST images, SGD B = 100) cut from 150,000 to 8,000 steps, width 128
(N/P = 51: over) against width 2 (N/P = 0.8: under).  The test trains seed 0.
Its thresholds come from seeds it does not use, 1-5, at this size
(docs/reduced_test_seeds.py; REPRODUCTION.md, "Reduced test"):

    final train loss               over 0.0075-0.0079   under 0.064-0.090
    under / over loss              8.1-11.4
    late mu on Delta/D(t_w)        over 0.41-0.45 (bootstrap errors 0.010-0.013)
    Delta/D(t_w) collapse ratio    over 0.90-1.007      under 0.77-3.08

Asserted, with a margin on every one of those five seeds: the loss contrast
(under > 5 x over, under > 0.03, over < 0.015), and that while the loss still
falls the over-parametrised late mu on Delta/D(t_w) is clearly above 0 (> 0.2
and > 3 bootstrap errors).  No longer asserted: "dividing by D collapses the
over-parametrised late curves better than the under-parametrised ones"
(c_over < 1 < 1.1 < c_under): it failed on seed 4 (1.007 and 0.77) and nearly
on seed 3 (under 1.15), as an independent audit found on other seeds.  Not
asserted either: "under ages more over all t_w", the late mu on Delta, a late
slope near 1 (none holds at both 8,000 and 150,000 steps).
"""

import pytest

from glasslab.core.analysis import report
from glasslab.core.config import presets
from glasslab.core.store import completion, reader
from glasslab.core.store.writer import TrajectoryWriter
from glasslab.core.system import data as datasets
from glasslab.core.train.run import Run, drive

needs_fashion = pytest.mark.skipif(not datasets.availability(presets.DataConfig(name="fashion-mnist"))[0],
                                   reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


def _aging_run(width: int, tmp_path) -> dict:
    p = presets.with_overrides(presets.load("transition-aging"), {
        "model.width": width, "run.steps": 8000, "run.seed": 0, "run.device": "cpu",
        "data.test_size": 200, "recording.snapshots": 50})
    path = tmp_path / f"w{width}.zarr"
    drive(Run(p), [TrajectoryWriter(path)])
    completion.complete_two_time(path)
    return report.analyze_store(path, n_boot=50)


@pytest.mark.slow
@needs_fashion
def test_over_and_under_parametrised_toy_models_as_in_the_transition_study(tmp_path):
    over, under = _aging_run(128, tmp_path), _aging_run(2, tmp_path)
    # The under-parametrised loss stalls far above the over-parametrised one (8.1-11.4 x on seeds 1-5, 56 x at 150,000 steps).
    assert under["final"]["train_loss"] > 5 * over["final"]["train_loss"]
    assert under["final"]["train_loss"] > 0.03 and over["final"]["train_loss"] < 0.015
    # While the loss still falls the over-parametrised late curves age on Delta/D(t_w) (0.41-0.45 on seeds 1-5).
    mu_d = over["analysis"]["verdict"]["mu_late_scaled"]
    mu_d_err = over["analysis"]["verdict"]["mu_late_scaled_err"]
    assert mu_d > 0.2 and mu_d > 3 * mu_d_err, (mu_d, mu_d_err)


# ---------------------------------------------------------------- issue 15, part 1: the jamming line

def _jamming_run(width: int, tmp_path) -> dict:
    """The transition-jamming preset (GD, quadratic hinge, P = 2,000 pooled images) cut to 3,000 steps."""
    p = presets.with_overrides(presets.load("transition-jamming"), {
        "model.width": width, "run.steps": 3000, "run.seed": 0, "run.device": "cpu",
        "data.test_size": 200, "recording.snapshots": 12})
    path = tmp_path / f"jam-w{width}.zarr"
    drive(Run(p), [TrajectoryWriter(path)])
    ev = reader.Trajectory.open(path).evals()
    return {"loss": float(ev["train_loss"][-1]), "n_delta_P": float(ev["n_delta"][-1]) / p.data.train_size}


@pytest.mark.slow
@needs_fashion
def test_jamming_line_unsatisfied_constraints_drop_with_n(tmp_path):
    """[SG19] on the study's setting, at step 3,000 of its runs (REPRODUCTION.md, part 1; seeds 0, 1, 2):

        width 1  (N/P = 0.10): train loss 0.015, 0.50, 0.018;      N_Delta/P 0.55, 1.00, 0.54
        width 45 (N/P = 4.5):  train loss 1.2e-4, 2.1e-5, 4.7e-5; N_Delta/P 0.047, 0.048, 0.050

    Asserted with margins that held on all three: the narrow net keeps a finite
    loss and half its constraints unsatisfied, the wide one is two decades lower
    with a few per cent left (those close geometrically and reach 0 only at much
    longer times, so "N_Delta = 0" is not asserted).
    """
    narrow, wide = _jamming_run(1, tmp_path), _jamming_run(45, tmp_path)
    assert narrow["loss"] > 1e-2 and narrow["n_delta_P"] > 0.4, narrow
    assert wide["loss"] < 1e-3 and wide["n_delta_P"] < 0.1, wide
    assert narrow["loss"] > 100 * wide["loss"]
