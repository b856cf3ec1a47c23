"""The package declares what it needs: `pip install .` gives a package that imports."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_pyproject_declares_every_runtime_requirement() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    pinned = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip() and not line.startswith("-")
    ]
    assert {_name(r) for r in pinned} <= declared
    assert "torch==2.13.0" in pinned  # the pin stays where these machines need it
    assert "test" in project["optional-dependencies"]
    assert "pytest" in {_name(r) for r in project["optional-dependencies"]["test"]}


def test_every_third_party_import_of_the_library_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    import_names = {
        "sklearn": "scikit-learn",
        "yaml": "pyyaml",
        "PIL": "pillow",
        "umap": "umap-learn",
    }
    imported = set()
    for path in (ROOT / "gengap_dash").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {
        name
        for name in imported
        if name not in sys.stdlib_module_names and name not in ("gengap_dash", "__future__")
    }
    optional = {"fcntl", "pynndescent", "ray", "psutil", "cleanlab", "torchvision", "duckdb"}
    missing = {
        name
        for name in third_party - optional
        if import_names.get(name, name).lower().replace("_", "-") not in declared
    }
    assert missing == set(), f"imported but not declared in pyproject.toml: {sorted(missing)}"
