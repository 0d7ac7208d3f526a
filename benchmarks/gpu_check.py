"""A chosen GPU, end to end, on a machine that has one (issue 32, item 3): run it there.

    .venv/bin/python benchmarks/gpu_check.py [--gpus 0,1] [--steps 400]

For each GPU N (default: every one torch sees):
  1. `glasslab run quickstart --no-ui --device cuda:N` trains, and the store's provenance says
     device cuda:N, the card's name and its memory (attrs "device" and "gpu");
  2. the weights lived on that card: a Run built with run.device = "cuda:N" holds its tensors
     there and on no other card (torch.cuda.memory_allocated per card);
  3. a detached run on cuda:N shows in `glasslab ps --json` with the card's name and memory in use
     (> 0), then `glasslab stop` ends it.
And once: `--device cuda:K` for K = the number of GPUs is one line and exit 2.

The test suite checks the same paths with a faked torch.cuda (tests/system/test_devices.py); this
is what only a real card can show.  Prints one line per check and exits 1 if one fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

FAILED: list[str] = []


def check(ok: bool, what: str) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        FAILED.append(what)


def glasslab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "glasslab", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def store_attrs(store: Path) -> dict:
    return json.loads((store / "zarr.json").read_text())["attributes"]


def trains_on(n: int, steps: int, out: Path) -> None:
    res = glasslab("run", "quickstart", "--no-ui", "--device", f"cuda:{n}", "--steps", steps, "--out", out)
    check(res.returncode == 0, f"cuda:{n}: glasslab run --device cuda:{n} exits 0 ({res.stderr.strip()[-200:]})")
    stores = sorted(out.glob("*.zarr"))
    if not stores:
        check(False, f"cuda:{n}: a store was written")
        return
    a = store_attrs(stores[-1])
    gpu = a.get("gpu") or {}
    check(a.get("device") == f"cuda:{n}", f"cuda:{n}: provenance device = {a.get('device')}")
    check(gpu.get("index") == n and gpu.get("name") == torch.cuda.get_device_name(n)
          and gpu.get("memory_total_bytes") == torch.cuda.get_device_properties(n).total_memory,
          f"cuda:{n}: provenance gpu = {gpu}")


def holds_its_tensors_there(n: int) -> None:
    from glasslab.core.config import presets
    from glasslab.core.train.run import Run

    before = [torch.cuda.memory_allocated(i) for i in range(torch.cuda.device_count())]
    run = Run(presets.load("quickstart", [f"run.device=cuda:{n}"]))
    after = [torch.cuda.memory_allocated(i) for i in range(torch.cuda.device_count())]
    grew = [i for i in range(len(after)) if after[i] > before[i]]
    check(run.flat.w.device == torch.device(f"cuda:{n}"), f"cuda:{n}: the weights are on {run.flat.w.device}")
    check(grew == [n], f"cuda:{n}: memory grew on card(s) {grew} only")
    del run
    torch.cuda.empty_cache()


def ps_shows_it(n: int, out: Path) -> None:
    res = glasslab("run", "quickstart", "--detach", "--device", f"cuda:{n}", "--steps", "2000000", "--out", out)
    store = res.stdout.strip().splitlines()[-1] if res.returncode == 0 and res.stdout.strip() else ""
    check(bool(store), f"cuda:{n}: a detached run started ({res.stderr.strip()[-200:]})")
    if not store:
        return
    row, deadline = None, time.monotonic() + 300
    while time.monotonic() < deadline:
        rows = json.loads(glasslab("ps", "--json", out).stdout)["runs"]
        row = next((r for r in rows if r["run"] == store), None)
        if row and row["status"] == "running" and (row.get("gpu") or {}).get("memory_allocated_bytes"):
            break
        time.sleep(1)
    gpu = (row or {}).get("gpu") or {}
    check(row is not None and row["device"] == f"cuda:{n}" and gpu.get("name") == torch.cuda.get_device_name(n)
          and (gpu.get("memory_allocated_bytes") or 0) > 0, f"cuda:{n}: ps --json row {row}")
    table = glasslab("ps", out).stdout
    check(torch.cuda.get_device_name(n) in table and "GiB" in table, f"cuda:{n}: the ps table shows the card")
    res = glasslab("stop", store, "--timeout", "120")
    check(res.returncode == 0, f"cuda:{n}: glasslab stop ({res.stdout.strip() or res.stderr.strip()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpus", default=None, help="comma-separated indices (default: all)")
    ap.add_argument("--steps", type=int, default=400)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_check: torch sees no CUDA GPU here; run it on a GPU machine")
    count = torch.cuda.device_count()
    gpus = [int(x) for x in args.gpus.split(",")] if args.gpus else list(range(count))
    print(f"torch {torch.__version__}, {count} GPU(s): "
          + ", ".join(f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(count)), flush=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as tmp:
        for n in gpus:
            trains_on(n, args.steps, Path(tmp) / f"runs{n}")
            holds_its_tensors_there(n)
            ps_shows_it(n, Path(tmp) / f"detached{n}")
        res = glasslab("run", "quickstart", "--no-ui", "--device", f"cuda:{count}", "--out", Path(tmp) / "none")
        lines = res.stderr.strip().splitlines()
        check(res.returncode == 2 and len(lines) == 1 and f"has {count} CUDA GPU" in res.stderr,
              f"cuda:{count} (absent) is one line, exit 2: {lines}")
    print("gpu_check: " + ("all passed" if not FAILED else f"{len(FAILED)} failed"))
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
