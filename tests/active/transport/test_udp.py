"""UdpTransport, unprivileged (uid nobody, no capabilities), against our own lab."""

from __future__ import annotations

import socket
import time

import pytest

from mtuscope.active.probe import IPAddress, Probe, ProbeKind, Reply, ReplyKind
from mtuscope.active.transport import UdpTransport
from mtuscope.errors import UsageError

from .netlab import (
    BOTTLENECK,
    ROUTER_C4,
    ROUTER_C6,
    SERVER4,
    SERVER6,
    Lab,
    run_in_netns,
    wait_reply,
)

pytestmark = pytest.mark.raw_socket

TARGET: dict[int, IPAddress] = {4: SERVER4, 6: SERVER6}
ROUTER: dict[int, IPAddress] = {4: ROUTER_C4, 6: ROUTER_C6}
DPORT = 33434


def _raw_allowed() -> bool:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    except PermissionError:
        return False
    return True


def _probes(family: int, specs: list[tuple[int, int]]) -> tuple[bool, list[Reply | None]]:
    """In the child: send (size, ttl) probes at once; collect one reply per probe id."""
    replies: dict[int, Reply] = {}
    with UdpTransport(family) as transport:
        start = time.monotonic()
        for index, (size, ttl) in enumerate(specs, start=1):
            transport.send(
                Probe(
                    id=index,
                    family=family,
                    dst=TARGET[family],
                    size=size,
                    ttl=ttl,
                    kind=ProbeKind.UDP,
                    dport=DPORT,
                ),
                None,
                start,
            )
        while len(replies) < len(specs):
            reply = wait_reply(transport, start + 2.0 - time.monotonic())
            if reply is None:
                break
            replies[reply.probe_id] = reply
    return _raw_allowed(), [replies.get(i) for i in range(1, len(specs) + 1)]


@pytest.mark.parametrize("family", [4, 6])
def test_udp_transport_unprivileged_maps_every_kind_of_answer(lab: Lab, family: int) -> None:
    specs = [(BOTTLENECK, 64), (BOTTLENECK + 1, 64), (200, 1), (1501, 64), (BOTTLENECK + 50, 64)]
    raw_allowed, (fits, big, short_ttl, local, big2) = run_in_netns(
        lab.client, _probes, family, specs, as_nobody=True
    )
    assert not raw_allowed, "the child was meant to run without raw-socket privilege"
    assert fits is not None and fits.kind is ReplyKind.PORT_UNREACHABLE
    assert fits.from_addr == TARGET[family] and fits.ttl == 63
    for too_big in (big, big2):
        assert too_big is not None and too_big.kind is ReplyKind.TOO_BIG
        assert too_big.mtu == BOTTLENECK and too_big.from_addr == ROUTER[family]
    assert short_ttl is not None and short_ttl.kind is ReplyKind.TIME_EXCEEDED
    assert short_ttl.from_addr == ROUTER[family]
    assert local is not None and local.kind is ReplyKind.TOO_BIG
    assert local.from_addr is None and local.mtu == 1500


def test_udp_transport_refuses_other_probe_kinds() -> None:
    with UdpTransport(4) as transport:
        echo = Probe(id=1, family=4, dst=SERVER4, size=100, ttl=1, kind=ProbeKind.ECHO)
        with pytest.raises(UsageError):
            transport.send(echo, None, 0.0)
        six = Probe(id=2, family=6, dst=SERVER6, size=100, ttl=1, kind=ProbeKind.UDP, dport=9)
        with pytest.raises(UsageError):
            transport.send(six, None, 0.0)


def test_receive_never_waits_past_its_timeout() -> None:
    with UdpTransport(4) as transport:
        start = time.monotonic()
        assert transport.receive(0.2) is None
        assert 0.19 <= time.monotonic() - start < 0.3
        assert transport.receive(0) is None
