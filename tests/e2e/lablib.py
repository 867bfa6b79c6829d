"""What the lab end-to-end modules share: why they cannot run here, and how they run the CLI."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
"""The source tree, on PYTHONPATH of every CLI run inside a node."""


def why_not() -> str | None:
    """Why lab tests cannot run on this machine (the skip reason), or None."""
    if not sys.platform.startswith("linux"):
        return "lab tests need Linux network namespaces"
    if os.geteuid() != 0:
        return "lab tests need root (network namespaces, raw sockets)"
    return None
