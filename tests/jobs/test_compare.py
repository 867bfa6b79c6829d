"""jobs/compare.py: options checked once, the multi-pass read, warnings of both captures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mtuscope.errors import UsageError
from mtuscope.jobs.compare import CompareOptions, CompareReport, compare
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict
from passive.compare_flows import summarise

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CORPUS = Path(os.environ["MTUSCOPE_CORPUS"])  # set by tests/conftest.py
DAMAGED = CORPUS / "pcaps" / "tcpdump" / "tcpdump__LINKTYPE_IPV6_invalid.pcap"


def pair(name: str) -> tuple[str, str]:
    return str(EXAMPLES / f"{name}-client.pcap"), str(EXAMPLES / f"{name}-server.pcap")


def test_options_are_checked_once() -> None:
    a, b = pair("clamp")
    assert CompareOptions(a=a, b=b, platform="routeros").platform == "mikrotik"
    with pytest.raises(UsageError, match="platform"):
        CompareOptions(a=a, b=b, platform="nonesuch")
    with pytest.raises(UsageError, match="window"):
        CompareOptions(a=a, b=b, window_s=-1)
    with pytest.raises(UsageError, match="standard input"):
        CompareOptions(a="-", b="-")


def test_small_chunks_give_the_same_comparison() -> None:
    a, b = pair("pmtud-ok")
    whole = compare(CompareOptions(a=a, b=b))
    small = compare(CompareOptions(a=a, b=b, chunk_bytes=2048))
    assert isinstance(whole, CompareReport) and whole.kind == "compare"
    assert small.comparison == whole.comparison and small.findings == whole.findings
    validate_report(to_dict(whole))
    assert whole.inputs == (a, b) and whole.warnings == ()


def test_the_multi_pass_read_equals_the_one_pass_summary() -> None:
    """Reading only the differing directions again gives the comparison of full summaries."""
    from mtuscope.capture.decode import decode_chunk
    from mtuscope.capture.reader import iter_chunks
    from mtuscope.passive.compare import compare_captures

    a, b = pair("blackhole")

    def tables(path: str) -> list:  # type: ignore[type-arg]
        return [
            decode_chunk(c.records, c.block, c.ts_ns, c.first_frame)
            for c in iter_chunks(path, capacity=7)
        ]

    full = compare_captures(summarise(tables(a), capture=a), summarise(tables(b), capture=b))
    assert compare(CompareOptions(a=a, b=b)).comparison == full


@pytest.mark.skipif(not DAMAGED.is_file(), reason=f"corpus capture not found: {DAMAGED}")
def test_frames_that_did_not_decode_are_warned_about_as_analyze_does() -> None:
    a, _ = pair("clamp")
    result = compare(CompareOptions(a=a, b=str(DAMAGED)))
    assert result.warnings == (
        f"{DAMAGED}: 1 frames did not decode fully (first: frame 1, offset 24: "
        "malformed header (a length field points outside the frame))",
    )
