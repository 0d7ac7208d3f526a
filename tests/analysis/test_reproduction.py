"""Reduced versions of REPRODUCTION.md's over/under-parametrised experiments (1, 2 and issue 15's study).

Part 2 ([BJ18]): the transition-aging preset (toy model, sigmoid + MSE, 2,000
Fashion-MNIST images, SGD B = 100) cut from 150,000 to 8,000 steps, width 128
(N/P = 51: over) against width 2 (N/P = 0.8: under).  Measured over seeds 0, 1,
2 at this size (REPRODUCTION.md, "Reduced test"):

    final train loss               over 0.0075-0.0080   under 0.064-0.070
    Delta/D(t_w) collapse ratio    over 0.935-0.968     under 1.28-5.95
    late mu on Delta/D(t_w)        over 0.388-0.404     under 0.57-0.74
    mu over all t_w                over 0.457-0.461     under 0.65-0.67
    late mu on Delta               over 0.401-0.412     under 0.10-0.50

Asserted: what held on all three seeds here AND in the study (150,000 steps,
REPRODUCTION.md part 2, all seeds): the loss contrast (56 times at 150,000
steps), and dividing by D collapses the over-parametrised late curves better
than the under-parametrised ones (0.064-0.090 against 0.92-8.0 at 150,000
steps; the test's threshold 1.1 on the under side holds on every seed at this
size, not on seed 2 at 150,000 steps, which is why it is only asserted here).
Also asserted: while the loss still falls the over-parametrised late mu on
Delta/D stays clearly above 0 (0.39-0.40 here, 0.26-0.28 at 60,000 steps in
the previous study); it comes down to -0.28 +- 0.08 only once the loss is flat,
at 150,000 steps.  Not asserted: "under ages more over all t_w" (true at 8,000
steps, the other way round at 150,000: 0.17-0.31 against 0.56-0.58), the late
mu on Delta (mixed at 8,000 steps), and a late slope near 1 (0.94 at 8,000
steps, 0.34 at 150,000).
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
    # The under-parametrised loss stalls far above the over-parametrised one (ratio 8.0-9.3 here, 56 at 150,000 steps).
    assert under["final"]["train_loss"] > 5 * over["final"]["train_loss"]
    assert under["final"]["train_loss"] > 0.03 and over["final"]["train_loss"] < 0.015
    # Dividing Delta by D(t_w) collapses the over-parametrised late curves, not the under-parametrised ones.
    c_over = over["analysis"]["diffusion_collapse"]["ratio"]
    c_under = under["analysis"]["diffusion_collapse"]["ratio"]
    assert c_over < 1.0 < 1.1 < c_under, (c_over, c_under)
    # ... but while the loss still falls the over-parametrised late curves age on Delta/D too.
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
