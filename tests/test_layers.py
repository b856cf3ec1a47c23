"""The layers of shared/DESIGN.md hold: the library imports without Streamlit, and the
import-linter contracts (.importlinter) are kept."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gengap_dash

ROOT = Path(__file__).resolve().parents[1]

BLOCK_STREAMLIT = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "streamlit" or name.startswith("streamlit."):
            raise ImportError("streamlit is blocked in this test")
sys.meta_path.insert(0, Block())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print("imported", len(sys.argv) - 1)
"""


def _library_modules() -> list[str]:
    names = []
    for module in pkgutil.walk_packages(gengap_dash.__path__, prefix="gengap_dash."):
        if module.name.startswith("gengap_dash.ui"):
            continue
        names.append(module.name)
    return names


def test_every_library_module_imports_with_streamlit_blocked() -> None:
    modules = _library_modules()
    assert "gengap_dash.workspace" in modules and "gengap_dash.views.registry" in modules
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_STREAMLIT, *modules],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"imported {len(modules)}" in result.stdout


def test_the_blocker_would_catch_a_streamlit_import() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_STREAMLIT, "gengap_dash.ui.layout"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode != 0
    assert "streamlit is blocked" in result.stderr


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_linter_contracts_are_kept() -> None:
    result = subprocess.run(
        ["lint-imports", "--no-cache"], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
