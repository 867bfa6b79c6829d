"""RawTransport against the real kernels of our own lab (see netlab.py)."""

from __future__ import annotations

import time

import pytest

from mtuscope.active.probe import IPAddress, Probe, ProbeKind, Reply, ReplyKind
from mtuscope.active.transport import RawTransport
from mtuscope.errors import RawSocketDenied, UsageError
from mtuscope.wire.tcp_options import TcpOptions

from .netlab import (
    BOTTLENECK,
    CLIENT4,
    CLIENT6,
    PORT,
    ROUTER_C4,
    ROUTER_C6,
    SERVER4,
    SERVER6,
    Lab,
    new_book,
    run_in_netns,
    send_probes,
    wait_reply,
)

pytestmark = pytest.mark.raw_socket

TARGET: dict[int, IPAddress] = {4: SERVER4, 6: SERVER6}
ROUTER: dict[int, IPAddress] = {4: ROUTER_C4, 6: ROUTER_C6}
SYN_MSS = {4: BOTTLENECK - 40, 6: BOTTLENECK - 60}
"""What the server announces: its interface MTU less the IP and TCP headers."""


def _one(
    family: int,
    size: int,
    *,
    kind: ProbeKind = ProbeKind.ECHO,
    ttl: int = 64,
    dport: int | None = None,
    wait: float = 2.0,
) -> tuple[Reply | None, TcpOptions | None, float]:
    """In the child: send one probe, wait for its reply; return it and the seconds waited."""
    probe = Probe(
        id=7, family=family, dst=TARGET[family], size=size, ttl=ttl, kind=kind, dport=dport
    )
    with RawTransport(family) as transport:
        start = time.monotonic()
        book = new_book()
        send_probes(transport, [probe], book)
        reply = wait_reply(transport, wait, book)
        options = reply.tcp_options if reply is not None else None
        return reply, options, time.monotonic() - start


@pytest.mark.parametrize("family", [4, 6])
def test_echo_at_the_bottleneck_mtu_is_answered(lab: Lab, family: int) -> None:
    reply, _, _ = run_in_netns(lab.client, _one, family, BOTTLENECK)
    assert reply is not None and reply.kind is ReplyKind.ECHO_REPLY
    assert reply.probe_id == 7 and reply.from_addr == TARGET[family]
    assert reply.ttl == 63  # the server's 64, less the router's hop
    # One clock: the transport does not time replies; the driver's records do.
    assert reply.rtt is None


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kind", [ProbeKind.ECHO, ProbeKind.TCP_SYN, ProbeKind.UDP])
def test_one_byte_over_gets_too_big_from_the_router(lab: Lab, family: int, kind: ProbeKind) -> None:
    dport = None if kind is ProbeKind.ECHO else PORT
    reply, _, _ = run_in_netns(lab.client, _one, family, BOTTLENECK + 1, kind=kind, dport=dport)
    assert reply is not None and reply.kind is ReplyKind.TOO_BIG
    assert reply.mtu == BOTTLENECK
    assert reply.from_addr == ROUTER[family]


@pytest.mark.parametrize("family", [4, 6])
def test_ttl_one_gets_time_exceeded_from_the_router(lab: Lab, family: int) -> None:
    reply, _, _ = run_in_netns(lab.client, _one, family, 100, ttl=1)
    assert reply is not None and reply.kind is ReplyKind.TIME_EXCEEDED
    assert reply.from_addr == ROUTER[family] and reply.mtu is None


@pytest.mark.parametrize("family", [4, 6])
def test_syn_to_an_open_port_gets_syn_ack_and_its_mss(lab: Lab, family: int) -> None:
    reply, options, _ = run_in_netns(
        lab.client, _one, family, 120, kind=ProbeKind.TCP_SYN, dport=PORT
    )
    assert reply is not None and reply.kind is ReplyKind.TCP_RESPONSE
    assert reply.from_addr == TARGET[family]
    assert options is not None
    assert options.mss == SYN_MSS[family]
    # Linux echoes what our SYN offered: SACK-permitted, timestamps, window scale.
    assert options.sack_permitted and options.timestamps is not None
    assert options.wscale is not None


@pytest.mark.parametrize("family", [4, 6])
def test_syn_to_a_closed_port_gets_a_reset(lab: Lab, family: int) -> None:
    reply, options, _ = run_in_netns(
        lab.client, _one, family, 200, kind=ProbeKind.TCP_SYN, dport=PORT + 1
    )
    assert reply is not None and reply.kind is ReplyKind.TCP_RESPONSE
    assert reply.from_addr == TARGET[family]
    assert options is None  # an RST carries no SYN/ACK options


@pytest.mark.parametrize("family", [4, 6])
def test_udp_to_a_closed_port_gets_port_unreachable(lab: Lab, family: int) -> None:
    reply, _, _ = run_in_netns(lab.client, _one, family, 300, kind=ProbeKind.UDP, dport=33434)
    assert reply is not None and reply.kind is ReplyKind.PORT_UNREACHABLE
    assert reply.from_addr == TARGET[family]


@pytest.mark.parametrize("family", [4, 6])
def test_above_the_interface_mtu_is_a_local_too_big(lab: Lab, family: int) -> None:
    reply, _, seconds = run_in_netns(lab.client, _one, family, 1501)
    assert reply is not None and reply.kind is ReplyKind.TOO_BIG
    assert reply.from_addr is None and reply.mtu == 1500
    assert seconds < 0.5


def _stray_probes(family: int) -> list[int]:
    """Two transports at once: each sees only its own probe's reply, never the other's."""
    out = []
    with RawTransport(family) as one, RawTransport(family) as two:
        books = (new_book(1), new_book(2))
        for pid, transport, book in ((1, one, books[0]), (2, two, books[1])):
            probe = Probe(
                id=pid, family=family, dst=TARGET[family], size=100, ttl=64, kind=ProbeKind.ECHO
            )
            send_probes(transport, [probe], book)
        for transport, book in zip((one, two), books, strict=True):
            reply = wait_reply(transport, 2, book)
            out.append(-1 if reply is None else reply.probe_id)
            extra = wait_reply(transport, 0.2, book)
            out.append(-1 if extra is None else extra.probe_id)
    return out


@pytest.mark.parametrize("family", [4, 6])
def test_replies_to_other_transports_are_ignored(lab: Lab, family: int) -> None:
    assert run_in_netns(lab.client, _stray_probes, family) == [1, -1, 2, -1]


def _denied() -> str:
    try:
        RawTransport(4)
    except RawSocketDenied as exc:
        return str(exc)
    return "opened"


def test_without_privilege_raw_sockets_are_denied_with_one_clear_message(lab: Lab) -> None:
    message = run_in_netns(lab.client, _denied, as_nobody=True)
    assert "CAP_NET_RAW" in message and "root" in message


@pytest.mark.parametrize("family", [4, 6])
def test_with_icmp_dropped_the_big_probe_times_out_in_bounded_time(
    lab: Lab, icmp_errors_dropped: None, family: int
) -> None:
    reply, _, seconds = run_in_netns(lab.client, _one, family, BOTTLENECK + 1, wait=0.6)
    assert reply is None
    assert 0.55 <= seconds < 1.0
    # The path itself still works for a packet that fits.
    fits, _, _ = run_in_netns(lab.client, _one, family, BOTTLENECK)
    assert fits is not None and fits.kind is ReplyKind.ECHO_REPLY


def _bound(family: int, src: str, iface: str) -> tuple[str, str | None]:
    """Probe with an explicit source and interface; also try a bad source and interface."""
    errors = []
    other = "2001:db8:1::1" if family == 4 else "192.0.2.1"
    try:
        RawTransport(family, src=other).close()
    except UsageError:
        errors.append("usage")
    try:
        RawTransport(family, iface="mtus-none").close()
    except UsageError:
        errors.append("usage")
    with RawTransport(family, src=src, iface=iface) as transport:
        book = new_book()
        probe = Probe(
            id=5, family=family, dst=TARGET[family], size=300, ttl=64, kind=ProbeKind.ECHO
        )
        send_probes(transport, [probe], book)
        reply = wait_reply(transport, 2, book)
    return ",".join(errors), None if reply is None else reply.kind.value


@pytest.mark.parametrize("family", [4, 6])
def test_explicit_source_and_interface(lab: Lab, family: int) -> None:
    src = str(CLIENT4 if family == 4 else CLIENT6)
    errors, kind = run_in_netns(lab.client, _bound, family, src, lab.client_dev)
    assert errors == "usage,usage"
    assert kind == ReplyKind.ECHO_REPLY.value
