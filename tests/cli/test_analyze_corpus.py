"""`mtuscope analyze` on every capture of the shared corpus: a report or one clean line.

Never a traceback: each capture either gives a schema-valid report (exit 0 or 1)
or a one-line error naming the file (exit 2). A capture tshark reads (the corpus
MANIFEST names its link type, not "unreadable") must give a report: exit 2 there is
a failure unless `UNREADABLE` lists the file with the reason.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from mtuscope.cli import main
from mtuscope.report.schema import validate_report

CORPUS = Path(os.environ["MTUSCOPE_CORPUS"])  # set by tests/conftest.py
CAPTURES = sorted((CORPUS / "pcaps").rglob("*")) if CORPUS.is_dir() else []

pytestmark = pytest.mark.skipif(not CAPTURES, reason=f"corpus not found at {CORPUS}")


def _tshark_reads() -> dict[str, bool]:
    """Capture path (relative to the corpus) -> whether tshark reads it (MANIFEST: it read
    packets, or it read none from a file neither corrupt, nor of a link type it lacks)."""
    if not CORPUS.is_dir():
        return {}
    refused = {"corrupt-file", "unsupported-linktype"}
    with open(CORPUS / "MANIFEST.tsv", newline="") as fh:
        return {
            row["file"]: int(row["packets"]) > 0
            or (row["link_type"] != "unreadable" and not refused & set(row["features"].split(",")))
            for row in csv.DictReader(fh, delimiter="\t")
        }


TSHARK_READS = _tshark_reads()
UNREADABLE: dict[str, str] = {
    "pcaps/ndpi/ndpi__fuzz-2021-10-13.pcap": (
        "the first record claims 524501 captured bytes in a 239-byte file: tshark shows one "
        "cut-short packet, mtuscope refuses the impossible length (offset 24) with one line"
    ),
}
"""Captures tshark reads that mtuscope refuses on purpose (exit 2), and why."""


@pytest.mark.parametrize("path", [p for p in CAPTURES if p.is_file()], ids=lambda p: p.name)
def test_report_or_one_clean_line(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code = main(["analyze", str(path), "--json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    rel = str(path.relative_to(CORPUS))
    if code == 2:
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0]
        assert not TSHARK_READS.get(rel, False) or rel in UNREADABLE, (
            f"tshark reads {rel} but mtuscope exits 2: {lines[0]}"
        )
    else:
        assert rel not in UNREADABLE, f"{rel} gives a report now: remove it from UNREADABLE"
        assert code in (0, 1)
        validate_report(json.loads(out))
