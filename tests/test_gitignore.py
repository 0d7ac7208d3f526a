"""The folders glasslab writes into a checkout by default are ignored by git (issue 31 item 14:
`sweeps/` was not, so `git status` listed every sweep after `glasslab sweep` in a clone)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_output_folders_are_ignored_by_git():
    ignored = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    # runs/ (run --out, GLASSLAB_OUT), sweeps/ (sweep --out, GLASSLAB_SWEEPS), data/ (--data-dir, GLASSLAB_DATA)
    for folder in ("runs", "sweeps", "data"):
        assert f"/{folder}/" in ignored, folder
