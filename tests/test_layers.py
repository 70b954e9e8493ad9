"""The package's layers: `analysis/` computes numbers and never imports `report/` (which
presents them), so there is no import cycle between the two."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import tune_bench

PACKAGE = Path(tune_bench.__file__).parent
ANALYSIS = sorted((PACKAGE / "analysis").glob("*.py"))
# what analysis may use besides itself: no module below imports report/ either
SHARED = [PACKAGE / "labels.py"]


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_analysis_never_imports_report_in_its_source() -> None:
    assert ANALYSIS, "no analysis modules found"
    offending = {p.name: sorted(n for n in _imports(p)
                                if n == "tune_bench.report" or n.startswith("tune_bench.report."))
                 for p in ANALYSIS + SHARED}
    assert not {k: v for k, v in offending.items() if v}


def test_every_analysis_module_imports_with_report_blocked() -> None:
    """Each module of tune_bench.analysis, imported in a fresh interpreter where importing
    tune_bench.report raises: nothing below analysis pulls report in either."""
    modules = ["tune_bench.analysis"] + [f"tune_bench.analysis.{p.stem}" for p in ANALYSIS
                                         if p.stem != "__init__"]
    code = f"""
import importlib, importlib.abc, sys

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "tune_bench.report" or name.startswith("tune_bench.report."):
            raise ImportError("analysis imported " + name)
        return None

sys.meta_path.insert(0, Block())
for m in {modules!r}:
    importlib.import_module(m)
assert not [m for m in sys.modules if m.startswith("tune_bench.report")]
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
