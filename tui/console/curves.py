"""The numbers the console plots for one run, from the engine's records or from a store.

A live run and a stored one end up in the same `RunCurves`, so the live
screen and the runs browser draw with the same widgets and cannot disagree.
Pure data (numpy, no Textual): the UI thread applies records here, widgets
read the result.  Weights are never kept: a SnapshotTaken's host copy belongs
to the writer, which releases it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glasslab.core.records import (
    DynamicsChanged,
    RunDiverged,
    RunStarted,
    SnapshotTaken,
    StepLogged,
    is_end,
)
from glasslab.core.config.presets import DynamicsConfig
from glasslab.core.store import codec, layout

# How many Delta(t_w, t_w + t) curves a plot shows: more would be unreadable in 40 columns.
SHOWN_WAITING_TIMES = 5


@dataclass(frozen=True)
class Switch:
    """A dynamics switch, drawn as a marker at its step."""

    step: int
    old: str
    new: str
    dynamics: DynamicsConfig | None = field(default=None, compare=False)  # the new dynamics, whole

    @property
    def text(self) -> str:
        return f"{self.old}->{self.new}"


@dataclass
class RunCurves:
    name: str
    path: str = ""
    status: str = "starting"  # starting | running | finished | interrupted | diverged | failed
    total_steps: int = 0
    start_step: int = 0
    step: int = 0
    steps_per_s: float = math.nan  # smoothed over the StepLogged rates
    reported_eta_s: float = math.nan  # the run's own estimate of the seconds left (core.train.run.RemainingTime)
    device: str = ""
    gpu: dict[str, Any] = field(default_factory=dict)  # on CUDA: index, name, memory_total_bytes (the store's)
    gpu_memory_bytes: int | None = None  # the run's tensors on its GPU, at its last log (None: not known)
    n_params: int = 0
    train_size: int = 0
    dynamics: dict[str, Any] = field(default_factory=dict)
    preset_dynamics: dict[str, Any] = field(default_factory=dict)  # as the preset set them (switches leave it)
    snapshot_steps: list[int] = field(default_factory=list)
    online_tw: list[int] = field(default_factory=list)  # the t_w the engine measures live (steps)
    loss_steps: list[int] = field(default_factory=list)
    loss_values: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    delta: dict[int, list[tuple[int, float]]] = field(default_factory=dict)  # t_w -> [(t, Delta)]
    d_steps: list[int] = field(default_factory=list)
    d_values: list[float] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    message: str = ""  # why it ended, when that needs saying
    # Bumped on every change the plots show (not the running loss), so they redraw only then.
    version: int = 0

    # ------------------------------------------------------------ records ---
    def apply(self, r) -> None:
        """Fold one engine record into the curves."""
        if isinstance(r, StepLogged):
            self.step = r.step
            self.loss_steps.append(r.step)
            self.loss_values.append(r.loss)
            rate = r.steps_per_s
            self.steps_per_s = rate if not math.isfinite(self.steps_per_s) else 0.8 * self.steps_per_s + 0.2 * rate
            self.reported_eta_s = r.eta_s
            self.gpu_memory_bytes = getattr(r, "gpu_memory_bytes", None)
        elif isinstance(r, SnapshotTaken):
            self._snapshot(r)
        elif isinstance(r, RunStarted):
            self.name, self.total_steps, self.start_step, self.step = r.name, r.total_steps, r.start_step, r.start_step
            self.device, self.n_params, self.train_size = r.device, r.n_params, r.train_size
            self.gpu = dict(getattr(r, "gpu", None) or {})
            self.preset_dynamics = dict(r.preset.get("dynamics", {}))
            if not (r.resumed and self.switches):  # a continued run goes on with the switches it applied
                self.dynamics = dict(self.preset_dynamics)
            self.snapshot_steps = list(r.snapshot_steps)
            grid = self.snapshot_steps
            self.online_tw = [grid[i] for i in getattr(r, "waiting_times", ()) if 0 <= i < len(grid)]
            self.status, self.message = "running", ""
        elif isinstance(r, DynamicsChanged):
            self.switches.append(Switch(r.step, r.old.kind, r.new.kind, r.new))
            self.dynamics = dataclasses.asdict(r.new)
        elif is_end(r):
            self.status, self.step = r.status, r.step
            if isinstance(r, RunDiverged):
                self.message = f"{r.what} not finite at step {r.step}: lower the learning rate"
        if not isinstance(r, StepLogged):  # the plots show snapshots and switches, not the running loss
            self.version += 1

    def _snapshot(self, r: SnapshotTaken) -> None:
        self.step = r.step
        ev = r.evaluation
        self.eval_steps.append(r.step)
        self.train_loss.append(ev.train_loss)
        self.test_loss.append(ev.test_loss)
        self.test_acc.append(ev.test_acc)
        d = r.observables.get("D")
        if d is not None:
            self.d_steps.append(r.step)
            self.d_values.append(float(d))
        # displacements: {index of t_w in snapshot_steps: {"delta": Delta(t_w, this step), ...}}
        for i, obs in (getattr(r, "displacements", None) or {}).items():
            if 0 <= i < len(self.snapshot_steps) and "delta" in obs:
                tw = self.snapshot_steps[i]
                if r.step > tw:
                    self.delta.setdefault(tw, []).append((r.step - tw, float(obs["delta"])))

    # ------------------------------------------------------------- a store ---
    @classmethod
    def from_store(cls, traj) -> "RunCurves":
        """The curves of a stored run (core.store.reader.Trajectory)."""
        a = traj.attrs
        preset = traj.preset
        steps = [int(s) for s in traj.steps]
        n = len(steps)
        c = cls(name=a.get("name", preset.get("name", traj.path.stem)), path=str(traj.path), status=traj.status,
                total_steps=int(a.get("total_steps", preset.get("run", {}).get("steps", 0))),
                device=a.get("device", ""), gpu=dict(a.get("gpu") or {}), n_params=int(a.get("n_params", 0)),
                train_size=int(a.get("train_size", 0)), dynamics=dict(preset.get("dynamics", {})),
                preset_dynamics=dict(preset.get("dynamics", {})),
                snapshot_steps=[int(s) for s in a.get("snapshot_grid", steps)])
        # The t_w the engine measured live (indices into the grid): the same rule picks the curves
        # shown for a live run, an opened one and a continued one.
        c.online_tw = [c.snapshot_steps[i] for i in layout.waiting_snapshots(a) if 0 <= i < len(c.snapshot_steps)]
        loss_steps, loss_values = traj.loss()
        c.loss_steps, c.loss_values = [int(s) for s in loss_steps], [float(v) for v in loss_values]
        ev = traj.evals()
        c.eval_steps = steps
        c.train_loss, c.test_loss, c.test_acc = (list(map(float, ev[k])) for k in ("train_loss", "test_loss", "test_acc"))
        c.step = max(steps[-1] if steps else 0, c.loss_steps[-1] if c.loss_steps else 0)
        d = traj.array("observables/D")
        if d is not None:
            keep = np.isfinite(d)
            c.d_steps = [s for s, k in zip(steps, keep) if k]
            c.d_values = [float(v) for v in np.asarray(d)[keep]]
        msd = traj.array("msd")
        if msd is not None:
            msd = np.asarray(msd, dtype=np.float64)[:n, :n]
            for i in range(n):
                pts = [(steps[j] - steps[i], float(msd[i, j])) for j in range(i + 1, n)
                       if steps[j] > steps[i] and math.isfinite(msd[i, j])]
                if pts:
                    c.delta[steps[i]] = pts
        for r in codec.switches(traj.events):
            c.apply(r)
        c.version = 1
        return c

    def trim_after(self, step: int) -> None:
        """Forget what lies beyond `step`, where a resumed run continues (core.runs.resume's point): it logs
        the steps after it again, and replays the switches of that step itself."""
        def keep(steps, *values):
            n = sum(1 for s in steps if s <= step)
            return [list(steps[:n])] + [list(v[:n]) for v in values]

        self.loss_steps, self.loss_values = keep(self.loss_steps, self.loss_values)
        self.eval_steps, self.train_loss, self.test_loss, self.test_acc = keep(
            self.eval_steps, self.train_loss, self.test_loss, self.test_acc)
        self.d_steps, self.d_values = keep(self.d_steps, self.d_values)
        self.delta = {tw: [(t, v) for t, v in pts if tw + t <= step] for tw, pts in self.delta.items() if tw <= step}
        self.switches = [sw for sw in self.switches if sw.step < step]
        self.dynamics = dataclasses.asdict(self.switches[-1].dynamics) if self.switches else dict(self.preset_dynamics)
        self.step = min(self.step, step)
        self.version += 1

    # ------------------------------------------------------------ derived ---
    @property
    def eta_s(self) -> float:
        """The run's own estimate (steps and snapshots costed apart), else steps left / steps per s."""
        if math.isfinite(self.reported_eta_s):
            return self.reported_eta_s
        left = self.total_steps - self.step
        return left / self.steps_per_s if self.steps_per_s > 0 and left >= 0 else math.nan

    @property
    def running(self) -> bool:
        return self.status in ("starting", "running")

    def waiting_times(self, k: int = SHOWN_WAITING_TIMES) -> list[tuple[int, int]]:
        """(slot, t_w) of the Delta curves to draw: at most k, log-spaced.

        The targets come from the plan: the waiting times the engine measures
        live when it names them, else the snapshot grid up to half the run
        (so every curve gets a decade or so of lags).  Each target is served
        by the nearest t_w that has data, so a followed run and its store
        opened afterwards show the same curves.  Slots are fixed by the plan,
        so a curve keeps its colour while the run fills the others in.
        """
        have = sorted(tw for tw, pts in self.delta.items() if tw > 0 and pts)
        if not have:
            return []
        horizon = max(self.total_steps, self.snapshot_steps[-1] if self.snapshot_steps else 0, have[-1])
        plan = ([s for s in self.online_tw if s > 0]
                or [s for s in self.snapshot_steps if 0 < s <= horizon / 2] or have)
        # The targets are planned t_w themselves (the nearest to log-spaced numbers), not the numbers:
        # live the engine gives data only for the planned t_w, a finished store for every snapshot,
        # and the nearest t_w with data to a number between two planned ones differed between them.
        log_plan = np.log(plan)
        spaced = np.geomspace(plan[0], plan[-1], min(k, len(plan))) if len(plan) > 1 else [plan[0]]
        targets = sorted({plan[int(np.argmin(np.abs(log_plan - math.log(t))))] for t in spaced})
        out, used = [], set()
        log_have = np.log(have)
        for slot, target in enumerate(targets):
            tw = have[int(np.argmin(np.abs(log_have - math.log(target))))]
            if tw not in used:
                used.add(tw)
                out.append((slot, tw))
        return out
