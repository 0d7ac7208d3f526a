"""Sweeps: a grid of points over one preset, each an ordinary run store, run through submitit.

    plan = grid.plan("quickstart", ["model.width=2,4,8", "run.seed=0:5"])   # validated, nothing submitted
    d = points.create(plan, Path("sweeps/widths"), submit.executor_config("local", parallel=2, ...))
    ids = [p["id"] for p in manifest.read(d)["points"]]
    submit.run_local(d, ids)                  # or submit.submit_slurm(d, ids)
    rows = points.status(d)                   # one row per point: axis values, state, step / total, loss

The grid syntax is in core/sweep/grid.py, the directory and manifest in
core/sweep/manifest.py, creating a sweep and each point's progress in
core/sweep/points.py, the job of one point (resume or start, preemption and
requeue) in core/sweep/job.py, submission in core/sweep/submit.py, the
ensembles over seeds in core/sweep/ensemble.py.
"""
