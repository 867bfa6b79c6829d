"""Evidence reads as a person would write it, on every example and corpus capture: no
expected value that is not one (the quoted length minus one as the MTU, a TTL "expected"
to be itself), IPv6 evidence names ICMPv6 fields and the hop limit."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from mtuscope.diagnose.findings import Evidence
from mtuscope.jobs.analyze import AnalyzeOptions, analyze
from mtuscope.jobs.compare import CompareOptions, compare
from mtuscope.report.text import evidence_text, render_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PAIRS = ("pmtud-ok", "pmtud-ok-v6", "blackhole", "clamp")
V4_ONLY = ("icmp.mtu", "ip.ttl", "ip.len")
V6_ONLY = ("icmpv6.mtu", "ipv6.hlim", "ipv6.plen")


def _check(e: Evidence, family: int) -> None:
    text = evidence_text(e)
    if e.expected is not None:
        assert str(e.expected) != str(e.observed) or "expected" not in text, text
    assert "(expected" not in text, text
    wrong = V6_ONLY if family == 4 else V4_ONLY
    assert e.field not in wrong, f"IPv{family} evidence cites {e.field}: {text}"
    if e.field.endswith(".mtu") and e.field.startswith("icmp"):
        # What the router said is observed; nothing "expected" it to be another value.
        assert e.expected is None or "to" in text, text


@pytest.mark.parametrize("name", PAIRS)
def test_example_evidence_reads_well(name: str) -> None:
    family = 6 if "v6" in name else 4
    a, b = (str(EXAMPLES / f"{name}-{side}.pcap") for side in ("client", "server"))
    for findings in (
        analyze(AnalyzeOptions(paths=(a,))).findings,
        analyze(AnalyzeOptions(paths=(b,))).findings,
        compare(CompareOptions(a=a, b=b)).findings,
    ):
        for f in findings:
            for e in f.evidence:
                _check(e, family)


def test_ipv6_compare_cites_icmpv6_and_hop_limit() -> None:
    a, b = (str(EXAMPLES / f"pmtud-ok-v6-{side}.pcap") for side in ("client", "server"))
    rep = compare(CompareOptions(a=a, b=b))
    (icmp,) = [f for f in rep.findings if f.kind == "icmp-too-big"]
    assert {e.field for e in icmp.evidence} == {"icmpv6.mtu"}
    out = io.StringIO()
    render_text(rep, out)
    assert "hop limit 64" in out.getvalue() and "ttl 64" not in out.getvalue()


def test_expected_values_are_said_in_words() -> None:
    same = Evidence(field="ip.ttl", observed=64, expected=64, capture="x.pcap", frame=1)
    assert evidence_text(same) == "x.pcap frame 1: ip.ttl = 64"
    rng = Evidence(field="icmp.mtu", observed=0, expected="68..1419", probe=4)
    assert evidence_text(rng) == "probe 4: icmp.mtu = 0, expected 68 to 1419"
    most = Evidence(field="probe.size", observed=1405, expected="<= 1404", hop=2, probe=9)
    assert evidence_text(most) == "hop 2 probe 9: probe.size = 1405, expected at most 1404"


CORPUS = Path("/work/shared/corpus/pcaps")
CORPUS_FILES = (
    "zeek/zeek__smtp.pcap",
    "ndpi/ndpi__6in4tunnel.pcap",
    "entrada/entrada__sidnlabs-test-icmp-frag-needed.pcap",
    "entrada/entrada__sidnlabs-test-tcp-all-malformed-packets.dups.pcap",
    "entrada/entrada__sidnlabs-tcp-stream-multiple-dns-message-request-only.pcap",
    "libpcap/libpcap__ah-ipip-ping.pcap",
)
LIMITED = {"oversized-mss", "segment-exceeds-mss", "offload-artifact"}
"""Rules whose expected values are limits: said as "at most N", not as a value to equal."""


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_evidence_reads_well(name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} is not here")
    found = analyze(AnalyzeOptions(paths=(str(path),))).findings
    assert found, "each of these captures has findings"
    for f in found:
        for e in f.evidence:
            text = evidence_text(e)
            assert "(s)" not in text and "first of 1 " not in text, text
            if e.expected is not None:
                assert str(e.expected) != str(e.observed), text
            if f.kind in LIMITED and e.field in ("tcp.len", "tcp.options.mss_val"):
                assert e.expected is None or "at most" in text, text
            if e.field in ("icmp.mtu", "icmpv6.mtu", "ip.ttl", "ipv6.hlim"):
                assert e.expected is None, text


def test_compare_evidence_says_what_each_frame_shows() -> None:
    a, b = (str(EXAMPLES / f"clamp-{side}.pcap") for side in ("client", "server"))
    (mss, *_) = [f for f in compare(CompareOptions(a=a, b=b)).findings if f.kind == "mss-rewritten"]
    notes = [e.note for e in mss.evidence]
    assert notes == ["client->server SYN at A", "client->server SYN at B"]
    # An offload: the pieces at the other point are cited by frame, not as a "tcp.len" of 2.
    c = str(EXAMPLES / "pmtud-ok-server.pcap")
    (off,) = [f for f in compare(CompareOptions(a=a, b=c)).findings if f.kind == "offload-artifact"]
    pieces = [e for e in off.evidence if e.capture == a]
    assert pieces and all(e.observed is None for e in pieces)
    assert all("one of 2 segments that B saw as one" in evidence_text(e) for e in pieces)
    lost = [
        f for f in compare(CompareOptions(a=a, b=c)).findings if f.kind == "lost-between-points"
    ]
    cited = [e for f in lost for e in f.evidence if e.field == "tcp.len"]
    assert cited and all("never seen at A" in str(e.note) for e in cited)
