"""Findings and body of a middlebox walk: each kind fires on its change and stays silent without."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv6Address

from mtuscope.active.end_check import EchoSeen, TcpAnswer, TcpEnd
from mtuscope.active.middlebox_result import (
    HopQuote,
    MiddleboxResult,
    MiddleboxStop,
    Response,
    Terminated,
    path_changes,
)
from mtuscope.active.probe import IPAddress, ProbeOutcome, ReplyKind
from mtuscope.active.quote_diff import MSS_FIELD, SEQ_FIELD, FieldChange
from mtuscope.diagnose.findings import Severity
from mtuscope.diagnose.middlebox import diagnose_middlebox
from mtuscope.jobs.middlebox import MiddleboxReport
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict

A = [IPv4Address("192.0.2.2"), IPv4Address("198.51.100.2"), IPv4Address("198.51.100.130")]
SERVER = IPv4Address("203.0.113.2")
COMPARED = ("ip.id", SEQ_FIELD, "tcp.options", MSS_FIELD, "tcp.options.sack_perm")


def hop(ttl: int, *changed: FieldChange, address: IPAddress | None = None) -> HopQuote:
    return HopQuote(
        ttl=ttl,
        address=address or A[ttl - 1],
        probe_id=ttl,
        outcome=ProbeOutcome.TIME_EXCEEDED,
        quote_bytes=60,
        changed=changed,
        compared=COMPARED,
    )


def result(
    hops: tuple[HopQuote, ...],
    *,
    terminated: Terminated | None = None,
    dst: IPAddress = SERVER,
) -> MiddleboxResult:
    response = Response(
        probe_id=9,
        ttl=len(hops) + 1,
        address=dst,
        syn_ack=True,
        reply_ttl=61,
        fields=((MSS_FIELD, 1300),),
    )
    return MiddleboxResult(
        dst=dst,
        dport=443,
        family=dst.version,
        hops=hops,
        changes=path_changes(hops),
        response=response,
        terminated=terminated,
        relay_checked=True,
        stop_reason=MiddleboxStop.REACHED,
        probes=(),
        seconds=0.1,
    )


def check_schema(res: MiddleboxResult) -> dict[str, object]:
    findings = diagnose_middlebox(res)
    doc = to_dict(MiddleboxReport(inputs=("x",), findings=findings, target="x", walk=res))
    validate_report(doc)
    return doc


MSS = FieldChange(field=MSS_FIELD, sent=1460, seen=1300)


def test_clean_path_is_silent() -> None:
    res = result((hop(1), hop(2), hop(3)))
    assert diagnose_middlebox(res) == ()
    doc = check_schema(res)
    assert doc["changes"] == [] and doc["destination"]["mss"] == 1300  # type: ignore[index]


def test_mss_rewrite_names_both_hops_with_evidence() -> None:
    res = result((hop(1), hop(2), hop(3, MSS)))
    (finding,) = diagnose_middlebox(res)
    assert finding.kind == "mss-rewritten" and finding.severity is Severity.INFO
    assert "1460 -> 1300" in finding.summary
    assert "hop 2 (198.51.100.2)" in finding.summary and "hop 3 (198.51.100.130)" in finding.summary
    assert [(e.hop, e.observed) for e in finding.evidence] == [(2, 1460), (3, 1300)]
    assert finding.evidence[1].probe == 3
    assert finding.facts["original_mss"] == 1460 and finding.facts["mss"] == 1300
    assert "1300" in finding.advice
    doc = check_schema(res)
    assert doc["hops"][2]["changed"] == {MSS_FIELD: [1460, 1300]}  # type: ignore[index]


def test_change_at_the_first_hop_is_placed_after_this_host() -> None:
    res = result((hop(1, MSS), hop(2, MSS)))
    (finding,) = diagnose_middlebox(res)
    assert "between this host and hop 1" in finding.summary
    assert len(finding.evidence) == 1


def test_sequence_rewrite_is_isn_rewritten_with_the_offset() -> None:
    seq = FieldChange(field=SEQ_FIELD, sent=100, seen=1100)
    res = result((hop(1), hop(2, seq), hop(3, seq)))
    (finding,) = diagnose_middlebox(res)
    assert finding.kind == "isn-rewritten" and finding.facts["offset"] == 1000
    check_schema(res)


def test_option_changes_at_one_place_make_one_finding() -> None:
    sack = FieldChange(field="tcp.options.sack_perm", sent=1, seen=0)
    kinds = FieldChange(field="tcp.options", sent="mss,sack_permitted", seen="mss,nop,nop")
    res = result((hop(1), hop(2, kinds, sack)))
    (finding,) = diagnose_middlebox(res)
    assert finding.kind == "tcp-option-changed" and finding.severity is Severity.WARNING
    assert {e.field for e in finding.evidence} == {"tcp.options", "tcp.options.sack_perm"}
    check_schema(res)


def test_ip_field_changes_are_body_facts_not_findings() -> None:
    ipid = FieldChange(field="ip.id", sent=5, seen=77)
    res = result((hop(1), hop(2, ipid)))
    assert diagnose_middlebox(res) == ()
    doc = check_schema(res)
    assert doc["changes"][0]["field"] == "ip.id"  # type: ignore[index]
    assert doc["changes"][0]["from_hop"] == 1 and doc["changes"][0]["to_hop"] == 2  # type: ignore[index]


def tcp_end(
    *,
    same: ReplyKind | None = ReplyKind.TIME_EXCEEDED,
    syn_ack_ttl: int = 63,
    echo_ttl: int | None = 61,
    dst: IPAddress = SERVER,
) -> TcpEnd:
    """The SYN with TTL 2 got a SYN/ACK; echoes with TTL 2 and 255 got `same` and a reply."""
    return TcpEnd(
        dst=dst,
        dport=443,
        tcp=TcpAnswer(probe_id=2, probe_ttl=2, address=dst, reply_ttl=syn_ack_ttl),
        same_ttl=EchoSeen(
            probe_id=10,
            probe_ttl=2,
            kind=same,
            address=A[1] if same is ReplyKind.TIME_EXCEEDED else dst,
            reply_ttl=63,
        ),
        far=None
        if echo_ttl is None
        else EchoSeen(
            probe_id=11, probe_ttl=255, kind=ReplyKind.ECHO_REPLY, address=dst, reply_ttl=echo_ttl
        ),
    )


def test_tcp_proxy_is_reported_with_both_probes() -> None:
    term = Terminated(ttl=2, address=A[1], probe_id=10, syn_ack_probe=2)
    res = dataclasses.replace(result((hop(1),), terminated=term), tcp_end=tcp_end())
    (finding,) = diagnose_middlebox(res)
    assert finding.kind == "tcp-proxy" and finding.severity is Severity.WARNING
    assert "proxy at hop 2 (198.51.100.2)" in finding.summary
    assert "the SYN/ACK comes from 1 hop back, the destination's echo reply from 3" in (
        finding.summary
    )
    assert {e.probe for e in finding.evidence} == {2, 10}
    assert "ISN randomisation" not in finding.advice
    doc = check_schema(res)
    assert doc["tcp_terminated_at"] == {"ttl": 2, "address": "198.51.100.2", "probe": 10}


def test_fewer_hops_back_alone_is_a_tcp_proxy() -> None:
    # The echo with the same TTL was lost; the SYN/ACK still came from nearer than the server.
    res = dataclasses.replace(result((hop(1),)), tcp_end=tcp_end(same=None))
    (finding,) = diagnose_middlebox(res)
    assert finding.kind == "tcp-proxy"
    assert finding.summary == (
        "A TCP proxy at hop 2 answers for 203.0.113.2 port 443: the SYN/ACK comes from 1 hop "
        "back, the destination's echo reply from 3"
    )
    assert [e.field for e in finding.evidence] == ["ip.ttl"]


def test_the_real_destination_is_no_proxy() -> None:
    # The echo with the same TTL is answered by the server, with the SYN/ACK's hop count.
    end = tcp_end(same=ReplyKind.ECHO_REPLY, syn_ack_ttl=62, echo_ttl=62)
    assert diagnose_middlebox(dataclasses.replace(result((hop(1),)), tcp_end=end)) == ()


def test_an_isn_offset_behind_a_proxy_is_the_proxy_not_an_isn_rewrite() -> None:
    seq = FieldChange(field=SEQ_FIELD, sent=1000, seen=5000)
    res = dataclasses.replace(result((hop(1, seq),)), tcp_end=tcp_end())
    assert [f.kind for f in diagnose_middlebox(res)] == ["tcp-proxy"]


def test_ipv6_and_lost_hop_in_the_body() -> None:
    lost = HopQuote(ttl=1, address=None, probe_id=4, outcome=ProbeOutcome.LOST, quote_bytes=0)
    six = IPv6Address("2001:db8:0:3::2")
    res = result((lost, hop(2, MSS, address=IPv6Address("2001:db8:0:2::2"))), dst=six)
    (finding,) = diagnose_middlebox(res)
    assert "between this host and hop 2" in finding.summary
    doc = check_schema(res)
    assert doc["family"] == 6 and doc["hops"][0]["address"] is None  # type: ignore[index]


def test_findings_follow_the_path_change_by_change() -> None:
    seq = FieldChange(field=SEQ_FIELD, sent=1000, seen=5000)
    sack = FieldChange(field="tcp.options.sack_perm", sent=1, seen="absent")
    res = result((hop(1), hop(2, seq, sack), hop(3, seq, sack, MSS)))
    # MSS and sequence rewrites in path order (header order within a hop), then the
    # option changes: the sequence rewrite before hop 2 comes before the MSS clamp at 3.
    assert [(f.kind, f.facts["hop"]) for f in diagnose_middlebox(res)] == [
        ("isn-rewritten", "1 or 2"),
        ("mss-rewritten", "2 or 3"),
        ("tcp-option-changed", "1 or 2"),
    ]
