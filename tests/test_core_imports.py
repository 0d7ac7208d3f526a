"""core/ is the engine, grouped by the stages data passes through (docs/architecture.md).

- It never imports textual, rich or tui/ (STYLE.md rule 1): a fresh interpreter imports
  every core module and none of those may show in sys.modules.
- Its imports point one way, down the stages: a module imports its own stage, earlier
  stages and the shared vocabulary (core/errors.py, core/records.py), never a later stage.
  The vocabulary imports no stage, but for records.py's import of config/, the first stage:
  DynamicsChanged carries the settings as config's DynamicsConfig (issue 28).
  Every import counts, those inside functions too (read from the source, not run).
- No module imports another module's private names (a leading underscore): what a
  module offers others it names publicly, and nothing is re-exported.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
# The stages in the order data flows through them; a stage may import the ones before it.
STAGES = ("config", "system", "measure", "store", "train", "runs", "analysis", "sweep")
SHARED = ("errors", "records")  # the vocabulary every stage speaks
SHARED_MAY_IMPORT = {"records": ("config",)}  # the first stage, which imports no records
CORE_MODULES = sorted(".".join(p.relative_to(CORE).with_suffix("").parts) for p in CORE.rglob("*.py")
                      if p.name != "__init__.py")
UI = ("textual", "rich", "glasslab.tui", "xarray")  # xarray: the notebook API's optional extra, never the engine's


def _imported_ui(statement: str) -> list[str]:
    code = (f"import sys; {statement}; "
            f"print(sorted({{u for m in sys.modules for u in {UI!r} if m == u or m.startswith(u + '.')}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return eval(out.stdout)  # our own printed list literal


def test_no_core_module_imports_ui():
    # One fresh interpreter importing every core module: any UI import would show in sys.modules.
    assert _imported_ui("; ".join(f"import glasslab.core.{m}" for m in CORE_MODULES)) == []


def test_the_check_would_catch_a_ui_import():
    assert _imported_ui("import glasslab.core.train.run; import rich.table") == ["rich"]


def test_the_list_of_core_modules_is_complete():
    assert {"train.run", "config.presets", "store.layout", "store.writer", "system.dynamics",
            "system.data", "system.models", "runs.headless"} <= set(CORE_MODULES)


def core_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported glasslab.core module, names) for every import in a file, lazy ones too."""
    package = ["glasslab", "core", *path.relative_to(CORE).parent.parts]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("glasslab.core")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            if not base.startswith("glasslab.core"):
                continue
            names = [a.name for a in node.names]
            # `from glasslab.core.store import lock` imports the module glasslab.core.store.lock
            mods = [f"{base}.{n}" for n in names if (CORE / Path(*f"{base}.{n}".split(".")[2:])).with_suffix(".py").exists()]
            out += [(node.lineno, m, []) for m in mods] or [(node.lineno, base, names)]
    return out


def stage_of(module: str) -> str:
    """glasslab.core.store.writer -> store; glasslab.core.errors -> errors; glasslab.core -> ''."""
    parts = module.split(".")[2:]
    return parts[0] if parts else ""


def flow_violations(path: Path) -> list[str]:
    own = path.relative_to(CORE).parts[0] if len(path.relative_to(CORE).parts) > 1 else "shared"
    bad = []
    for line, module, names in core_imports(path):
        target = stage_of(module)
        where = f"{path.relative_to(ROOT)}:{line} imports {module}"
        if own == "shared":
            if target not in ("", *SHARED, *SHARED_MAY_IMPORT.get(path.stem, ())):
                bad.append(f"{where}: the shared vocabulary imports no stage")
        elif own in ("config",) and target == "records":
            bad.append(f"{where}: records imports config/, so config/ imports no records")
        elif target in STAGES and STAGES.index(target) > STAGES.index(own):
            bad.append(f"{where}: {own}/ comes before {target}/ in the flow")
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        if private:
            bad.append(f"{where}: another module's private names {private}")
    return bad


def test_every_stage_is_a_folder_and_every_folder_a_stage():
    assert {p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(STAGES)
    assert {p.stem for p in CORE.glob("*.py")} == {"__init__", *SHARED}


def test_core_imports_point_down_the_stages():
    bad = [v for p in sorted(CORE.rglob("*.py")) for v in flow_violations(p)]
    assert bad == []


@pytest.mark.parametrize("source, complaint", [
    ("from glasslab.core.runs import live\n", "comes before runs/"),
    ("def f():\n    from glasslab.core.analysis.report import analyze_store\n", "comes before analysis/"),
    ("from ..sweep import manifest\n", "comes before sweep/"),
    ("from glasslab.core.analysis.collapse import _secret\n", "private names"),
])
def test_the_flow_check_catches_a_backward_or_private_import(tmp_path, monkeypatch, source, complaint):
    # A module placed in store/ (which comes before runs/, analysis/ and sweep/).
    fake_core = tmp_path / "core"
    (fake_core / "store").mkdir(parents=True)
    (fake_core / "analysis").mkdir()
    (fake_core / "analysis" / "collapse.py").write_text("")
    module = fake_core / "store" / "bad.py"
    module.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "CORE", fake_core)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert any(complaint in v for v in flow_violations(module)), flow_violations(module)


@pytest.mark.parametrize("where, source, complaint", [
    ("config/bad.py", "from glasslab.core.records import DynamicsChanged\n", "config/ imports no records"),
    ("errors.py", "from glasslab.core.config.presets import Preset\n", "the shared vocabulary imports no stage"),
    ("records.py", "from glasslab.core.system import data\n", "the shared vocabulary imports no stage"),
])
def test_records_alone_of_the_vocabulary_imports_config_and_config_imports_no_records(
        tmp_path, monkeypatch, where, source, complaint):
    module = tmp_path / "core" / where
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(source)
    monkeypatch.setattr(sys.modules[__name__], "CORE", tmp_path / "core")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert any(complaint in v for v in flow_violations(module)), flow_violations(module)


def test_records_may_import_config():
    assert flow_violations(CORE / "records.py") == []
