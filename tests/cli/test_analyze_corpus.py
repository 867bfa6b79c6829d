"""`mtuscope analyze` on every capture of the shared corpus: a report or one clean line.

Never a traceback: each capture either gives a schema-valid report (exit 0 or 1)
or a one-line error naming the file (exit 2).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mtuscope.cli import main
from mtuscope.report.schema import validate_report

CORPUS = Path(os.environ["MTUSCOPE_CORPUS"])  # set by tests/conftest.py
CAPTURES = sorted((CORPUS / "pcaps").rglob("*")) if CORPUS.is_dir() else []

pytestmark = pytest.mark.skipif(not CAPTURES, reason=f"corpus not found at {CORPUS}")


@pytest.mark.parametrize("path", [p for p in CAPTURES if p.is_file()], ids=lambda p: p.name)
def test_report_or_one_clean_line(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code = main(["analyze", str(path), "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if code == 2:
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0]
    else:
        assert code in (0, 1)
        validate_report(json.loads(out))
