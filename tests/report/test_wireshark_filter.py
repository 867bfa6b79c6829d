"""The display filter of a finding: exact frame sets, and a protocol part only when true.

The tshark oracle runs in tests/cli/test_annotate_cli.py; these pin the shape and
the cases where the protocol part must be left out, which a capture at hand may
not show.
"""

from __future__ import annotations

from pathlib import Path

from mtuscope.diagnose.findings import Evidence, Finding, Severity
from mtuscope.jobs.analyze import AnalyzeOptions, analyze
from mtuscope.report.wireshark_filter import capture_filter, compare_filters, frame_set

ROOT = Path(__file__).resolve().parents[2]
CAPTURE = str(ROOT / "examples" / "pmtud-ok-server.pcap")


def _finding(kind: str, frames: list[tuple[str, int, str]], connection: int | None) -> Finding:
    return Finding(
        kind=kind,
        severity=Severity.WARNING,
        summary="s",
        advice="a",
        connection=connection,
        evidence=tuple(
            Evidence(capture=cap, frame=n, field=field, observed=1) for cap, n, field in frames
        ),
    )


def test_frame_sets_use_commas_and_ranges() -> None:
    assert frame_set([9]) == "frame.number in {9}"
    assert frame_set([10, 1, 2, 3, 9, 5, 3]) == "frame.number in {1..3, 5, 9, 10}"
    assert frame_set([7, 8]) == "frame.number in {7, 8}"


def test_protocol_part_only_where_it_holds() -> None:
    analysis = analyze(AnalyzeOptions(paths=(CAPTURE,))).analyses[0]
    conn = analysis.connection(1)
    tcp = ("tcp.len", conn.first_frame)
    icmp = ("icmp.mtu", 9)
    one = _finding("oversized-mss", [(CAPTURE, tcp[1], tcp[0]), (CAPTURE, 9, icmp[0])], 1)
    text = capture_filter(one, analysis)
    assert text is not None
    assert text.startswith(f"frame.number in {{{conn.first_frame}, 9}} && (")
    assert "ip.addr==192.0.2.1" in text and "tcp.port==8080" in text
    assert "icmp.type==3 && icmp.code==4" in text
    # a finding about many connections names none of them
    many = _finding("undersized-mss", [(CAPTURE, conn.first_frame, "tcp.options.mss_val")], 1)
    assert capture_filter(many, analysis) == f"frame.number in {{{conn.first_frame}}}"
    # a frame outside the connection's first..last frame: the address pair would drop it
    outside = _finding("oversized-mss", [(CAPTURE, conn.last_frame + 1, "tcp.len")], 1)
    assert capture_filter(outside, analysis) == f"frame.number in {{{conn.last_frame + 1}}}"
    # ICMPv6 frames only
    six = _finding("icmp-too-big", [(CAPTURE, 3, "icmpv6.mtu"), (CAPTURE, 3, "ipv6.hlim")], None)
    assert capture_filter(six) == "frame.number in {3} && (icmpv6.type==2)"


def test_no_frame_no_filter() -> None:
    probe = Finding(
        kind="mtu-drop",
        severity=Severity.INFO,
        summary="s",
        advice="a",
        evidence=(Evidence(hop=3, field="icmp.mtu", observed=1400),),
    )
    assert capture_filter(probe) is None
    assert compare_filters(probe) == {}


def test_compare_filters_are_per_capture() -> None:
    f = _finding("mss-rewritten", [("a.pcap", 1, "tcp.options.mss_val"), ("b.pcap", 4, "x")], 1)
    assert compare_filters(f) == {"a.pcap": "frame.number in {1}", "b.pcap": "frame.number in {4}"}
