"""The import direction of DESIGN.md, checked on the source: cores never import edges.

cli|server -> report -> diagnose -> passive|active -> capture -> wire;  diagnose -> calc
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mtuscope"

ALLOWED: dict[str, set[str]] = {
    "wire": {"wire"},
    "capture": {"capture", "wire"},
    "passive": {"passive", "capture", "wire"},
    "active": {"active", "wire"},
    "calc": {"calc", "wire"},
    "diagnose": {"diagnose", "passive", "active", "capture", "wire", "calc"},
    "jobs": {"jobs", "diagnose", "passive", "active", "capture", "wire", "calc"},
    "report": {"report", "jobs", "diagnose", "passive", "active", "capture", "wire", "calc"},
    "lab": {"lab", "active", "wire"},  # an edge: active's ProbeKind, wire's size limits
}
ALWAYS = {"errors", "__init__"}  # the error tree and the version are everyone's


def _imports(path: Path) -> set[str]:
    """Top-level mtuscope subpackages a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "mtuscope":
                names = [
                    f"mtuscope.{a.name}"
                    if (SRC / a.name).is_dir() or (SRC / f"{a.name}.py").is_file()
                    else "mtuscope"
                    for a in node.names
                ]
        for name in names:
            parts = name.split(".")
            if parts[0] == "mtuscope":
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


LAYERED = sorted(
    p for layer in ALLOWED for p in (SRC / layer).rglob("*.py") if (SRC / layer).is_dir()
)


@pytest.mark.parametrize("path", LAYERED, ids=lambda p: str(p.relative_to(SRC)))
def test_layer_imports_point_down(path: Path) -> None:
    layer = path.relative_to(SRC).parts[0]
    bad = _imports(path) - ALLOWED[layer] - ALWAYS
    assert not bad, f"{path.relative_to(SRC)} ({layer}/) must not import {sorted(bad)}"


SUBPACKAGES = sorted(p.parent.name for p in SRC.glob("*/__init__.py") if p.parent.name != "cli")


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_exported_members_are_sorted_and_real(name: str) -> None:
    module = importlib.import_module(f"mtuscope.{name}")
    exported = list(getattr(module, "__all__", []))
    assert exported == sorted(exported), f"mtuscope.{name}.__all__ is not sorted"
    for member in exported:
        assert hasattr(module, member), f"mtuscope.{name}.__all__ names missing {member}"
