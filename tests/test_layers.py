"""The import direction of DESIGN.md, checked on the source.

    wire <- capture <- passive <- diagnose <- jobs <- cli | server | agent
    active <- jobs;  calc <- diagnose;  report <- cli | server | agent
    cli -> agent | server (the verbs `agent` and `serve` call their main)

Three rules, each a table below:
- `ALLOWED`: which mtuscope subpackages a layer may import. Cores never import
  an edge; report/ imports jobs/ only for the types of results, under
  `if TYPE_CHECKING:`; cli/ imports no core (only calc's platform table, for --help).
- `OUTSIDE`: the standard-library and third-party modules that reach outside the
  process (sockets, files, processes, threads, executors, the clock). Only jobs/,
  the edges, active/transport/ and capture's file readers may import them.
- Every subpackage's `__all__` is sorted and names real members.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mtuscope"

CORES = {"wire", "capture", "passive", "active", "calc", "diagnose"}
ALLOWED: dict[str, set[str]] = {
    "wire": {"wire"},
    "capture": {"capture", "wire"},
    "passive": {"passive", "capture", "wire"},
    "active": {"active", "wire"},
    "calc": {"calc", "wire"},
    "diagnose": {"diagnose", "passive", "active", "capture", "wire", "calc"},
    "jobs": {"jobs"} | CORES,
    "report": {"report", "jobs"} | CORES,
    "lab": {"lab", "active", "wire"},
    "cli": {"cli", "jobs", "report", "lab", "server", "agent"},
    "server": {"server", "store", "jobs", "report"},
    "store": {"store"},
    "agent": {"agent", "jobs", "report"},
}
ALWAYS = {"errors", "__init__"}  # the error tree and the version are everyone's
CLI_CORE_MODULES = {"mtuscope.calc.snippets"}
"""The one core module cli/ may import: the platform table its --help lists."""

OUTSIDE = {
    "socket", "select", "selectors", "ssl", "time", "threading", "concurrent",
    "multiprocessing", "subprocess", "asyncio", "signal", "os", "mmap", "ctypes",
    "shutil", "tempfile", "fcntl", "dask", "distributed", "httpx", "gzip",
}  # fmt: skip
"""Modules that open files or sockets, start threads or processes, or read the clock."""
MAY_REACH_OUTSIDE = (
    "jobs",
    "cli",
    "agent",
    "lab",
    "server",
    "store",
    "active/transport",
    "capture/reader.py",
    "capture/source.py",
)
"""Where those modules may be imported: the orchestration floor, the edges, the only
code that sends and receives, and the capture file readers."""


def _modules(path: Path) -> list[tuple[str, bool]]:
    """(imported module, imported only for type checking) for every import in `path`."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "mtuscope":
                names = [f"mtuscope.{a.name}" for a in node.names]
        found += [(name, id(node) in typing_only) for name in names]
    return found


def _layer(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1:
        return "__init__"
    if (SRC / parts[1]).is_dir() or (SRC / f"{parts[1]}.py").is_file():
        return parts[1]
    return "__init__"


LAYERED = sorted(
    p for layer in ALLOWED if (SRC / layer).is_dir() for p in (SRC / layer).rglob("*.py")
)


def _id(p: Path) -> str:
    return str(p.relative_to(SRC))


def _wrong_imports(path: Path, layer: str) -> set[str]:
    """The mtuscope modules `path`, a module of `layer`, imports against `ALLOWED`."""
    bad = set()
    for name, typing_only in _modules(path):
        if not name.startswith("mtuscope"):
            continue
        target = _layer(name)
        if target in ALWAYS or target == layer:
            continue
        if layer == "cli" and name in CLI_CORE_MODULES:
            continue
        if layer == "report" and target == "jobs" and not typing_only:
            bad.add(f"{name} (report/ imports jobs/ for types only, under TYPE_CHECKING)")
        elif target not in ALLOWED[layer]:
            bad.add(name)
    return bad


def _outside_imports(path: Path, where: str) -> set[str]:
    """The `OUTSIDE` modules `path`, found at `where` under src/mtuscope, may not import."""
    if where.startswith(MAY_REACH_OUTSIDE):
        return set()
    return {name for name, _ in _modules(path) if name.split(".")[0] in OUTSIDE}


def _export_faults(module: object) -> list[str]:
    """What is wrong with a module's `__all__`: unsorted, or naming a missing member."""
    exported = list(getattr(module, "__all__", []))
    faults = [] if exported == sorted(exported) else ["not sorted"]
    return faults + [f"names missing {m}" for m in exported if not hasattr(module, m)]


@pytest.mark.parametrize("path", LAYERED, ids=_id)
def test_layer_imports_point_down(path: Path) -> None:
    layer = path.relative_to(SRC).parts[0]
    bad = _wrong_imports(path, layer)
    assert not bad, f"{_id(path)} ({layer}/) must not import {sorted(bad)}"


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=_id)
def test_only_the_floor_and_the_edges_reach_outside(path: Path) -> None:
    where = _id(path)
    bad = _outside_imports(path, where)
    assert not bad, f"{where} must not import {sorted(bad)}: only {MAY_REACH_OUTSIDE} may"


SUBPACKAGES = sorted(p.parent.name for p in SRC.glob("*/__init__.py") if p.parent.name != "cli")


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_exported_members_are_sorted_and_real(name: str) -> None:
    faults = _export_faults(importlib.import_module(f"mtuscope.{name}"))
    assert not faults, f"mtuscope.{name}.__all__: {faults}"


# The rules above pass on the real tree; these show each one fails on a small
# synthetic module that breaks it, so a rule cannot silently check nothing.


def _synthetic(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "synthetic.py"
    path.write_text(source)
    return path


@pytest.mark.parametrize(
    ("layer", "source", "caught"),
    [
        ("wire", "from mtuscope.capture.table import PacketTable\n", "mtuscope.capture.table"),
        ("passive", "import mtuscope.jobs.analyze\n", "mtuscope.jobs.analyze"),
        ("calc", "from mtuscope import diagnose\n", "mtuscope.diagnose"),
        ("cli", "from mtuscope.passive.finish import finish\n", "mtuscope.passive.finish"),
        ("report", "from mtuscope.jobs.result import JobResult\n", "mtuscope.jobs.result"),
    ],
)
def test_an_upward_import_is_caught(tmp_path: Path, layer: str, source: str, caught: str) -> None:
    bad = _wrong_imports(_synthetic(tmp_path, source), layer)
    assert [b.split()[0] for b in bad] == [caught]


def test_allowed_imports_are_not_caught(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from mtuscope.errors import UsageError\n"
        "from mtuscope.calc.snippets import PLATFORMS\n"
        "if TYPE_CHECKING:\n"
        "    from mtuscope.jobs.result import JobResult\n"
    )
    path = _synthetic(tmp_path, source)
    assert _wrong_imports(path, "cli") == set()
    assert _wrong_imports(path, "report") == set()


@pytest.mark.parametrize(
    "source", ["import socket\n", "from time import monotonic\n", "import concurrent.futures\n"]
)
def test_reaching_outside_is_caught_in_a_core(tmp_path: Path, source: str) -> None:
    path = _synthetic(tmp_path, source)
    assert _outside_imports(path, "passive/synthetic.py")
    assert _outside_imports(path, "report/synthetic.py")
    assert not _outside_imports(path, "jobs/synthetic.py")
    assert not _outside_imports(path, "active/transport/synthetic.py")


def test_a_bad_all_is_caught() -> None:
    import types

    module = types.ModuleType("synthetic")
    module.__all__ = ["b", "a"]  # type: ignore[attr-defined]  # a synthetic module's export list
    module.a = 1  # type: ignore[attr-defined]  # only `a` exists; `b` is missing
    assert _export_faults(module) == ["not sorted", "names missing b"]
