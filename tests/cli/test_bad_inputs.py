"""The bad-input corpus (tests/bad_inputs/cases.toml, fields.toml) through the real CLI.

Each case: one line on stderr naming the problem (and the fix), exit code 2,
no traceback, and no file created or changed anywhere under the case's
directory, the working directory or the shipped presets.
"""

import dataclasses
import gzip
import os
import pickle
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from typer.testing import CliRunner

from glasslab.core.config import presets
from glasslab.tui.cli import app

from support.presets import TINY_TOML

CORPUS = Path(__file__).parent / "bad_inputs"
FIELD_CASES = tomllib.loads((CORPUS / "fields.toml").read_text())["case"]
CASES = tomllib.loads((CORPUS / "cases.toml").read_text())["case"] + FIELD_CASES
runner = CliRunner()


def _idx(path: Path, arr: np.ndarray, code: int, truncate: int = 0) -> None:
    raw = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape) + arr.tobytes()
    with gzip.open(path, "wb") as f:
        f.write(raw[: len(raw) - truncate] if truncate else raw)


def setup_case(kind: str, d: Path) -> None:
    if kind == "latin1-preset":
        (d / "preset.toml").write_bytes("description = '\u00ff'".encode("latin-1"))
    elif kind == "a-file":
        (d / "a-file").write_text("not a directory")
    elif kind in ("truncated-fashion", "garbage-fashion"):
        fm = d / "data" / "fashion-mnist"
        fm.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for split, n in (("train", 40), ("t10k", 20)):
            images = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
            labels = np.arange(n, dtype=np.uint8) % 10
            cut = 100 if (kind == "truncated-fashion" and split == "train") else 0
            _idx(fm / f"{split}-images-idx3-ubyte.gz", images, 3, truncate=cut)
            _idx(fm / f"{split}-labels-idx1-ubyte.gz", labels, 1)
        if kind == "garbage-fashion":
            with gzip.open(fm / "train-images-idx3-ubyte.gz", "wb") as f:
                f.write(b"this is not an IDX file at all")
    elif kind == "truncated-cifar":
        c = d / "data" / "cifar-10-batches-py"
        c.mkdir(parents=True)
        for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
            blob = pickle.dumps({"data": np.zeros((10, 3072), np.uint8), "labels": list(range(10))})
            (c / name).write_bytes(blob[: len(blob) // 2] if name == "data_batch_3" else blob)
        (c / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    elif kind == "plain-dir":
        (d / "plain").mkdir()
        (d / "plain" / "notes.txt").write_text("hello")
    elif kind == "odd-preset-names":  # issue 31 item 9: file names that cannot name a store
        for stem in ("my run", "r\u00e9sum\u00e9", "tab\there", "x" * 230):
            (d / f"{stem}.toml").write_text(TINY_TOML.format(steps=20))
    elif kind == "foreign-zarr":
        zarr.open_group(str(d / "foreign.zarr"), mode="w").create_array("x", shape=(3,), dtype="f8")
    else:
        raise AssertionError(f"unknown setup {kind}")


def tree(*roots: Path) -> dict:
    out = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                p = Path(dirpath) / n
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 30 and len({c["name"] for c in CASES}) == len(CASES)


def test_every_preset_field_has_a_non_finite_and_an_out_of_range_case():
    """Every field of every dataclass in core/config/presets.py, a field added later included."""
    fields = [f.name for f in dataclasses.fields(presets.Preset)]
    fields += [f"{s}.{f.name}" for s, cls in presets.SECTIONS.items() for f in dataclasses.fields(cls)]
    have = {(c["field"], c["kind"]) for c in FIELD_CASES}
    missing = [(f, k) for f in fields for k in ("non-finite", "out-of-range") if (f, k) not in have]
    assert not missing, f"add these to tests/bad_inputs/fields.toml: {missing}"
    floats = [f"{s}.{f.name}" for s, cls in presets.SECTIONS.items() for f in dataclasses.fields(cls) if f.type == "float"]
    via_set = {c["field"] for c in FIELD_CASES if c["kind"] == "non-finite" and "--set" in c["args"]}
    assert set(floats) <= via_set  # a float field refuses nan/inf from --set as well as from the file


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input(case, tmp_path):
    if case.get("needs_no_cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    d = tmp_path / "case"
    d.mkdir()
    if "preset" in case:
        (d / "preset.toml").write_text(case["preset"])
    if "setup" in case:
        setup_case(case["setup"], d)
    args = [a.replace("{dir}", str(d)).replace("{preset}", str(d / "preset.toml")) for a in case["args"]]
    if args[0] == "run" and "--out" not in args:
        args += ["--out", str(d / "runs")]
    before = tree(d, Path.cwd(), presets.shipped_dir())
    res = runner.invoke(app, args)
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert case["expect"] in lines[0], lines[0]
    assert "Traceback" not in res.output and "Traceback" not in res.stderr
    assert tree(d, Path.cwd(), presets.shipped_dir()) == before
