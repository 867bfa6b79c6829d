"""MiddleboxTrace in memory: a scripted path that builds real packets and real ICMP quotes.

The fake path registers each probe in a real `ProbeBook`, builds the packet with
`encode_probe`, lets each router rewrite what it forwards, and answers with
real ICMP time-exceeded bytes (quoting the packet as it arrived, cut to the
router's quote length) or a real SYN/ACK, matched back by the real matcher.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest

from mtuscope.active.end_check import FAR_TTL
from mtuscope.active.engine import Limits
from mtuscope.active.matching import ProbeBook
from mtuscope.active.middlebox import MiddleboxTrace
from mtuscope.active.middlebox_result import MiddleboxResult, MiddleboxStop
from mtuscope.active.probe import IP_HEADER, Probe, ProbeKind, ProbeOutcome, Reply, ReplyKind
from mtuscope.active.probe_packet import encode_probe
from mtuscope.active.quote_diff import MSS_FIELD, SEQ_FIELD
from mtuscope.errors import UsageError
from mtuscope.wire.builders import build_icmp_echo, build_tcp
from mtuscope.wire.icmp import encode_icmp_error
from mtuscope.wire.tcp import TcpFlags

Rewrite = Callable[[bytearray, int], None]
"""Changes a forwarded packet in place; gets the IP header length."""


def set_mss(value: int) -> Rewrite:
    def rewrite(packet: bytearray, ip_len: int) -> None:
        at = packet.index(b"\x02\x04", ip_len + 20)
        packet[at + 2 : at + 4] = value.to_bytes(2, "big")

    return rewrite


def add_to_seq(offset: int) -> Rewrite:
    def rewrite(packet: bytearray, ip_len: int) -> None:
        seq = int.from_bytes(packet[ip_len + 4 : ip_len + 8], "big")
        packet[ip_len + 4 : ip_len + 8] = ((seq + offset) % (1 << 32)).to_bytes(4, "big")

    return rewrite


def set_tos(value: int) -> Rewrite:
    def rewrite(packet: bytearray, ip_len: int) -> None:
        packet[1] = value

    return rewrite


def strip_sack(packet: bytearray, ip_len: int) -> None:
    at = packet.index(b"\x04\x02", ip_len + 20)
    packet[at : at + 2] = b"\x01\x01"  # two NOPs, as some firewalls do


@dataclass
class Router:
    address: str
    quote_len: int = 576
    rewrite: Rewrite | None = None
    """Applied to the packets this router forwards (after it would quote them)."""
    lose: int = 0
    """How many of its time-exceeded messages get lost."""


@dataclass
class FakePath:
    family: int
    routers: list[Router]
    dst: str
    synack_mss: int = 1400
    proxy_at: int | None = None
    """A TCP proxy on this router (1-based) answers SYNs for the destination."""
    src: str = ""
    book: ProbeBook = field(init=False)
    outbox: list[Reply] = field(default_factory=list)
    sent: list[Probe] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.src = self.src or ("192.0.2.1" if self.family == 4 else "2001:db8:0:1::1")
        self.book = ProbeBook(ident=7, port_base=40000, rng=random.Random(3))

    def send(self, probe: Probe) -> None:
        self.sent.append(probe)
        src = ip_address(self.src)
        tag = self.book.register(probe, src=src, sent_at=0.0)
        packet = bytearray(encode_probe(tag))
        ip_len = IP_HEADER[self.family]
        for index, router in enumerate(self.routers, start=1):
            tcp_ends_here = self.proxy_at == index and probe.kind is ProbeKind.TCP_SYN
            if probe.ttl == index and not tcp_ends_here:
                if router.lose > 0:
                    router.lose -= 1
                    return
                quote = bytes(packet[: router.quote_len])
                icmp = encode_icmp_error(
                    family=self.family,
                    type=11 if self.family == 4 else 3,
                    quote=quote,
                    src=ip_address(router.address),
                    dst=src,
                )
                matched = self.book.match_icmp(
                    icmp,
                    family=self.family,
                    from_addr=ip_address(router.address),
                    ttl=64 - index,
                    received_at=0.01,
                )
                assert matched is not None
                self.outbox.append(matched.reply)
                return
            if tcp_ends_here:
                break
            if router.rewrite is not None and probe.kind is ProbeKind.TCP_SYN:
                router.rewrite(packet, ip_len)
        dst = ip_address(self.dst)
        if probe.kind is ProbeKind.ECHO:
            reply = build_icmp_echo(src=dst, dst=src, ident=tag.echo_ident, seq=tag.echo_seq)
            self.outbox.append(
                Reply(probe_id=probe.id, kind=ReplyKind.ECHO_REPLY, from_addr=dst, ttl=60)
            )
            assert reply
            return
        assert probe.dport is not None
        synack = build_tcp(
            src=dst,
            dst=src,
            sport=probe.dport,
            dport=tag.sport,
            seq=12345,
            ack=(tag.tcp_seq + 1) % (1 << 32),
            flags=TcpFlags.SYN | TcpFlags.ACK,
            mss=self.synack_mss,
            sack_permitted=True,
            wscale=7,
        )
        matched = self.book.match_tcp(synack[ip_len:], from_addr=dst, ttl=60, received_at=0.01)
        assert matched is not None
        self.outbox.append(matched.reply)


def run(path: FakePath, **kw: object) -> tuple[MiddleboxResult, float]:
    """Drive the engine against the fake path on a fake clock; returns (result, seconds)."""
    engine = MiddleboxTrace(dst=ip_address(path.dst), dport=443, **kw)  # type: ignore[arg-type]
    now = 0.0
    for _ in range(1000):
        if engine.finished:
            break
        for probe in engine.probes_due(now):
            path.send(probe)
        if path.outbox:
            now += 0.001
            engine.on_reply(path.outbox.pop(0), now)
            continue
        deadline = engine.deadline()
        assert deadline is not None
        now = max(now, deadline)
        engine.on_timeout(now)
    assert engine.finished
    return engine.result(), now


V4 = ["192.0.2.2", "198.51.100.2", "198.51.100.130"]
V6 = ["2001:db8:0:1::2", "2001:db8:0:2::2", "2001:db8:0:4::2"]


def test_clean_path_changes_nothing_and_ends_at_the_synack() -> None:
    result, seconds = run(FakePath(4, [Router(a) for a in V4], "203.0.113.2"))
    assert result.stop_reason is MiddleboxStop.REACHED
    assert [h.ttl for h in result.hops] == [1, 2, 3]
    assert [str(h.address) for h in result.hops] == V4
    assert all(not h.changed and not h.too_short for h in result.hops)
    assert all(MSS_FIELD in h.compared and SEQ_FIELD in h.compared for h in result.hops)
    assert result.changes == ()
    assert result.response is not None and result.response.mss == 1400
    assert result.response.ttl == 4 and result.response.syn_ack
    assert result.terminated is None and result.relay_checked
    assert seconds < 0.1


def test_clamp_on_the_second_router_is_placed_between_hops_2_and_3() -> None:
    routers = [Router(V4[0]), Router(V4[1], rewrite=set_mss(1300)), Router(V4[2])]
    result, _ = run(FakePath(4, routers, "203.0.113.2"))
    assert result.hops[0].changed == () and result.hops[1].changed == ()
    assert result.hops[2].changed_map == {MSS_FIELD: (1460, 1300)}
    (change,) = result.changes
    assert (change.field, change.before, change.after) == (MSS_FIELD, 1460, 1300)
    assert (change.from_ttl, str(change.from_address)) == (2, V4[1])
    assert (change.to_ttl, str(change.to_address)) == (3, V4[2])


def test_ipv6_clamp_on_the_first_router() -> None:
    routers = [Router(V6[0], quote_len=1232, rewrite=set_mss(1200)), Router(V6[1])]
    result, _ = run(FakePath(6, routers, "2001:db8:0:3::2"))
    (change,) = result.changes
    assert (change.before, change.after, change.from_ttl, change.to_ttl) == (1440, 1200, 1, 2)
    assert result.family == 6 and result.response is not None


def test_seq_tos_and_option_changes_each_found() -> None:
    def both(packet: bytearray, ip_len: int) -> None:
        add_to_seq(1000)(packet, ip_len)
        set_tos(0x20)(packet, ip_len)

    routers = [Router(V4[0], rewrite=both), Router(V4[1], rewrite=strip_sack), Router(V4[2])]
    result, _ = run(FakePath(4, routers, "203.0.113.2"))
    got = {(c.field, c.from_ttl, c.to_ttl) for c in result.changes}
    assert (SEQ_FIELD, 1, 2) in got and ("ip.dsfield", 1, 2) in got
    assert ("tcp.options.sack_perm", 2, 3) in got and ("tcp.options", 2, 3) in got
    sack = next(c for c in result.changes if c.field == "tcp.options.sack_perm")
    assert (sack.before, sack.after) == (1, 0)


def test_rfc792_short_quote_is_marked_and_the_change_is_placed_around_it() -> None:
    # Hop 2 quotes only the IP header and 8 bytes: its options tell nothing.
    routers = [
        Router(V4[0], rewrite=set_mss(1300)),
        Router(V4[1], quote_len=28),
        Router(V4[2]),
    ]
    result, _ = run(FakePath(4, routers, "203.0.113.2"))
    assert result.hops[1].too_short and result.hops[1].quote_bytes == 28
    assert MSS_FIELD not in result.hops[1].compared and SEQ_FIELD in result.hops[1].compared
    (change,) = result.changes
    assert (change.from_ttl, change.to_ttl) == (1, 3)


def test_lost_time_exceeded_is_retried_and_a_silent_hop_is_left_blank() -> None:
    routers = [Router(V4[0], lose=1), Router(V4[1], lose=5), Router(V4[2])]
    result, seconds = run(FakePath(4, routers, "203.0.113.2"), limits=Limits(timeout=0.5))
    assert result.hops[0].address is not None  # the retry got through
    assert result.hops[1].address is None and result.hops[1].outcome is ProbeOutcome.LOST
    assert result.stop_reason is MiddleboxStop.REACHED
    ttl2 = [r for r in result.probes if r.probe.ttl == 2 and r.probe.kind is ProbeKind.TCP_SYN]
    assert len(ttl2) == 2  # Limits.attempts
    assert seconds == pytest.approx(1.0, abs=0.1)


def test_tcp_proxy_answering_for_the_destination_is_found_by_the_echo() -> None:
    routers = [Router(a) for a in V4]
    result, _ = run(FakePath(4, routers, "203.0.113.2", proxy_at=2))
    assert result.response is not None and result.response.ttl == 2
    assert result.terminated is not None
    assert result.terminated.ttl == 2 and str(result.terminated.address) == V4[1]
    assert [h.ttl for h in result.hops] == [1]
    # The TCP answer and both echoes, for the tcp-proxy rule: one expired at the SYN/ACK's
    # TTL, one (TTL 255) reached the destination itself.
    end = result.tcp_end
    assert end is not None and end.tcp.probe_ttl == 2 and end.tcp.reply_ttl == 60
    assert end.same_ttl is not None and end.same_ttl.kind is ReplyKind.TIME_EXCEEDED
    assert end.far is not None and end.far.probe_ttl == FAR_TTL == 255
    assert end.far.kind is ReplyKind.ECHO_REPLY and str(end.far.address) == "203.0.113.2"
    echoes = [r.probe.ttl for r in result.probes if r.probe.kind is ProbeKind.ECHO]
    assert sorted(echoes) == [2, 255]


def test_without_the_proxy_check_no_echo_is_sent() -> None:
    path = FakePath(4, [Router(a) for a in V4], "203.0.113.2", proxy_at=2)
    result, _ = run(path, check_relay=False)
    assert not any(p.kind is ProbeKind.ECHO for p in path.sent)
    assert result.tcp_end is not None and result.tcp_end.far is None


def test_no_answer_stops_at_the_hop_limit() -> None:
    routers = [Router(a) for a in V4] + [Router("203.0.113.9", lose=99)]
    path = FakePath(4, routers, "203.0.113.2")
    path.dst = "203.0.113.77"  # never answers: only the silent router is beyond hop 3
    routers[3].lose = 99

    def silent(probe: Probe) -> None:
        if probe.ttl <= 3:
            FakePath.send(path, probe)

    path.send = silent  # type: ignore[method-assign]
    result, _ = run(path, max_ttl=6, limits=Limits(timeout=0.2, attempts=1))
    assert result.stop_reason is MiddleboxStop.HOP_LIMIT and result.response is None
    assert len(result.hops) == 6 and all(h.address is None for h in result.hops[3:])


def test_budget_bounds_the_walk() -> None:
    routers = [Router(a, lose=99) for a in V4]
    path = FakePath(4, routers, "203.0.113.2")
    result, _ = run(path, max_ttl=30, limits=Limits(timeout=0.1, budget=5))
    assert result.stop_reason is MiddleboxStop.BUDGET and len(result.probes) <= 5


def test_bad_arguments() -> None:
    with pytest.raises(UsageError):
        MiddleboxTrace(dst=IPv4Address("192.0.2.9"), dport=0)
    with pytest.raises(UsageError):
        MiddleboxTrace(dst=IPv6Address("2001:db8::1"), dport=80, max_ttl=0)
    engine = MiddleboxTrace(dst=IPv4Address("192.0.2.9"), dport=80)
    with pytest.raises(UsageError):
        engine.result()


def test_a_walk_abandoned_by_its_driver_keeps_what_it_found() -> None:
    path = FakePath(4, [Router(a) for a in V4], "203.0.113.2")
    engine = MiddleboxTrace(dst=ip_address(path.dst), dport=443, window=1)
    (first,) = engine.probes_due(0.0)
    path.send(first)
    engine.on_reply(path.outbox.pop(0), 0.01)
    (second,) = engine.probes_due(0.02)  # in flight when the driver gives up
    engine.halt(0.5, MiddleboxStop.TIME_LIMIT)
    engine.halt(0.9, MiddleboxStop.BUDGET)  # once finished, nothing changes
    result = engine.result()
    assert result.stop_reason is MiddleboxStop.TIME_LIMIT and result.seconds == 0.5
    assert [h.address for h in result.hops] == [IPv4Address(V4[0])]
    assert result.response is None and result.probes[-1].outcome is ProbeOutcome.CANCELLED
    assert (len(result.probes), result.answered) == (2, 1)
    assert second.ttl == 2
