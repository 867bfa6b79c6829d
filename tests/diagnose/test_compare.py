"""Findings of a two-point comparison: aggregated per change, evidence at both points."""

from __future__ import annotations

from typing import Any

from mtuscope.diagnose.compare import diagnose_compare
from mtuscope.diagnose.findings import Severity
from mtuscope.jobs.compare import CompareReport
from mtuscope.passive.compare import CompareResult, compare_captures
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict
from passive.compare_flows import Flow, full, summarise, table

DATA = full(1, [1448] * 4) + full(0, [200])


def run(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> CompareResult:
    return compare_captures(
        summarise([table(a)], capture="client.pcap"), summarise([table(b)], capture="server.pcap")
    )


def report(r: CompareResult, platform: str | None = None) -> CompareReport:
    findings = diagnose_compare(r, platform=platform)
    rep = CompareReport(
        kind="compare", inputs=("client.pcap", "server.pcap"), findings=findings, comparison=r
    )
    validate_report(to_dict(rep))
    return rep


def test_clamp_on_many_connections_is_one_finding() -> None:
    flows = [Flow(cport=40000 + i, start_ms=5.0 * i, segments=DATA) for i in range(3)]
    a = [p for f in flows for p in f.at(ttl_s=62)]
    b = [p for f in flows for p in f.at(syn={"mss": 1300}, ttl_c=62, delay_ms=0.1)]
    rep = report(run(a, b), platform="linux")
    (f,) = [f for f in rep.findings if f.kind == "mss-rewritten"]
    assert f.severity is Severity.INFO
    assert f.facts["original_mss"] == 1460 and f.facts["mss"] == 1300
    assert f.facts["connections"] == 3 and f.facts["direction"] == "client->server"
    assert "1460 at A, 1300 at B" in f.summary
    caps = {(e.capture, e.frame, e.observed) for e in f.evidence}
    assert ("client.pcap", 1, 1460) in caps and ("server.pcap", 1, 1300) in caps
    assert "1300" in f.advice
    doc = to_dict(rep)
    assert [(m["a"], m["b"]) for m in doc["matches"]] == [(1, 1), (2, 2), (3, 3)]
    assert doc["matches"][0]["changes"][0]["kind"] == "mss-rewritten"
    assert doc["advice"]["mss-rewritten"] == f.advice


def test_no_change_no_finding() -> None:
    f = Flow(segments=DATA)
    rep = report(run(f.at(), f.at(delay_ms=0.1)))
    assert rep.findings == ()
    assert to_dict(rep)["matches"][0]["changes"] == []


def test_loss_offload_isn_option_and_icmp_findings() -> None:
    f = Flow(segments=full(0, [2896, 200]) + full(1, [1448] * 4))
    b = f.at(isn_s=77, syn={"sack_perm": False}, drop={3}, split={0: 2}, delay_ms=0.1)
    b.append({
        "src": "198.51.100.254", "dst": "203.0.113.5", "proto": 1, "icmp_type": 3,
        "icmp_code": 4, "icmp_mtu": 1433, "ttl": 250, "thl": 8, "q_src": "203.0.113.5",
        "q_dst": "192.0.2.10", "q_proto": 6, "q_sport": 443, "q_dport": 40000,
        "ts_ns": b[-1]["ts_ns"] + 1,
    })  # fmt: skip
    rep = report(run(f.at(), b))
    kinds = [x.kind for x in rep.findings]
    assert kinds == [
        "isn-rewritten", "tcp-option-changed", "lost-between-points", "offload-artifact",
        "icmp-too-big",
    ]  # fmt: skip
    by = {x.kind: x for x in rep.findings}
    lost = by["lost-between-points"]
    # The too-big message (MTU 1433) quotes the connection and the lost packet was 1488
    # bytes: PMTUD at work, not a black hole.
    assert lost.severity is Severity.INFO and lost.facts["cause"] == "pmtud"
    assert lost.facts["segment"] == 1448 and lost.facts["count"] == 1
    assert {e.capture for e in lost.evidence} == {"client.pcap", "server.pcap"}
    assert "black hole" not in lost.advice
    off = by["offload-artifact"]
    assert off.facts["seen_at"] == "a"
    assert {e.capture for e in off.evidence} == {"client.pcap", "server.pcap"}
    icmp = by["icmp-too-big"]
    assert icmp.facts["initial_ttl_guess"] == 255 and icmp.facts["icmp_mtu"] == 1433
    assert "MTU 1433" in icmp.summary and "255" in icmp.summary
    assert by["tcp-option-changed"].facts["option"] == "SACK-permitted"


def test_a_nat_between_the_points_is_address_translated() -> None:
    f = Flow(segments=DATA)
    rep = report(run(f.at(), f.at(client="198.51.100.1", cport=50001, delay_ms=0.1)))
    (nat,) = [x for x in rep.findings if x.kind == "address-translated"]
    assert nat.severity is Severity.INFO
    assert "client address, client port" in nat.summary and nat.facts["connections"] == 1
    assert {e.capture for e in nat.evidence} == {"client.pcap", "server.pcap"}
    assert "isn-rewritten" not in [x.kind for x in rep.findings]


def test_a_proxy_between_the_points_is_a_tcp_proxy_not_an_isn_rewrite() -> None:
    # Each side talks to the relay: both ISNs and the client's address and port differ.
    f = Flow(segments=DATA)
    b = f.at(client="198.51.100.129", cport=50002, isn_c=999, isn_s=888, delay_ms=0.1)
    rep = report(run(f.at(), b))
    kinds = [x.kind for x in rep.findings]
    assert "tcp-proxy" in kinds, kinds
    assert "isn-rewritten" not in kinds and "address-translated" not in kinds
    (proxy,) = [x for x in rep.findings if x.kind == "tcp-proxy"]
    assert proxy.severity is Severity.WARNING and "in both directions" in proxy.summary


def test_a_loss_without_too_big_or_retry_is_a_warning_about_drops() -> None:
    f = Flow(segments=full(0, [200]) + full(1, [1448] * 4))
    rep = report(run(f.at(), f.at(drop={3}, delay_ms=0.1)))
    (lost,) = [x for x in rep.findings if x.kind == "lost-between-points"]
    # Lost once, never retried, no ICMP: not proven a black hole, not PMTUD either.
    assert lost.severity is Severity.WARNING and lost.facts["cause"] == "loss"
    assert "policers" in lost.advice and "PMTUD at work" not in lost.summary
