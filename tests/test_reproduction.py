"""Reduced experiments 1 and 2 of REPRODUCTION.md: over- against under-parametrised toy models.

500 Fashion-MNIST images (5,000 constraints), SGD B = 50, eta = 0.1, momentum
0.5, 8,000 steps; width 128 (N = 101,770: over) against width 2 (N = 1,600:
under).  Measured over seeds 0, 1, 2 (REPRODUCTION.md, "Reduced test"):

    final train loss   over 0.0012-0.0015      under 0.063-0.083
    late slope         over 0.82-0.83          under 0.37-1.09
    mu, all t_w        over 0.44               under 0.58-1.04
    mu, late t_w       over 0.76-0.79          under -0.06-0.47

so the test asserts what held on all three seeds: the loss contrast, the
over-parametrised late slope near 1, and a larger aging exponent over all
waiting times for the under-parametrised model.  The paper's late-t_w contrast
(mu_late: under > over) did NOT hold at this size (the over-parametrised run
has not reached its diffusive regime in 8,000 steps), so it is not asserted.
"""

import pytest

from glasslab.core import data as datasets
from glasslab.core import presets, report, trajectory
from glasslab.core.run import Run, drive
from glasslab.core.writer import TrajectoryWriter

BASE = {"data.name": "fashion-mnist", "data.train_size": 500, "data.test_size": 500,
        "dynamics.kind": "sgd", "dynamics.lr": 0.1, "dynamics.batch_size": 50, "dynamics.momentum": 0.5,
        "recording.snapshots": 50, "recording.first": 10, "recording.probe_size": 500, "recording.d_batch": False,
        "run.steps": 8000, "run.device": "cpu", "run.seed": 0}


def _run(width: int, tmp_path):
    p = presets.with_overrides(presets.Preset(name=f"toy-w{width}"), {**BASE, "model.width": width})
    path = tmp_path / f"w{width}.zarr"
    drive(Run(p), [TrajectoryWriter(path)])
    trajectory.complete_two_time(path)
    return report.analyze_store(path, n_boot=50)


@pytest.mark.skipif(not datasets.availability(presets.DataConfig(name="fashion-mnist"))[0],
                    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
def test_over_and_under_parametrised_toy_models_differ_as_in_bj18(tmp_path):
    over, under = _run(128, tmp_path), _run(2, tmp_path)
    # The under-parametrised loss stalls far above the over-parametrised one (ratio > 40 on 3 seeds).
    assert under["final"]["train_loss"] > 10 * over["final"]["train_loss"]
    assert over["final"]["train_loss"] < 0.01 < under["final"]["train_loss"]
    # Over-parametrised: Delta grows about linearly in t at late times (0.82-0.83 on 3 seeds).
    slope = over["analysis"]["late_slope"]["slope"]
    assert 0.7 < slope < 1.3, slope
    # Under-parametrised runs age more strongly over the whole window of waiting times.
    mu_over = over["analysis"]["aging"]["all"]["mu"]
    mu_under = under["analysis"]["aging"]["all"]["mu"]
    assert mu_under > mu_over + 0.05, (mu_under, mu_over)


# ---------------------------------------------------------------- issue 15, part 1: the jamming line

def _jamming_run(width: int, tmp_path) -> dict:
    """The transition-jamming preset (GD, quadratic hinge, P = 2,000 pooled images) cut to 3,000 steps."""
    p = presets.with_overrides(presets.load("transition-jamming"), {
        "model.width": width, "run.steps": 3000, "run.seed": 0, "run.device": "cpu",
        "data.test_size": 200, "recording.snapshots": 12})
    path = tmp_path / f"jam-w{width}.zarr"
    drive(Run(p), [TrajectoryWriter(path)])
    ev = trajectory.Trajectory.open(path).evals()
    return {"loss": float(ev["train_loss"][-1]), "n_delta_P": float(ev["n_delta"][-1]) / p.data.train_size}


@pytest.mark.skipif(not datasets.availability(presets.DataConfig(name="fashion-mnist"))[0],
                    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
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
