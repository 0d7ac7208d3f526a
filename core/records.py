"""The records a run yields, named as past events.

The training loop (core/train/run.py) is a generator of these; sinks consume them:
the Zarr writer (core/store/writer.py), the headless printer and the console.
They are small frozen dataclasses; a snapshot's weights travel as a host
tensor (see core/train/hostcopy.py for who may read it when).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from glasslab.core.config.presets import DynamicsConfig  # DynamicsChanged's settings (config/ is the first stage)

# RunStarted.resumed_from["source"] -> how the resume message and summary name it
RESUME_SOURCES = {"stop": "saved at stop", "checkpoint": "saved at a checkpoint", "snapshot": "the last snapshot"}


@dataclass(frozen=True)
class RunStarted:
    name: str
    preset: dict[str, Any]
    n_params: int
    train_size: int
    device: str
    param_layout: list[tuple[str, list[int], int]]
    snapshot_steps: list[int]
    total_steps: int
    start_step: int = 0
    waiting_times: list[int] = field(default_factory=list)  # online t_w, as snapshot indices
    notes: dict[str, Any] = field(default_factory=dict)  # e.g. D_eval_mode: D measured in eval mode (BatchNorm)
    resumed: bool = False  # continues a stored run (from its last saved state, which may be step 0)
    threads: int = 0  # torch intra-op threads (part of what makes a CPU run bitwise reproducible)
    # On a resume: where it continues, {"step", "source" (snapshot | stop | checkpoint), "n_loss"
    # (loss-log entries up to that step), "switches" (dynamics switches already applied)}.
    resumed_from: dict[str, Any] = field(default_factory=dict)
    # On a CUDA device: {"index", "name", "memory_total_bytes"} (core/system/devices.gpu_info); else {}.
    gpu: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepLogged:
    """The running minibatch loss (read back from the device every log_every steps).

    steps_per_s: the rate over the last log interval, snapshots included.  eta_s: seconds
    left to the run's last step, steps and snapshots costed apart (run.RemainingTime);
    NaN where unknown.  gpu_memory_bytes: what the run's tensors hold on its CUDA device
    (torch.cuda.memory_allocated); None off CUDA.
    """

    step: int
    loss: float
    steps_per_s: float
    eta_s: float = math.nan
    gpu_memory_bytes: int | None = None


@dataclass(frozen=True)
class Evaluation:
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    n_delta: float = math.nan  # [SG19] unsatisfied constraints y f < 1 on the training set (hinge losses only)


@dataclass(frozen=True)
class SnapshotTaken:
    """Weights and full-set evaluation at one snapshot time (index into the log grid)."""

    index: int
    step: int
    weights: Any  # core.train.hostcopy.HostCopy: call .tensor() to read, .release() when done
    evaluation: Evaluation
    observables: dict[str, float] = field(default_factory=dict)  # D, D_batch, weight_norm2
    state: dict[str, Any] = field(default_factory=dict)  # what a resume needs (optimizer, RNG)
    # {t_w snapshot index: {"delta", "overlap", "alpha2", "participation"}} for the online waiting times
    displacements: dict[int, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class StateSaved:
    """The resume state (w included) at a step between snapshots, so that a resume loses no steps.

    Not a snapshot: the snapshot grid and the weights array stay as they are.
    why: "stop" (the run is about to end interrupted) or "checkpoint" (the wall-clock
    cadence recording.checkpoint_minutes, or Run.checkpoint()).
    """

    step: int
    why: str
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DynamicsChanged:
    """The run's dynamics changed at `step`: the update that takes it to step + 1 and all later ones use `new`.

    core/store/codec.py stores it as a `dynamics_changed` event and reads it back."""

    step: int
    old: DynamicsConfig
    new: DynamicsConfig


@dataclass(frozen=True)
class NoteAdded:
    """A note (text, tags, or both) that `glasslab note` sent to the run while it trained, taken at a
    step boundary and stored in the store's `notes` by the writer (core/store/notes.py has the format).

    id: the request's id (its answer names it); time: when it was written (unix s)."""

    step: int
    id: str
    text: str = ""
    tags: tuple[str, ...] = ()
    time: float = 0.0


@dataclass(frozen=True)
class RunFinished:
    step: int
    wall_s: float
    status: str = "finished"


@dataclass(frozen=True)
class RunInterrupted:
    step: int
    wall_s: float
    reason: str = "stopped"
    status: str = "interrupted"


@dataclass(frozen=True)
class RunDiverged:
    step: int
    wall_s: float
    what: str  # "loss" or "weights"
    value: float
    status: str = "diverged"


RunEnded = (RunFinished, RunInterrupted, RunDiverged)


def is_end(record) -> bool:
    return isinstance(record, RunEnded)
