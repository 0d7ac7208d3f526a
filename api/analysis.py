"""`glasslab.analyze`: what `glasslab analyze RUN` prints, as a dataclass (core/analysis/report.py does the work)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glasslab.core.analysis import report


@dataclass(frozen=True)
class Analysis:
    """The aging analysis of one run (docs/science.md, section 5).

    mu, mu_err: the aging exponent of the Delta(t_w, t_w + t) collapse over all usable t_w
    (Delta collapses against t / t_w^mu; mu = 1 simple aging, 0 < mu < 1 subaging [HMT22],
    0 time-translation invariant [BJ18]); None when the analysis could not run.
    mu_at_bound: the fit's minimum sits on the end of its mu grid (mu is then a bound).
    mu_by_window: {"early" | "intermediate" | "late" | "all": mu} of the t_w windows.
    late_slope: d log Delta / d log t over the late window (1 = diffusive).
    verdict, reason: "aging", "time-translation invariant", "interrupted aging (diffusive)",
    "Delta ages; Delta/D does not", "undecided" or "too short to judge" (with what is missing, in
    reason), by the rule of docs/science.md ("When a verdict may be given"); a run still training
    says so: "aging, so far, at step 66".  so_far: that step (None once the run has ended).
    final: the last snapshot's train/test loss and accuracy, n_delta.
    n_delta: the last N_Delta with per_N and per_P under a hinge loss [SG19], else None.
    switches: dynamics changes [{step, old, new}].  error: why the aging part is missing.
    controls: the noise-off control and replicas per t_w (core/analysis/controls.py), where
    `glasslab control` branched the run; empty otherwise.
    raw: report.analyze_store's full dict (windows, fits, relaxation times, D trend ...).
    """

    run: str
    name: str | None
    status: str
    n_params: int
    train_size: int | None
    n_snapshots: int
    last_step: int
    dynamics: str | None
    final: dict[str, float | None]
    n_delta: dict | None
    switches: list[dict]
    mu: float | None
    mu_err: float | None
    mu_at_bound: bool
    mu_by_window: dict[str, float | None]
    late_slope: float | None
    verdict: str
    reason: str | None
    error: str | None
    so_far: int | None = None
    controls: list[dict] = field(default_factory=list)
    raw: dict[str, Any] = field(repr=False, default_factory=dict)


def analyze(path_or_ds, tw_window: tuple[float, float] | None = None, n_boot: int = 200) -> Analysis:
    """Analyse one run: a store path, or a Dataset from glasslab.open (its attrs["store"]).

    tw_window: (first, last) t_w in steps that the fits may use (default: all usable ones);
    n_boot: bootstrap resamples behind mu_err.  A store no writer holds gets its two-time
    matrices completed and saved once, as `glasslab analyze` does.  Raises BadInput (one line)
    for a path that is not a run store or has fewer than 3 snapshots.
    """
    attrs = getattr(path_or_ds, "attrs", None)
    path = Path(attrs["store"]) if attrs is not None and "store" in attrs else Path(path_or_ds)
    r = report.analyze_store(path, tw_window=tw_window, n_boot=n_boot)
    a = r.get("analysis") or {}
    fits = a.get("aging") or {}
    best = fits.get("all") or {}
    verdict = a.get("verdict") or {}
    return Analysis(
        run=r["run"], name=r["name"], status=r["status"], n_params=r["n_params"], train_size=r["train_size"],
        n_snapshots=r["n_snapshots"], last_step=r["last_step"], dynamics=r["dynamics"], final=r["final"],
        n_delta=r["n_delta"], switches=r["switches"], mu=best.get("mu"), mu_err=best.get("mu_err"),
        mu_at_bound=bool(best.get("at_bound")), mu_by_window={k: (f or {}).get("mu") for k, f in fits.items()},
        late_slope=(a.get("late_slope") or {}).get("slope"), verdict=report.verdict_of(r),
        reason=verdict.get("reason"), error=r.get("analysis_error"), so_far=verdict.get("so_far"),
        controls=r.get("controls", []), raw=r)
