"""ProbeBook for one flow: a fixed 5-tuple, probes told apart by seq, payload, echo seq, IP ID."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv6Address

import pytest

from mtuscope.active.engine import Limits
from mtuscope.active.matching import FLOW_IDENT_BASE, FLOW_PORT_BASE, Matched, ProbeBook
from mtuscope.active.path_mtu import PathMtuSearch
from mtuscope.active.probe import Datagram, IPAddress, Layer, Probe, ProbeKind, ReplyKind
from mtuscope.active.probe_packet import WireTag, encode_probe
from mtuscope.errors import UsageError
from mtuscope.wire.builders import build_icmp_echo, build_icmp_error, build_tcp
from mtuscope.wire.icmp import decode_icmp_echo
from mtuscope.wire.tcp import TcpFlags, decode_tcp
from mtuscope.wire.udp import decode_udp

SRC: dict[int, IPAddress] = {4: IPv4Address("192.0.2.1"), 6: IPv6Address("2001:db8:1::1")}
DST: dict[int, IPAddress] = {4: IPv4Address("198.51.100.1"), 6: IPv6Address("2001:db8:2::1")}
ROUTER: dict[int, IPAddress] = {4: IPv4Address("192.0.2.254"), 6: IPv6Address("2001:db8:1::ff")}
TOO_BIG = {4: (3, 4), 6: (2, 0)}
HEADER = {4: 20, 6: 40}


def _probe(family: int, kind: ProbeKind, size: int, pid: int) -> Probe:
    dport = None if kind is ProbeKind.ECHO else 8080
    return Probe(id=pid, family=family, dst=DST[family], size=size, ttl=9, kind=kind, dport=dport)


def _tags(book: ProbeBook, family: int, kind: ProbeKind, sizes: list[int]) -> list[WireTag]:
    return [
        book.register(_probe(family, kind, size, pid), src=SRC[family], sent_at=10.0)
        for pid, size in enumerate(sizes, start=1)
    ]


def _match(book: ProbeBook, family: int, packet: bytes, sender: IPAddress) -> Matched | None:
    if family == 4:
        return book.match(Datagram(layer=Layer.IPV4, data=packet), received_at=10.25)
    layer = Layer.ICMP6 if packet[6] == 58 else Layer.TCP6
    return book.match(
        Datagram(layer=layer, data=packet[40:], from_addr=sender, ttl=60), received_at=10.25
    )


def _too_big(family: int, probe_packet: bytes, quote_len: int) -> bytes:
    kind, code = TOO_BIG[family]
    return build_icmp_error(
        src=ROUTER[family],
        dst=SRC[family],
        type=kind,
        code=code,
        quote=probe_packet[:quote_len],
        mtu=1400,
    )


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kind", list(ProbeKind))
def test_every_probe_of_a_flow_has_the_same_five_tuple(family: int, kind: ProbeKind) -> None:
    book = ProbeBook.for_flow(3, rng=random.Random(1))
    packets = [encode_probe(t) for t in _tags(book, family, kind, [1500, 1400, 1400, 600])]
    l4 = [p[HEADER[family] :] for p in packets]
    if kind is ProbeKind.ECHO:
        echoes = [decode_icmp_echo(b, family=family) for b in l4]
        assert {e.ident for e in echoes} == {FLOW_IDENT_BASE + 3}
        assert len({e.seq for e in echoes}) == 4
    elif kind is ProbeKind.UDP:
        assert {decode_udp(b).sport for b in l4} == {FLOW_PORT_BASE + 3}
        assert len({b[8:12] for b in l4}) == 4  # the probe number leads the payload
    else:
        segments = [decode_tcp(b) for b in l4]
        assert {s.sport for s in segments} == {FLOW_PORT_BASE + 3}
        seqs = [s.seq for s in segments]
        # Consecutive: each SYN is in the window of a half-open connection of the last one.
        assert [(b - a) % (1 << 32) for a, b in zip(seqs, seqs[1:], strict=False)] == [1, 1, 1]


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kind", [ProbeKind.TCP_SYN, ProbeKind.UDP, ProbeKind.ECHO])
def test_too_big_maps_to_the_probe_it_quotes_among_same_size_probes(
    family: int, kind: ProbeKind
) -> None:
    book = ProbeBook.for_flow(0, rng=random.Random(2))
    tags = _tags(book, family, kind, [1401, 1401, 1401])
    quote_len = 28 if family == 4 else 1232  # RFC 792's 8 bytes; RFC 4443's "as much as fits"
    matched = _match(
        book, family, _too_big(family, encode_probe(tags[1]), quote_len), ROUTER[family]
    )
    assert matched is not None and matched.reply.probe_id == 2
    assert matched.reply.kind is ReplyKind.TOO_BIG and matched.reply.mtu == 1400


def test_an_ipv4_quote_of_the_ip_header_alone_maps_a_flow_probe_by_ip_id() -> None:
    book = ProbeBook.for_flow(0, rng=random.Random(3))
    tags = _tags(book, 4, ProbeKind.UDP, [1401, 1401])
    matched = _match(book, 4, _too_big(4, encode_probe(tags[0]), 20), ROUTER[4])
    assert matched is not None and matched.reply.probe_id == 1


def test_a_quoted_tcp_probe_whose_seq_a_box_rewrote_maps_by_ip_id() -> None:
    book = ProbeBook.for_flow(0, rng=random.Random(4))
    tags = _tags(book, 4, ProbeKind.TCP_SYN, [1401, 1401])
    packet = bytearray(encode_probe(tags[1]))
    packet[24:28] = (0xDEADBEEF).to_bytes(4, "big")  # the quoted TCP sequence number
    matched = _match(book, 4, _too_big(4, bytes(packet), 28), ROUTER[4])
    assert matched is not None and matched.reply.probe_id == 2


@pytest.mark.parametrize("family", [4, 6])
def test_syn_ack_and_rst_of_one_flow_map_to_the_syn_they_acknowledge(family: int) -> None:
    book = ProbeBook.for_flow(1, rng=random.Random(5))
    first, second, third = _tags(book, family, ProbeKind.TCP_SYN, [1300, 1300, 200])

    def answer(ack: int, flags: TcpFlags) -> bytes:
        return build_tcp(
            src=DST[family],
            dst=SRC[family],
            sport=8080,
            dport=FLOW_PORT_BASE + 1,
            ack=ack % (1 << 32),
            flags=flags,
            mss=1360 if flags & TcpFlags.SYN else None,
        )

    # The destination opens a half-open connection for the first SYN and answers it;
    # the second SYN is in that connection's window: an RST acknowledging all of it.
    synack = _match(
        book, family, answer(first.tcp_seq + 1, TcpFlags.SYN | TcpFlags.ACK), DST[family]
    )
    assert synack is not None and synack.reply.probe_id == 1
    assert synack.reply.tcp_options is not None and synack.reply.tcp_options.mss == 1360
    rst = TcpFlags.RST | TcpFlags.ACK
    reset = _match(book, family, answer(second.tcp_seq + 1 + second.payload_len, rst), DST[family])
    assert reset is not None and reset.reply.probe_id == 2
    assert reset.reply.kind is ReplyKind.TCP_RESPONSE and reset.reply.tcp_options is None
    # Another port, or a bare ACK (no probe can be named by it), matches nothing.
    stray = build_tcp(
        src=DST[family], dst=SRC[family], sport=8080, dport=FLOW_PORT_BASE + 2,
        ack=(third.tcp_seq + 1) % (1 << 32), flags=TcpFlags.SYN | TcpFlags.ACK,
    )  # fmt: skip
    assert _match(book, family, stray, DST[family]) is None
    assert _match(book, family, answer(third.tcp_seq + 1, TcpFlags.ACK), DST[family]) is None


def test_a_late_reply_to_the_last_engine_of_the_flow_misses_the_next_one() -> None:
    search = ProbeBook.for_flow(0, rng=random.Random(6))
    trace = ProbeBook.for_flow(0, rng=random.Random(7))
    old = _tags(search, 4, ProbeKind.ECHO, [1400])[0]
    _tags(trace, 4, ProbeKind.ECHO, [1400])
    late = build_icmp_echo(
        src=DST[4], dst=SRC[4], ident=old.echo_ident, seq=old.echo_seq, reply=True
    )
    assert trace.match_ipv4(late, received_at=11.0) is None
    assert search.match_ipv4(late, received_at=11.0) is not None
    old_syn = _tags(search, 4, ProbeKind.TCP_SYN, [1401])[0]
    _tags(trace, 4, ProbeKind.TCP_SYN, [1401, 1401])
    error = _too_big(4, encode_probe(old_syn), 28)
    assert trace.match_ipv4(error, received_at=11.0) is None


def test_flow_ids_are_bounded_and_an_engine_given_a_flow_uses_its_book() -> None:
    with pytest.raises(UsageError):
        ProbeBook.for_flow(64)
    with pytest.raises(UsageError):
        ProbeBook.for_flow(-1)
    engine = PathMtuSearch(
        dst=DST[4], ceiling=1500, kind=ProbeKind.TCP_SYN, dport=8080, limits=Limits(flow=5)
    )
    assert engine.book.flow_port == FLOW_PORT_BASE + 5
    plain = PathMtuSearch(dst=DST[4], ceiling=1500, kind=ProbeKind.TCP_SYN, dport=8080)
    assert plain.book.flow_port is None
