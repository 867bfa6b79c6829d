"""`compare` on the example pairs and on unrelated captures: the same facts get the same
conclusions (and severities) as `analyze`, and nothing is claimed when nothing matched."""

from __future__ import annotations

import io
from pathlib import Path

from mtuscope.diagnose.findings import Severity
from mtuscope.jobs.analyze import AnalyzeOptions, analyze
from mtuscope.jobs.compare import CompareOptions, CompareReport, compare
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict
from mtuscope.report.text import render_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CORPUS = Path("/work/shared/corpus/pcaps")


def _compare(a: str, b: str, platform: str | None = None) -> tuple[CompareReport, str]:
    rep = compare(CompareOptions(a=str(EXAMPLES / a), b=str(EXAMPLES / b), platform=platform))
    validate_report(to_dict(rep))
    out = io.StringIO()
    render_text(rep, out)
    return rep, out.getvalue()


def test_losses_the_too_big_messages_explain_are_pmtud_at_work() -> None:
    rep, text = _compare("pmtud-ok-client.pcap", "pmtud-ok-server.pcap")
    (lost,) = [f for f in rep.findings if f.kind == "lost-between-points"]
    assert lost.severity is Severity.INFO
    assert lost.facts["cause"] == "pmtud" and lost.facts["icmp_mtu"] == 1400
    assert "path MTU discovery at work" in lost.summary
    assert "black hole" not in lost.summary + lost.advice
    # The too-big messages are cited next to the lost segments.
    assert any(e.field == "icmp.mtu" and e.observed == 1400 for e in lost.evidence)
    # A usable too-big message is info in compare as in analyze.
    (icmp,) = [f for f in rep.findings if f.kind == "icmp-too-big"]
    assert icmp.severity is Severity.INFO
    assert all(f.severity is not Severity.ERROR for f in rep.findings)
    assert "black hole" not in text


def test_a_black_hole_is_an_error_in_compare_as_in_analyze() -> None:
    found = analyze(AnalyzeOptions(paths=(str(EXAMPLES / "blackhole-server.pcap"),))).findings
    (hole,) = [f for f in found if f.kind == "pmtud-blackhole"]
    assert hole.severity is Severity.ERROR
    rep, _ = _compare("blackhole-client.pcap", "blackhole-server.pcap")
    (lost,) = [f for f in rep.findings if f.kind == "lost-between-points"]
    assert lost.severity is Severity.ERROR
    assert lost.facts["cause"] == "blackhole"
    assert "black hole" in lost.summary and "below 1500" in lost.summary


def test_each_advice_is_printed_once() -> None:
    _, text = _compare("pmtud-ok-client.pcap", "pmtud-ok-server.pcap", platform="linux")
    assert "What to do" not in text
    for para in ("Nothing to fix for these losses", "reports a next-hop MTU of 1400"):
        assert text.count(para) == 1
    # Both findings advise MTU 1400: the configuration lines appear once.
    assert text.count("ip link set") == 1, text


def test_unrelated_captures_claim_nothing() -> None:
    a = CORPUS / "dpkt" / "dpkt__nb6-http.pcap"
    b = CORPUS / "entrada" / "entrada__sidnlabs-tcp.pcap"
    rep = compare(CompareOptions(a=str(a), b=str(b)))
    doc = to_dict(rep)
    validate_report(doc)
    assert rep.comparison.matches == ()
    assert rep.comparison.offset.method == "none" and rep.comparison.offset.pairs == 0
    assert doc["clock_offset_s"] is None
    out = io.StringIO()
    render_text(rep, out)
    text = out.getvalue()
    assert "clock is" not in text and "connection pair" not in text
    assert "No connection was seen at both points" in text


def test_a_pair_matched_by_its_byte_counts_alone_says_so() -> None:
    # Two different 64 KiB downloads: only the bytes each way and the server port agree.
    _, text = _compare("clamp-client.pcap", "pmtud-ok-server.pcap")
    assert "matched only by the bytes each way" in text
    assert "matched by the bytes each way only" in text  # the clock line rests on it
    # The same connection seen at two points agrees on much more.
    _, same = _compare("clamp-client.pcap", "clamp-server.pcap")
    assert "bytes each way" not in same
