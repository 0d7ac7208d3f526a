"""The run: one readable training loop that yields records.

    run = Run(preset)                 # loads data, builds the model (may raise BadInput)
    for record in run:                # RunStarted, StepLogged, SnapshotTaken, ...
        for sink in sinks: sink.handle(record)

`run.stop()`, `run.checkpoint()`, `run.switch_dynamics(...)` and `run.add_note(...)` may be called
from any thread; they act at the next step boundary.  A stop first yields the
resume state at the step where it stops (StateSaved), so a resume loses no
steps; so does the wall-clock cadence recording.checkpoint_minutes, which
bounds what a SIGKILL loses.  Storage, printing and plotting happen in the
sinks, never here.
"""

from __future__ import annotations

import bisect
import collections
import dataclasses
import math
import os
import queue
import random
import threading
import time
from typing import Iterator

import numpy as np
import torch

from glasslab.core.config import threads as threads_mod
from glasslab.core.config import dynamics
from glasslab.core.config.presets import DynamicsConfig, Preset
from glasslab.core.config.schedule import grid_of
from glasslab.core.errors import BadInput, RunFailed
from glasslab.core.measure.evaluate import evaluate
from glasslab.core.measure.online import OnlineObservables
from glasslab.core.records import (
    DynamicsChanged,
    NoteAdded,
    RunDiverged,
    RunFinished,
    RunInterrupted,
    RunStarted,
    SnapshotTaken,
    StateSaved,
    StepLogged,
)
from glasslab.core.system import data as datasets
from glasslab.core.system import devices
from glasslab.core.system import models
from glasslab.core.system.dynamics import Trainer
from glasslab.core.train.hostcopy import HostPool


def resolve_device(name: str) -> torch.device:
    """auto | cpu | cuda | cuda:N | mps -> the device (core/system/devices.py); an absent one is BadInput."""
    return devices.resolve(name)


def available_devices() -> list[str]:
    return devices.available()


OOM_ERRORS = (torch.OutOfMemoryError, MemoryError)
_clock = time.monotonic  # the checkpoint cadence's clock (a test replaces it with a fake one)


def out_of_memory_line(preset: Preset, n_params: int | None, err: BaseException) -> str:
    """One line: which model, how big, what it asked for, and what to lower."""
    import re

    asked = re.search(r"[Tt]ried to allocate ([0-9.]+ [KMGT]i?B)", str(err))
    size = f"N = {n_params:,} parameters, " if n_params else ""
    return (f"out of memory on {preset.run.device}: model {preset.model.kind} ({size}batch size "
            f"{preset.dynamics.batch_size}, data {preset.data.name} x {preset.data.train_size or 'all'})"
            f"{' asked for ' + asked.group(1) if asked else ''}; lower dynamics.batch_size, dynamics.gd_chunk, "
            "recording.eval_chunk or data.train_size, or use a smaller model.width")


class RemainingTime:
    """Seconds left in a run, with its steps and its snapshots timed apart.

    The snapshot grid is log-spaced (core/config/schedule.py), so most snapshots (an
    evaluation, D and the displacements each) come in the first per cent of the
    steps; a rate measured there, snapshots included, overstates the time left
    many times over.  Here the seconds per step are measured over the last
    WINDOW_S seconds less the snapshots' own time (early steps also pay for the
    writer's work on those snapshots in the background: an average since the
    start stayed ~2x too long for minutes), the seconds per snapshot over the
    last few snapshots, and each is multiplied by what remains of it: the steps
    to `total_steps` and the grid's snapshots not yet taken.
    """

    WINDOW_S = 30.0
    LAST_SNAPSHOTS = 8

    def __init__(self, snapshot_steps: list[int], total_steps: int):
        self.grid, self.total = sorted(snapshot_steps), int(total_steps)
        self.snapshot_s = 0.0  # all snapshots' seconds so far
        self._recent: collections.deque = collections.deque(maxlen=self.LAST_SNAPSHOTS)
        self._marks: collections.deque = collections.deque([(0.0, 0, 0.0)])  # (elapsed_s, steps_done, snapshot_s)

    def restart(self, steps_done: int, elapsed_s: float) -> None:
        """Measure the seconds per step afresh from here: the dynamics changed (GD's full-batch steps
        cost P/B times SGD's), and a window reaching back before the switch made the ETA lag for
        minutes after it (issue 31 item 14)."""
        self._marks = collections.deque([(elapsed_s, steps_done, self.snapshot_s)])

    def snapshot_took(self, seconds: float) -> None:
        self.snapshot_s += seconds
        self._recent.append(seconds)

    def at(self, step: int, steps_done: int, elapsed_s: float) -> float:
        """Seconds left after `step` (its own snapshot, if the grid has one there, still to come).

        steps_done: steps trained since the timing began, elapsed_s: seconds since then.
        NaN before the first step."""
        if steps_done <= 0:
            return math.nan
        while len(self._marks) > 1 and self._marks[1][0] <= elapsed_s - self.WINDOW_S:
            self._marks.popleft()  # keep one mark at or before the window's start
        t0, n0, s0 = self._marks[0]
        if elapsed_s - self._marks[-1][0] >= 1.0:  # a mark a second: the window holds ~WINDOW_S of them
            self._marks.append((elapsed_s, steps_done, self.snapshot_s))
        per_step = max((elapsed_s - t0) - (self.snapshot_s - s0), 0.0) / max(steps_done - n0, 1)
        per_snapshot = sum(self._recent) / len(self._recent) if self._recent else 0.0
        snapshots_left = len(self.grid) - bisect.bisect_left(self.grid, step)
        return per_step * max(self.total - step, 0) + per_snapshot * snapshots_left


class Run:
    """A training run of one preset; iterate it to train."""

    def __init__(self, preset: Preset, *, data_dir: str | None = None, download: bool = False,
                 data: datasets.DataSet | None = None, threads: int | str | None = None, fresh: bool = True):
        """threads: overrides preset.run.threads (a resume passes the recorded count).
        fresh=False: the run is about to be restored from its own store (core/runs/resume.py), so
        run.init_from is not read again (the source may be gone by then)."""
        self.preset = preset
        self.device = resolve_device(preset.run.device)
        self.threads = self._set_threads(preset.run.threads if threads is None else threads)
        self.threads_source = f"run.threads = {preset.run.threads}" if threads is None else "given"
        self.recorded_device: str | None = None  # a resume: the device the store was written on
        self.recorded_versions: dict[str, str] = {}  # a resume: the versions its last session ran (core/runs/resume.py)
        if self.device.type == "cuda":
            if self.device.index is not None:  # cuda:N: streams, events and RNG calls without a device go there too
                torch.cuda.set_device(self.device)
            # Delta and D are sums of squares: TF32 would corrupt them (NOTES.md).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.n_params = None
        self._stop = threading.Event()
        self._stop_reason = "stopped"
        self._checkpoint = threading.Event()
        self._switches: queue.SimpleQueue = queue.SimpleQueue()
        self._notes: queue.SimpleQueue = queue.SimpleQueue()
        self.replay: list[tuple[int, DynamicsConfig]] = []  # recorded switches a resume applies again
        self.n_switches = 0  # dynamics switches applied so far (part of the resume state)
        self.resumed_from: dict = {}  # set by core/runs/resume.py
        self._fresh = fresh
        try:
            self._build(preset, data, data_dir, download)
        except OOM_ERRORS as err:
            raise BadInput(out_of_memory_line(preset, self.n_params, err)) from None

    def _build(self, preset: Preset, data, data_dir, download) -> None:
        self.data = data if data is not None else datasets.load(
            preset.data, self.device, data_dir_override=data_dir, download=download)
        seed = preset.run.seed
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)
        self.model = models.build(preset.model, self.data.input_shape, self.data.classes).to(self.device)
        self.model.train()
        self.flat = models.flatten_parameters(self.model)
        self.n_params = int(self.flat.w.numel())
        self.trainer = Trainer(self.model, self.flat, self.data, preset.dynamics, seed)
        self.snapshot_steps = grid_of(preset)
        self.step = 0
        self.next_snapshot = 0  # index into snapshot_steps
        if preset.run.init_from and self._fresh:
            self._init_from(preset.run.init_from, preset.run.init_step)
        self.online = OnlineObservables(preset, self.model, self.data, self.snapshot_steps)
        self._host = HostPool(self.n_params, self.flat.w.dtype, self.device)

    def _set_threads(self, setting: int | str) -> int:
        """Resolve run.threads (core/config/threads.py) and apply it before any tensor work: a 1-thread
        and a 2-thread CPU run differ in the last bit, so the data, the model and every step use it."""
        try:
            shape, classes = datasets.info(self.preset.data)
            n_params = models.count_params(self.preset.model, shape, classes)
        except Exception:  # noqa: BLE001 - only the small-model cap needs N; build() reports real errors
            n_params = None
        try:
            n = threads_mod.resolve_threads(setting, self.device.type, n_params)
        except ValueError as err:
            raise BadInput(str(err)) from None
        torch.set_num_threads(n)
        return n

    def _init_from(self, path: str, step: int = -1) -> None:
        """Start from a committed snapshot of another run (e.g. an SGD-trained minimum, [KWJ24]):
        its last one, or the one taken at `step` (a branch of that run, glasslab control)."""
        from glasslab.core.store.reader import Trajectory

        src = Trajectory.open(path)
        if src.n_params != self.n_params or src.n_snapshots == 0:
            raise BadInput(f"run.init_from = {path}: it holds {src.n_snapshots} snapshot(s) of {src.n_params:,} "
                           f"parameters, this model has {self.n_params:,}: give a run of the same model")
        index = -1
        if step >= 0:
            steps = [int(s) for s in src.steps]
            if step not in steps:
                near = sorted(steps, key=lambda s: abs(s - step))[:2]
                raise BadInput(f"run.init_step = {step}: {path} has no snapshot at that step "
                               f"(the nearest: {', '.join(f'{s:,}' for s in sorted(near))}): give a snapshot's step")
            index = steps.index(step)
        with torch.no_grad():
            self.flat.w.copy_(torch.from_numpy(np.asarray(src.snapshot(index))).to(self.flat.w))

    # -- control from any thread -------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Stop at the next step boundary: the resume state at that step is yielded (StateSaved,
        why="stop"), then the run ends with RunInterrupted.  A resume loses no steps."""
        self._stop_reason = reason
        self._stop.set()

    def checkpoint(self) -> None:
        """Save the resume state at the next step boundary (StateSaved, why="checkpoint") and go on."""
        self._checkpoint.set()

    def switch_dynamics(self, **changes) -> DynamicsConfig:
        """Queue a change of dynamics (e.g. to Langevin at T = 1e-4: kind=dynamics.LANGEVIN, temperature=1e-4).

        Validated now (core/config/dynamics.switched: BadInput on a bad value), applied at the next
        step boundary, and recorded as a DynamicsChanged record with its step.
        """
        new = dynamics.switched(self.preset, self.trainer.cfg, changes)
        self._switches.put(new)
        return new

    def add_note(self, note_id: str, text: str = "", tags: tuple[str, ...] = ()) -> None:
        """Queue a note for the store (`glasslab note` through the control channel): yielded as a
        NoteAdded record at the next step boundary, where the writer commits it.  Any thread."""
        self._notes.put(NoteAdded(-1, note_id, text, tuple(tags), time.time()))

    @property
    def total_steps(self) -> int:
        return self.preset.run.steps

    # -- the loop ------------------------------------------------------------
    def __iter__(self) -> Iterator:
        return self.records()

    def records(self) -> Iterator:
        p = self.preset
        rec = p.recording
        t_start = time.perf_counter()
        on_cpu = self.device.type == "cpu"
        yield RunStarted(p.name, p.to_dict(), self.n_params, self.data.train_size, str(self.device),
                         self.flat.layout, self.snapshot_steps, p.run.steps, self.step, list(self.online.waiting),
                         {"D_eval_mode": self.online.eval_mode, "probe_size": int(len(self.online.probe_x))},
                         resumed=self.next_snapshot > 0, threads=self.threads, resumed_from=dict(self.resumed_from),
                         gpu=devices.gpu_info(self.device))
        if self.step == 0 and self.next_snapshot == 0:
            yield self._snapshot()

        # The last step whose resume state is saved (a snapshot, a stop, a checkpoint), and when.
        self._saved_step, self._saved_t = self.step, _clock()
        cadence_s = rec.checkpoint_minutes * 60.0
        last_log_t, last_log_step = time.perf_counter(), self.step
        remaining = RemainingTime(self.snapshot_steps, p.run.steps)
        loop_t, loop_step = last_log_t, self.step
        hold_at = _fault_hold_step(self.step)
        while self.step < p.run.steps:
            # ---- control between steps: switches (recorded ones replayed first), stop, checkpoint
            if self.step == hold_at:
                _fault_hold(self._stop)
            for switch in self._apply_switches():
                remaining.restart(self.step - loop_step, time.perf_counter() - loop_t)  # the new dynamics' pace
                yield switch
            while not self._notes.empty():
                yield dataclasses.replace(self._notes.get(), step=self.step)
            if self._stop.is_set():
                if self._saved_step != self.step:  # (at a snapshot step the snapshot's state is it)
                    yield self._save("stop")
                yield RunInterrupted(self.step, time.perf_counter() - t_start, self._stop_reason)
                return
            if self._checkpoint.is_set() or (cadence_s and _clock() - self._saved_t >= cadence_s):
                self._checkpoint.clear()  # reading the clock each step costs ~50 ns
                yield self._save("checkpoint")

            # ---- one update
            try:
                loss = self.trainer.step()
            except OOM_ERRORS as err:
                yield RunInterrupted(self.step, time.perf_counter() - t_start,
                                     out_of_memory_line(p, self.n_params, err))
                return
            self.step += 1

            # ---- divergence: on CPU the loss is checked every step (reading it
            # is free); on a GPU .item() is a sync point, so only at log steps.
            logging_now = self.step % rec.log_every == 0
            if on_cpu or logging_now:
                value = loss.item()
                if not math.isfinite(value):
                    yield RunDiverged(self.step, time.perf_counter() - t_start, "loss", value)
                    return
                if logging_now:
                    now = time.perf_counter()
                    rate = (self.step - last_log_step) / max(now - last_log_t, 1e-9)
                    last_log_t, last_log_step = now, self.step
                    eta = remaining.at(self.step, self.step - loop_step, now - loop_t)
                    yield StepLogged(self.step, value, rate, eta, devices.memory_in_use(self.device))

            # ---- snapshot on the log grid
            if self.next_snapshot < len(self.snapshot_steps) and self.step == self.snapshot_steps[self.next_snapshot]:
                if not bool(torch.isfinite(self.flat.w).all()):
                    yield RunDiverged(self.step, time.perf_counter() - t_start, "weights", math.nan)
                    return
                t_snap = time.perf_counter()
                yield self._snapshot()
                remaining.snapshot_took(time.perf_counter() - t_snap)  # its sinks' share included

        yield RunFinished(self.step, time.perf_counter() - t_start)

    def _apply_switches(self) -> Iterator[DynamicsChanged]:
        """Recorded switches due at this step (a resume replays them where they happened), then new ones."""
        while self.replay and self.replay[0][0] <= self.step:
            yield self._switch(self.replay.pop(0)[1])
        while not self._switches.empty():
            yield self._switch(self._switches.get())

    def _switch(self, new: DynamicsConfig) -> DynamicsChanged:
        old = self.trainer.cfg
        self.trainer.switch(new)
        self.n_switches += 1
        return DynamicsChanged(self.step, old, new)

    def _snapshot(self) -> SnapshotTaken:
        weights = self._host.copy(self.flat.w)
        evaluation = evaluate(self.model, self.data, self.preset.recording.eval_chunk)
        obs, rows = self.online.measure(self.next_snapshot, self.flat.w)
        record = SnapshotTaken(self.next_snapshot, self.step, weights, evaluation, obs, self.state(), rows)
        self.next_snapshot += 1
        self._saved_step, self._saved_t = self.step, _clock()
        return record

    def _save(self, why: str) -> StateSaved:
        """The resume state with w itself (no snapshot row holds this w).  On a GPU the copy of w
        is a sync point; it happens at a stop and once per checkpoint_minutes."""
        st = self.state()
        st["next_snapshot"] = self.next_snapshot  # state() counts the snapshot it is taken with
        st["w"] = self.flat.w.detach().to("cpu", copy=True)
        self._saved_step, self._saved_t = self.step, _clock()
        return StateSaved(self.step, why, st)

    # -- what a resume needs ---------------------------------------------------
    def state(self) -> dict:
        """Everything besides w that decides the future of the run (see core/store/resume_state.py)."""
        st = {
            "step": self.step,
            "next_snapshot": self.next_snapshot + 1,
            "switches": self.n_switches,
            "taken_at": time.time(),  # wall clock: what a kill loses is measured from here
            "trainer": self.trainer.state(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate(),
            "buffers": {k: v.detach().to("cpu", copy=True) for k, v in self.model.named_buffers()},
        }
        if self.device.type == "cuda":
            st["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return st

    def restore(self, weights: np.ndarray | None, st: dict) -> None:
        """Put the run back at a saved state: w (from `weights`, a snapshot row, or from the state
        itself when it was saved between snapshots), optimizer, every RNG, buffers, step."""
        w = st["w"] if weights is None else torch.from_numpy(np.asarray(weights))
        with torch.no_grad():
            self.flat.w.copy_(w.to(self.flat.w))
            buffers = dict(self.model.named_buffers())
            for k, v in st["buffers"].items():
                buffers[k].copy_(v.to(buffers[k].device))
        self.trainer.load_state(st["trainer"])
        torch.set_rng_state(st["torch_rng"])
        np.random.set_state(st["numpy_rng"])
        version, internal, gauss = st["python_rng"]
        random.setstate((version, tuple(internal), gauss))
        if "cuda_rng" in st and self.device.type == "cuda":
            torch.cuda.set_rng_state(st["cuda_rng"], self.device)
        self.step = int(st["step"])
        self.next_snapshot = int(st["next_snapshot"])
        self.n_switches = int(st.get("switches", 0))

def _fault_hold_step(start: int) -> int | None:
    """Test hook: GLASSLAB_FAULT_HOLD_AT_STEP=s holds a fresh run's loop at the step boundary s, so
    that a test can signal or kill a run that is certain not to have ended
    (tests/sweep/test_sweep_local.py).  A resume (a run that starts past step 0) never holds: the
    requeued point goes on."""
    at = os.environ.get("GLASSLAB_FAULT_HOLD_AT_STEP")
    return int(at) if at is not None and start == 0 else None


def _fault_hold(stop: threading.Event) -> None:
    # Until a stop (a signal, the control channel) or a SIGKILL; the wait wakes for the signal handlers.
    while not stop.wait(0.1):
        pass


def drive(run: Run, sinks: list) -> object:
    """Feed every record of `run` to every sink; returns the last (end) record.

    A sink that fails with RunFailed (the writer on a full disk, say) is
    dropped, the run is stopped at the next step boundary so the others see a
    clean RunInterrupted, and the failure is raised once the run has ended.
    """
    failure: RunFailed | None = None
    last = None
    live = list(sinks)
    for record in run:
        last = record
        for sink in list(live):
            try:
                sink.handle(record)
            except RunFailed as err:
                failure = failure or err
                live.remove(sink)
                run.stop("write failed")
    for sink in sinks:  # failed sinks too: their threads must finish before we report
        close = getattr(sink, "close", None)
        if close is not None:
            try:
                close()
            except RunFailed as err:
                failure = failure or err
    if failure is not None:
        raise failure
    return last
