"""Suite-wide settings: where the shared capture corpus lives.

The corpus sits beside the repository (`../shared/corpus`), in a developer's
checkout and in CI's clean clone alike; `MTUSCOPE_CORPUS` overrides it. Test
modules read the variable at import, after this file has set it.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault(
    "MTUSCOPE_CORPUS", str(Path(__file__).resolve().parents[2] / "shared" / "corpus")
)
