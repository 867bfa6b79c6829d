"""Suite-wide settings: where the shared capture corpus lives, and what CI may not skip.

The corpus sits beside the repository (`../shared/corpus`), in a developer's
checkout and in CI's clean clone alike; `MTUSCOPE_CORPUS` overrides it. Test
modules read the variable at import, after this file has set it.

In CI (`CI=true`) the environment is part of what is tested: a missing C walker,
corpus, tshark or root is a failure, not a skip. The session stops at the start
with the list of what is missing, and any test that would skip for one of those
reasons (`ENVIRONMENT_SKIPS`) is reported as failed. Elsewhere such tests skip,
saying why.

The suite runs on several processes (pytest-xdist, `make pytest`: `--dist loadgroup`,
with the scheduler of this file: xdist's own loadgroup marks no longer reach the
controller under pytest 9). Each test goes to the group of its module, so a module's
shared labs, clusters and servers start once; a module whose module-scoped fixture
is parametrized (one lab per scenario, one store per database) is one group per
parameter, which runs on any free worker, since each parameter is its own fixture
instance anyway; a lab test that shares nothing is a group of its own. The slow
directories (labs, the monitoring server) are handed out first. The workers write
the groups of their collection to a file the controller's scheduler reads.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault(
    "MTUSCOPE_CORPUS", str(Path(__file__).resolve().parents[2] / "shared" / "corpus")
)

IN_CI = os.environ.get("CI", "").lower() == "true"

ENVIRONMENT_SKIPS = (
    "C walker",
    "_walker",
    "corpus",
    "tshark",
    "root",
    "CAP_NET",
    "namespaces",
    "not installed",
    "missing tools",
)
"""Words of the skip reasons that mean "this machine lacks what CI must have"."""


def missing_environment() -> list[str]:
    """What CI needs and this machine lacks: the C walker, the corpus, tshark, root."""
    from mtuscope.capture.walk import HAVE_C

    corpus = Path(os.environ["MTUSCOPE_CORPUS"])
    missing = []
    if not HAVE_C:
        missing.append("the C walker (_walker.c) is not built")
    if not (corpus / "MANIFEST.tsv").is_file():
        missing.append(f"the corpus is not at {corpus}")
    if shutil.which("tshark") is None:
        missing.append("tshark is not on PATH")
    if os.geteuid() != 0:
        missing.append("not root (lab and raw-socket tests need it)")
    return missing


def pytest_sessionstart(session: pytest.Session) -> None:
    if IN_CI and (missing := missing_environment()):
        raise pytest.UsageError("CI=true but " + "; ".join(missing))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not IN_CI or not report.skipped:
        return
    reason = str(report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr)
    if any(word in reason for word in ENVIRONMENT_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"CI=true: skipped for a missing environment: {reason}"


SLOW_FIRST = (
    "tests/capture/test_corpus.py",
    "tests/agent/",
    "tests/e2e/",
    "tests/server/",
    "tests/lab/",
    "tests/store/",
)
"""Long tests (lab bring-ups, servers), handed out first, in this order; the corpus
module first of all: its one group holds tshark's oracle over the whole corpus (4 min)."""


def xdist_group(item: pytest.Item) -> str:
    """The worker group of a test: its module, and the parameter (by index) of each
    module-scoped parametrized fixture it uses (`tests/e2e/test_verdicts.py[scenario_runs=4]`).
    A test of a `SLOW_FIRST` directory that shares no fixture of the suite wider than itself (it
    brings up its own lab) is a group of its own."""
    module = item.nodeid.split("::", 1)[0]
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return module
    wide = [
        name
        for name, defs in info.name2fixturedefs.items()
        if defs and defs[-1].baseid and defs[-1].scope in ("class", "module", "package", "session")
    ]
    if not wide and module.startswith(SLOW_FIRST):
        return item.nodeid
    callspec = getattr(item, "callspec", None)
    params = getattr(callspec, "indices", {})
    shared = sorted(f"{name}={params[name]}" for name in wide if name in params)
    return f"{module}[{','.join(shared)}]" if shared else module


def _priority(item: pytest.Item) -> int:
    for rank, top in enumerate(SLOW_FIRST):
        if item.nodeid.startswith(top):
            return rank
    return len(SLOW_FIRST)


GROUPS_KEY = "mtuscope_groups"
"""The worker input naming the directory where workers write their groups."""


def _loadgroup(config: pytest.Config) -> bool:
    # The controller has `--dist loadgroup`; a worker has dist "no" and `loadgroup` set.
    return bool(
        config.getoption("dist", "no") == "loadgroup" or config.getoption("loadgroup", False)
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _loadgroup(config):
        return
    # Stable: a module's tests keep their order (and so their fixtures' parameters).
    items.sort(key=_priority)
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is None or GROUPS_KEY not in workerinput:
        return
    out = Path(workerinput[GROUPS_KEY]) / f"{workerinput['workerid']}.json"
    part = out.with_suffix(".part")
    part.write_text(json.dumps({item.nodeid: xdist_group(item) for item in items}))
    part.rename(out)


TERMINAL_SIZE = ("COLUMNS", "LINES")
"""Set in an xdist worker's environment (readline does it), unset in a plain run: a
worker takes the controller's values, so that text reports wrap as they would."""


def pytest_configure(config: pytest.Config) -> None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        for name in TERMINAL_SIZE:
            value = workerinput.get(f"mtuscope_{name}")
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    elif _loadgroup(config):
        config.stash[_GROUPS_DIR] = tempfile.mkdtemp(prefix="mtuscope-xdist-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if (top := config.stash.get(_GROUPS_DIR, None)) is not None:
        shutil.rmtree(top, ignore_errors=True)


_GROUPS_DIR = pytest.StashKey[str]()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    for name in TERMINAL_SIZE:
        node.workerinput[f"mtuscope_{name}"] = os.environ.get(name)
    if (top := node.config.stash.get(_GROUPS_DIR, None)) is not None:
        node.workerinput[GROUPS_KEY] = top


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.stash.get(_GROUPS_DIR, None) is None:
        return None
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    top = Path(config.stash[_GROUPS_DIR])

    class Groups(LoadScopeScheduling):  # type: ignore[misc]
        """Work units are the groups the workers wrote (`xdist_group`)."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                written = sorted(top.glob("*.json"))
                assert written, "no worker wrote its test groups"
                self.groups = json.loads(written[0].read_text())
            return self.groups.get(nodeid, nodeid.split("::", 1)[0])

    return Groups(config, log)
