"""The run: one readable training loop that yields records.

    run = Run(preset)                 # loads data, builds the model (may raise BadInput)
    for record in run:                # RunStarted, StepLogged, SnapshotTaken, ...
        for sink in sinks: sink.handle(record)

`run.stop()` and `run.switch_dynamics(...)` may be called from any thread;
they act at the next step boundary.  Storage, printing and plotting happen in
the sinks, never here.
"""

from __future__ import annotations

import dataclasses
import math
import queue
import random
import threading
import time
from typing import Iterator

import numpy as np
import torch

from . import data as datasets
from . import models
from .dynamics import Trainer
from .errors import BadInput, RunFailed
from .evaluate import evaluate
from .hostcopy import HostPool
from .online import OnlineObservables
from .presets import DynamicsConfig, Preset, with_overrides
from .records import (DynamicsChanged, RunDiverged, RunFinished, RunInterrupted, RunStarted,
                      SnapshotTaken, StepLogged)
from .schedule import log_grid


def resolve_device(name: str) -> torch.device:
    """auto: cuda, then mps, then cpu.  Asking for a device that is absent is bad input."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"device cuda asked for, but torch {torch.__version__} sees no CUDA GPU here: use --device cpu (or auto)")
    if name == "mps" and not has_mps:
        raise BadInput("device mps asked for, but this machine has no Apple GPU: use --device cpu (or auto)")
    if name not in ("cpu", "cuda", "mps"):
        raise BadInput(f"unknown device {name!r}: use auto, cpu, cuda or mps")
    return torch.device(name)


def available_devices() -> list[str]:
    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        out.append("mps")
    return out


OOM_ERRORS = (torch.OutOfMemoryError, MemoryError)


def out_of_memory_line(preset: Preset, n_params: int | None, err: BaseException) -> str:
    """One line: which model, how big, what it asked for, and what to lower."""
    import re

    asked = re.search(r"[Tt]ried to allocate ([0-9.]+ [KMGT]i?B)", str(err))
    size = f"N = {n_params:,} parameters, " if n_params else ""
    return (f"out of memory on {preset.run.device}: model {preset.model.kind} ({size}batch size "
            f"{preset.dynamics.batch_size}, data {preset.data.name} x {preset.data.train_size or 'all'})"
            f"{' asked for ' + asked.group(1) if asked else ''}; lower dynamics.batch_size, dynamics.gd_chunk, "
            "recording.eval_chunk or data.train_size, or use a smaller model.width")


class Run:
    """A training run of one preset; iterate it to train."""

    def __init__(self, preset: Preset, *, data_dir: str | None = None, download: bool = False,
                 data: datasets.DataSet | None = None):
        self.preset = preset
        self.device = resolve_device(preset.run.device)
        if self.device.type == "cuda":
            # Delta and D are sums of squares: TF32 would corrupt them (NOTES.md).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        self.n_params = None
        self._stop = threading.Event()
        self._stop_reason = "stopped"
        self._switches: queue.SimpleQueue = queue.SimpleQueue()
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
        self.snapshot_steps = log_grid(preset.recording.first, preset.run.steps, preset.recording.snapshots)
        self.step = 0
        self.next_snapshot = 0  # index into snapshot_steps
        if preset.run.init_from:
            self._init_from(preset.run.init_from)
        self.online = OnlineObservables(preset, self.model, self.data, self.snapshot_steps)
        self._host = HostPool(self.n_params, self.flat.w.dtype, self.device)

    def _init_from(self, path: str) -> None:
        """Start from the last committed snapshot of another run (e.g. an SGD-trained minimum, [KWJ24])."""
        from .trajectory import Trajectory

        src = Trajectory.open(path)
        if src.n_params != self.n_params or src.n_snapshots == 0:
            raise BadInput(f"run.init_from = {path}: it holds {src.n_snapshots} snapshot(s) of {src.n_params:,} "
                           f"parameters, this model has {self.n_params:,}: give a run of the same model")
        with torch.no_grad():
            self.flat.w.copy_(torch.from_numpy(np.asarray(src.snapshot(-1))).to(self.flat.w))

    # -- control from any thread -------------------------------------------
    def stop(self, reason: str = "stopped") -> None:
        """Stop at the next step boundary; the run ends with RunInterrupted."""
        self._stop_reason = reason
        self._stop.set()

    def switch_dynamics(self, **changes) -> DynamicsConfig:
        """Queue a change of dynamics (e.g. kind="langevin", temperature=1e-4).

        Validated now (BadInput on a bad value), applied at the next step
        boundary, and recorded as a DynamicsChanged record with its step.
        """
        current = self.trainer.cfg
        trial = with_overrides(self.preset.replace(dynamics=current), {f"dynamics.{k}": v for k, v in changes.items()})
        self._switches.put(trial.dynamics)
        return trial.dynamics

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
                         resumed=self.next_snapshot > 0)
        if self.step == 0 and self.next_snapshot == 0:
            yield self._snapshot()

        last_log_t, last_log_step = time.perf_counter(), self.step
        while self.step < p.run.steps:
            # ---- control: dynamics switches and stop requests, between steps
            while not self._switches.empty():
                new = self._switches.get()
                old = self.trainer.cfg
                self.trainer.switch(new)
                yield DynamicsChanged(self.step, dataclasses.asdict(old), dataclasses.asdict(new))
            if self._stop.is_set():
                yield RunInterrupted(self.step, time.perf_counter() - t_start, self._stop_reason)
                return

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
                    yield StepLogged(self.step, value, rate)

            # ---- snapshot on the log grid
            if self.next_snapshot < len(self.snapshot_steps) and self.step == self.snapshot_steps[self.next_snapshot]:
                if not bool(torch.isfinite(self.flat.w).all()):
                    yield RunDiverged(self.step, time.perf_counter() - t_start, "weights", math.nan)
                    return
                yield self._snapshot()

        yield RunFinished(self.step, time.perf_counter() - t_start)

    def _snapshot(self) -> SnapshotTaken:
        weights = self._host.copy(self.flat.w)
        evaluation = evaluate(self.model, self.data, self.preset.recording.eval_chunk)
        obs, rows = self.online.measure(self.next_snapshot, self.flat.w)
        record = SnapshotTaken(self.next_snapshot, self.step, weights, evaluation, obs, self.state(), rows)
        self.next_snapshot += 1
        return record

    # -- what a resume needs ---------------------------------------------------
    def state(self) -> dict:
        """Everything besides w that decides the future of the run (see core/checkpoint.py)."""
        st = {
            "step": self.step,
            "next_snapshot": self.next_snapshot + 1,
            "trainer": self.trainer.state(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(),
            "python_rng": random.getstate(),
            "buffers": {k: v.detach().to("cpu", copy=True) for k, v in self.model.named_buffers()},
        }
        if self.device.type == "cuda":
            st["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return st

    def restore(self, weights: np.ndarray, st: dict) -> None:
        """Put the run back at a stored snapshot: w, optimizer, every RNG, buffers, step."""
        with torch.no_grad():
            self.flat.w.copy_(torch.from_numpy(np.asarray(weights)).to(self.flat.w))
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
