"""Findings of the two-ended check, from SYNs built as real bytes and decoded back."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

import pytest

from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.active.probe import (
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
    SearchStop,
)
from mtuscope.active.responder_protocol import ReverseMeasurement
from mtuscope.active.syn_view import Endpoint, SynView, TwoEndedObservation, decode_syn
from mtuscope.diagnose.responder import diagnose_two_ended, translated
from mtuscope.diagnose.rules.evidence import CONNECTION_PROBE
from mtuscope.jobs.two_ended import TwoEndedReport
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict
from mtuscope.wire.builders import build_tcp
from mtuscope.wire.tcp import TcpFlags

C4, S4 = IPv4Address("192.0.2.10"), IPv4Address("198.51.100.20")
C6, S6 = IPv6Address("2001:db8:1::10"), IPv6Address("2001:db8:2::20")
NAT4 = IPv4Address("203.0.113.7")


def syn(
    src: IPv4Address | IPv6Address,
    dst: IPv4Address | IPv6Address,
    *,
    mss: int | None = 1460,
    seq: int = 5000,
    ttl: int = 64,
    sack: bool = True,
    wscale: int | None = 7,
    sport: int = 40000,
    dport: int = 7000,
    flags: TcpFlags = TcpFlags.SYN,
) -> SynView:
    packet = build_tcp(
        src=src, dst=dst, sport=sport, dport=dport, seq=seq, ttl=ttl, flags=flags,
        mss=mss, wscale=wscale, sack_permitted=sack, timestamps=(1, 0),
    )  # fmt: skip
    return decode_syn(packet)


def observation(
    sent: SynView | None,
    seen: SynView,
    *,
    announced: int | None = 1460,
    server_mss: int | None = 1460,
    synack: SynView | None = None,
    reverse: ReverseMeasurement | None = None,
    peer: Endpoint | None = None,
) -> TwoEndedObservation:
    local = sent.src if sent is not None else seen.src
    target = sent.dst if sent is not None else seen.dst
    return TwoEndedObservation(
        target=target,
        local=local,
        announced_mss=announced,
        sent=sent,
        seen=seen,
        server_peer=peer or seen.src,
        server_local=seen.dst,
        server_mss=server_mss,
        synack_seen=synack,
        reverse=reverse,
        seconds=0.1,
    )


def _valid(obs: TwoEndedObservation) -> dict[str, object]:
    report = TwoEndedReport(
        inputs=("responder",), findings=diagnose_two_ended(obs), observation=obs
    )
    doc = to_dict(report)
    validate_report(doc)
    return doc


@pytest.mark.parametrize("client,server", [(C4, S4), (C6, S6)])
def test_nothing_changed_means_no_findings(client: IPv4Address, server: IPv4Address) -> None:
    sent = syn(client, server, ttl=64)
    seen = syn(client, server, ttl=61)  # three routers: the TTL is not a change
    obs = observation(sent, seen, synack=syn(server, client, flags=TcpFlags.SYN | TcpFlags.ACK))
    assert diagnose_two_ended(obs) == ()
    doc = _valid(obs)
    te = doc["two_ended"]
    assert isinstance(te, dict)
    assert te["changed"] == {} and te["translated"] == {} and te["syn"]["hops"] == 3
    assert doc["hops"] == [] and doc["pmtu_reverse"] is None


def test_clamp_ipv4_captured() -> None:
    obs = observation(syn(C4, S4, mss=1460), syn(C4, S4, mss=1300))
    finding, small = diagnose_two_ended(obs)
    # 1300 is below 1380, and the responder proves a clamp set it: whose it is is said.
    assert small.kind == "undersized-mss" and small.facts["owner"] == "clamp"
    assert small.facts["proven"] == "yes" and "A clamp on the way rewrites" in small.summary
    assert finding.kind == "mss-rewritten"
    assert finding.facts["original_mss"] == 1460 and finding.facts["mss"] == 1300
    assert finding.facts["direction"] == "client->server"
    assert finding.evidence[0].probe == CONNECTION_PROBE
    assert finding.evidence[0].observed == 1300 and finding.evidence[0].expected == 1460
    assert "1300" in finding.advice
    assert _valid(obs)["two_ended"]["changed"] == {"tcp.options.mss": [1460, 1300]}  # type: ignore[index]


def test_clamp_ipv6_uncaptured_uses_the_kernel_mss() -> None:
    obs = observation(None, syn(C6, S6, mss=1300), announced=1440)
    (finding,) = diagnose_two_ended(obs)
    assert finding.kind == "mss-rewritten"
    assert (finding.facts["original_mss"], finding.facts["mss"]) == (1440, 1300)
    assert finding.facts["family"] == 6
    assert "TCP_INFO" in (finding.evidence[0].note or "")
    _valid(obs)


def test_uncaptured_and_unchanged_is_silent() -> None:
    assert diagnose_two_ended(observation(None, syn(C4, S4), announced=1460)) == ()


def test_synack_clamp_is_the_other_direction() -> None:
    synack = syn(S4, C4, mss=1300, flags=TcpFlags.SYN | TcpFlags.ACK)
    obs = observation(syn(C4, S4), syn(C4, S4), server_mss=1460, synack=synack)
    finding, small = diagnose_two_ended(obs)
    assert small.kind == "undersized-mss" and small.facts["owner"] == "clamp"
    assert finding.kind == "mss-rewritten" and finding.facts["direction"] == "server->client"
    assert "1460 sent, 1300 arrived at the client" in finding.summary


def test_options_stripped_and_isn_rewritten() -> None:
    sent = syn(C4, S4, seq=1000)
    seen = syn(C4, S4, seq=1000 + 2**31 + 5, sack=False, wscale=None)
    kinds = [f.kind for f in diagnose_two_ended(observation(sent, seen))]
    assert kinds == ["tcp-option-changed", "tcp-option-changed", "isn-rewritten"]
    findings = diagnose_two_ended(observation(sent, seen))
    assert {f.facts["option"] for f in findings[:2]} == {"Window scale", "SACK-permitted"}
    assert all("stripped" in f.summary for f in findings[:2])
    assert findings[2].facts["offset"] == 2**31 + 5
    changed = _valid(observation(sent, seen))["two_ended"]["changed"]  # type: ignore[index]
    assert changed["tcp.seq_raw"] == [1000, 1000 + 2**31 + 5]


def test_isn_offset_wraps() -> None:
    findings = diagnose_two_ended(observation(syn(C4, S4, seq=2**32 - 1), syn(C4, S4, seq=9)))
    assert [f.facts["offset"] for f in findings] == [10]


def test_nat_is_reported_in_the_body() -> None:
    sent = syn(C4, S4)
    seen = syn(NAT4, S4, sport=50001)
    obs = observation(sent, seen)
    assert translated(obs) == {
        "client.address": [str(C4), str(NAT4)],
        "client.port": ["40000", "50001"],
    }
    (finding,) = diagnose_two_ended(obs)
    assert finding.kind == "address-translated" and finding.severity.value == "info"
    assert f"{C4} port 40000 here, {NAT4} port 50001 at the responder" in finding.summary
    assert [(e.field, e.observed, e.expected) for e in finding.evidence] == [
        ("ip.src", str(NAT4), str(C4)),
        ("tcp.srcport", 50001, 40000),
    ]
    _valid(obs)


def test_nat_without_the_capture_is_still_seen() -> None:
    # The translation needs no capture: the socket's own address against the responder's peer.
    obs = observation(None, syn(NAT4, S4))
    obs = dataclasses.replace(obs, local=Endpoint(address=C4, port=40000))
    assert [f.kind for f in diagnose_two_ended(obs)] == ["address-translated"]


def test_a_new_connection_is_a_tcp_proxy_not_an_isn_rewrite_or_nat() -> None:
    # A relay answers our SYN and opens its own connection: new ISN, new port, its MSS.
    sent = syn(C4, S4, seq=1000, sport=40000)
    seen = syn(NAT4, S4, seq=777777, sport=51515, mss=1200, ttl=63)
    synack = syn(S4, C4, ttl=63, flags=TcpFlags.SYN | TcpFlags.ACK, sport=7000, dport=40000)
    findings = diagnose_two_ended(observation(sent, seen, synack=synack))
    kinds = [f.kind for f in findings]
    assert "tcp-proxy" in kinds
    assert "isn-rewritten" not in kinds and "address-translated" not in kinds
    proxy = next(f for f in findings if f.kind == "tcp-proxy")
    assert proxy.severity.value == "warning"
    assert f"new connection from {NAT4} port 51515" in proxy.summary
    assert {e.field for e in proxy.evidence} >= {"tcp.seq_raw", "tcp.srcport"}
    _valid(observation(sent, seen, synack=synack))


def _reverse(
    dst: IPv4Address, *, stop: SearchStop, reached: int, silent: int | None
) -> PathMtuResult:
    records = [
        ProbeRecord(
            probe=Probe(id=1, family=4, dst=dst, size=reached, ttl=64, kind=ProbeKind.ECHO),
            sent_at=1.0,
            reply=Reply(probe_id=1, kind=ReplyKind.ECHO_REPLY, from_addr=dst),
            replied_at=1.01,
            outcome=ProbeOutcome.REACHED,
        )
    ]
    if silent is not None:
        records.append(
            ProbeRecord(
                probe=Probe(id=2, family=4, dst=dst, size=silent, ttl=64, kind=ProbeKind.ECHO),
                sent_at=1.0,
                reply=None,
                replied_at=None,
                outcome=ProbeOutcome.LOST,
            )
        )
    return PathMtuResult(
        dst=dst, family=4, kind=ProbeKind.ECHO, dport=None, path_mtu=reached,
        stop_reason=stop, too_big_mtu=None, ceiling=1500, floor=68,
        probes=tuple(records), started_at=1.0, ended_at=3.0,
    )  # fmt: skip


def test_reverse_path_findings_and_body() -> None:
    result = _reverse(C4, stop=SearchStop.BLACKHOLE, reached=1400, silent=1401)
    rev = ReverseMeasurement(transport="raw", result=result, stop="finished", sent=2, seconds=2)
    obs = observation(syn(C4, S4), syn(C4, S4), reverse=rev)
    kinds = {f.kind for f in diagnose_two_ended(obs)}
    # The black hole back toward us, and our 1460 MSS does not fit it.
    assert kinds == {"pmtud-blackhole", "oversized-mss"}
    doc = _valid(obs)
    assert doc["pmtu_reverse"] == 1400
    assert doc["reverse_path"]["pmtu"] == 1400  # type: ignore[index]
    assert doc["reverse"]["transport"] == "raw"  # type: ignore[index]


def test_reverse_clean_path_is_silent() -> None:
    result = _reverse(C4, stop=SearchStop.CONVERGED, reached=1500, silent=None)
    rev = ReverseMeasurement(transport="udp", result=result, stop="finished", sent=1, seconds=1)
    assert diagnose_two_ended(observation(syn(C4, S4), syn(C4, S4), reverse=rev)) == ()


def test_reverse_failed_measurement_has_no_findings() -> None:
    rev = ReverseMeasurement(
        transport="none", result=None, stop="error", sent=0, seconds=0, error="disabled"
    )
    obs = observation(syn(C4, S4), syn(C4, S4), reverse=rev)
    assert diagnose_two_ended(obs) == ()
    doc = _valid(obs)
    assert doc["pmtu_reverse"] is None and doc["reverse"]["error"] == "disabled"  # type: ignore[index]


def test_unknown_option_stripped() -> None:
    sent = replace(syn(C4, S4), option_kinds=(2, 4, 8, 1, 3, 34))  # TCP Fast Open cookie
    seen = syn(C4, S4)
    (finding,) = diagnose_two_ended(observation(sent, seen))
    assert finding.kind == "tcp-option-changed" and "stripped" in finding.summary


def test_small_server_mss_that_arrived_unchanged_is_the_servers_own() -> None:
    # The lab's small-mss-server: the responder announces 512 and the client saw 512.
    synack = syn(S4, C4, mss=512, flags=TcpFlags.SYN | TcpFlags.ACK)
    obs = observation(syn(C4, S4), syn(C4, S4), server_mss=512, synack=synack)
    (f,) = diagnose_two_ended(obs)
    assert f.kind == "undersized-mss" and f.facts["direction"] == "server->client"
    assert f.facts["owner"] == "server" and f.facts["proven"] == "yes"
    assert "announces MSS 512 itself" in f.summary and "unchanged" in f.summary
    assert "raise it on that host" in f.advice and "clamp on the way" not in f.advice
    _valid(obs)
    # Uncaptured SYN/ACK: only the responder's word; no proof either way, still reported.
    alone = observation(syn(C4, S4), syn(C4, S4), server_mss=512)
    (g,) = diagnose_two_ended(alone)
    assert g.kind == "undersized-mss" and g.facts["proven"] == "no"
