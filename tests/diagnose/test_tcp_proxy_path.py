"""Rule `tcp-proxy` for the path verbs (`probe`, `trace` with TCP probes): the TCP end check."""

from __future__ import annotations

import sys
from ipaddress import IPv4Address
from pathlib import Path

from mtuscope.active.end_check import EchoSeen, TcpAnswer, TcpEnd
from mtuscope.active.hop_trace import HopTrace
from mtuscope.active.probe import ReplyKind
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from active.fakepath import FakePath, run  # noqa: E402  (tests/ is not a package)

HOP2 = IPv4Address("198.51.100.2")


def observations(end: TcpEnd | None) -> PathObservations:
    path = FakePath(hop_mtus=[1500, 1500, 1500])
    assert path.local_mtu is not None
    trace = HopTrace(dst=path.dst, ceiling=path.local_mtu)
    run(trace, path)
    result = trace.result()
    if end is not None:
        end = TcpEnd(dst=path.dst, dport=8443, tcp=end.tcp, same_ttl=end.same_ttl, far=end.far)
    return PathObservations(dst=path.dst, port=8443, trace=result, tcp_end=end)


def end(same: ReplyKind | None, *, syn_ack_ttl: int = 63, echo_ttl: int = 61) -> TcpEnd:
    dst = IPv4Address("192.0.2.99")  # replaced by the fake path's destination
    return TcpEnd(
        dst=dst,
        dport=8443,
        tcp=TcpAnswer(probe_id=7, probe_ttl=2, address=dst, reply_ttl=syn_ack_ttl),
        same_ttl=EchoSeen(
            probe_id=30,
            probe_ttl=2,
            kind=same,
            address=HOP2 if same is ReplyKind.TIME_EXCEEDED else dst,
            reply_ttl=63,
        ),
        far=EchoSeen(
            probe_id=31, probe_ttl=255, kind=ReplyKind.ECHO_REPLY, address=dst, reply_ttl=echo_ttl
        ),
    )


def test_a_proxy_answering_the_syn_probes_is_a_warning_with_its_hop() -> None:
    obs = observations(end(ReplyKind.TIME_EXCEEDED))
    (finding,) = [f for f in diagnose_path(obs) if f.kind == "tcp-proxy"]
    assert finding.severity.value == "warning"
    assert finding.summary.startswith(f"A TCP proxy at hop 2 ({HOP2}) answers for ")
    assert "port 8443" in finding.summary
    assert [e.probe for e in finding.evidence] == [30, 7]
    assert "end at the proxy" in finding.advice and "--kind echo" in finding.advice


def test_the_server_itself_is_no_proxy() -> None:
    obs = observations(end(ReplyKind.ECHO_REPLY, syn_ack_ttl=61, echo_ttl=61))
    assert [f for f in diagnose_path(obs) if f.kind == "tcp-proxy"] == []


def test_without_the_check_nothing_is_said() -> None:
    assert [f for f in diagnose_path(observations(None)) if f.kind == "tcp-proxy"] == []
