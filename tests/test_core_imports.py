"""core/ is the engine: it never imports textual, rich or tui/ (STYLE.md rule 1)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE_MODULES = sorted(p.stem for p in (ROOT / "core").glob("*.py") if p.stem != "__init__")
UI = ("textual", "rich", "glasslab.tui")


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
    assert _imported_ui("import glasslab.core.run; import rich.table") == ["rich"]


def test_the_list_of_core_modules_is_complete():
    assert {"run", "presets", "trajectory", "writer", "dynamics", "data", "models"} <= set(CORE_MODULES)
