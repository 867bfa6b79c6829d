"""What the lab end-to-end modules share: why they cannot run here, how they run the CLI,
and how they wait for something to happen."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
"""The source tree, on PYTHONPATH of every CLI run inside a node."""


def why_not() -> str | None:
    """Why lab tests cannot run on this machine (the skip reason), or None."""
    if not sys.platform.startswith("linux"):
        return "lab tests need Linux network namespaces"
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces, raw sockets)"
    return None


def until(what: str, check: Callable[[], Any], *, seconds: float, every: float = 1.0) -> Any:
    """`check()`'s first truthy answer, asked every `every` seconds for at most `seconds`.

    Raises:
        AssertionError: "not within N s: <what>" when no answer came in time.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"not within {seconds:.0f} s: {what}")


def lab_marks(*tools: str) -> list[pytest.MarkDecorator]:
    """A lab module's `pytestmark`: raw sockets, and skips off Linux, without root, or
    without one of `tools` (the reasons `tests/conftest.py` turns into failures in CI)."""
    missing = [t for t in tools if not shutil.which(t)]
    return [
        pytest.mark.raw_socket,
        pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux namespaces"),
        pytest.mark.skipif(
            sys.platform.startswith("linux") and os.geteuid() != 0,
            reason="needs root (CAP_NET_ADMIN) to create network namespaces",
        ),
        pytest.mark.skipif(bool(missing), reason=f"missing tools: {', '.join(missing)}"),
    ]
