"""The names of modules that docstrings, comments and the docs give must exist (issue 28, item 5).

The imports say glasslab.core.*, the folders are core/: a reader who follows a
path or a dotted name from a docstring or docs/architecture.md to a file that was
renamed long ago is lost.  Checked, in the docstrings and comments of every .py
file and in the text of docs/*.md and the top-level *.md files (HTML comments
left out):

- paths under core/ or tui/: `core/store/layout.py`, `tui/console/`, `core/runs/launch`
  (a module named without .py), `core/analysis/report.load_two_time` (a module's name);
  a bare two-part word such as "core/bare" (a ratio) is not taken for a path;
- dotted names: `glasslab.core.store.reader.Trajectory`, `core.runs.resume`, `tui.printer`:
  each package and module must exist and the first name after the module must be
  defined in it (a def, class, assignment or import at its top level).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY_DIRS = ("core", "tui", "api", "benchmarks", "tests", "docs")
SUFFIXES = (".py", ".tcss", ".md", ".toml")
PATH_RE = re.compile(r"(?<![\w./-])((?:core|tui)/[\w/.-]*[\w/])")
DOTTED_RE = re.compile(r"(?<![\w./-])((?:glasslab\.)?(?:core|tui)(?:\.\w+)+)")


@lru_cache(maxsize=None)
def top_level_names(module: Path) -> frozenset[str]:
    names = set()
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return frozenset(names)


def dotted_exists(name: str, root: Path = ROOT) -> bool:
    """A dotted name: packages down to a module, then (if any) a name defined at its top level."""
    parts = name.split(".")
    if parts[0] == "glasslab":
        parts = parts[1:]
    if "." + parts[-1] in SUFFIXES:  # core.py, a file name: not a dotted module name
        return True
    here = root / parts[0]
    for i, part in enumerate(parts[1:], 1):
        if (here / part / "__init__.py").exists():
            here = here / part
            continue
        if (here / f"{part}.py").exists():
            rest = parts[i + 1:]
            return not rest or rest[0] in top_level_names(here / f"{part}.py")
        return (here / "__init__.py").exists() and part in top_level_names(here / "__init__.py")
    return True


def path_exists(path: str, root: Path = ROOT) -> bool | None:
    """True or False for a path under core/ or tui/; None for a word that is not taken for one."""
    path = path.rstrip(".")
    has_suffix = path.endswith(SUFFIXES)
    if not (has_suffix or path.endswith("/") or path.count("/") >= 2):
        return None  # "core/bare": two words with a slash
    if (root / path).exists() or (root / f"{path}.py").exists():
        return True
    folder, _, last = path.rstrip("/").rpartition("/")
    module, dot, attr = last.partition(".")
    if dot and not has_suffix:  # core/analysis/report.load_two_time
        file = root / folder / f"{module}.py"
        return file.exists() and attr.split(".")[0] in top_level_names(file)
    return False


def stale_names(text: str, root: Path = ROOT) -> list[str]:
    """The module paths and dotted names in `text` that do not exist under root."""
    bad = [m.group(1) for m in PATH_RE.finditer(text) if path_exists(m.group(1), root) is False]
    return bad + [m.group(1) for m in DOTTED_RE.finditer(text) if not dotted_exists(m.group(1), root)]


def python_doc_texts(path: Path):
    """(line, text) of every docstring and comment in a Python file."""
    source = path.read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield node.body[0].lineno, doc
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string


def markdown_files() -> list[Path]:
    return sorted((ROOT / "docs").glob("*.md")) + sorted(ROOT.glob("*.md"))


def python_files() -> list[Path]:
    return sorted(p for d in PY_DIRS for p in (ROOT / d).rglob("*.py"))


def test_docstrings_and_comments_name_modules_that_exist():
    bad = [f"{p.relative_to(ROOT)}:{line}: {name}" for p in python_files()
           for line, text in python_doc_texts(p) for name in stale_names(text)]
    assert not bad, "names of modules that do not exist (renamed? moved?):\n" + "\n".join(bad)


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: p.name)
def test_the_docs_name_modules_that_exist(doc):
    text = re.sub(r"<!--.*?-->", "", doc.read_text(), flags=re.S)
    assert not stale_names(text), f"{doc.relative_to(ROOT)} names modules that do not exist: {stale_names(text)}"


def test_the_docs_pages_checked_include_the_architecture_page():
    assert ROOT / "docs" / "architecture.md" in markdown_files() and ROOT / "README.md" in markdown_files()


@pytest.mark.parametrize("text", [
    "the Zarr writer (core/store/format.py)", "see tui/cli.py", "core.trajectory.Trajectory", "core.resume's point",
    "glasslab.core.run.Run", "core.train.run.NoSuchThing", "core/analysis/report.no_such_function",
    "core/runs/nowhere/", "tui.app.NoApp",
])
def test_a_stale_name_is_found(text):
    assert stale_names(text) != []


@pytest.mark.parametrize("text", [
    "core/store/layout.py", "tui/console/", "core/runs/launch", "core/analysis/report.load_two_time",
    "core.train.run.RemainingTime", "glasslab.core.store.reader.Trajectory", "core.runs.resume's point",
    "core/bare <= 1.10", "tui/console/app.tcss", "glasslab.core.__version__", "tui.printer",
])
def test_a_true_name_passes(text):
    assert stale_names(text) == []


def test_a_planted_stale_name_in_a_docstring_fails_the_check(tmp_path):
    """The whole check on a copy of one module with a stale name planted in its docstring."""
    planted = tmp_path / "core" / "records.py"
    planted.parent.mkdir()
    source = (ROOT / "core" / "records.py").read_text()
    planted.write_text(source.replace('"""The records', '"""See core/store/format.py.  The records', 1))
    found = [name for _, text in python_doc_texts(planted) for name in stale_names(text)]
    assert found == ["core/store/format.py"]
    assert [name for _, text in python_doc_texts(ROOT / "core" / "records.py") for name in stale_names(text)] == []
