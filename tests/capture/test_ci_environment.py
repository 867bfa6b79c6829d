"""tests/conftest.py: in CI a missing environment fails; elsewhere it skips."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

CASES = """
import pytest

def test_needs_tshark():
    pytest.skip("tshark is not installed")

def test_needs_root():
    pytest.skip("needs root (CAP_NET_ADMIN) for namespaces")

def test_for_unprivileged_users_only():
    pytest.skip("checks the refusal an unprivileged user gets")
"""


def _run(tmp: Path, ci: str) -> str:
    shutil.copy(CONFTEST, tmp / "conftest.py")
    (tmp / "test_cases.py").write_text(CASES)
    env = {**os.environ, "CI": ci, "MTUSCOPE_CORPUS": os.environ["MTUSCOPE_CORPUS"]}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp)],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=120,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def test_environment_skips_fail_in_ci(tmp_path: Path) -> None:
    line = _run(tmp_path, "true")
    assert "2 failed" in line and "1 skipped" in line, line


def test_environment_skips_skip_elsewhere(tmp_path: Path) -> None:
    assert "3 skipped" in _run(tmp_path, "")
