"""Suite-wide settings: where the shared capture corpus lives, and what CI may not skip.

The corpus sits beside the repository (`../shared/corpus`), in a developer's
checkout and in CI's clean clone alike; `MTUSCOPE_CORPUS` overrides it. Test
modules read the variable at import, after this file has set it.

In CI (`CI=true`) the environment is part of what is tested: a missing C walker,
corpus, tshark or root is a failure, not a skip. The session stops at the start
with the list of what is missing, and any test that would skip for one of those
reasons (`ENVIRONMENT_SKIPS`) is reported as failed. Elsewhere such tests skip,
saying why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator
from pathlib import Path

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
