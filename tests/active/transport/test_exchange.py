"""active/transport/exchange.py: one framed read by a deadline, over a real socket pair."""

from __future__ import annotations

import socket
import time

import pytest

from mtuscope.active.responder_protocol import frame
from mtuscope.active.transport.exchange import endpoint_of, read_frame
from mtuscope.errors import Malformed


def test_a_whole_frame_is_read_and_what_follows_is_left() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame(b"hello") + b"trailing")
        assert read_frame(b, time.monotonic() + 5, 64) == b"hello"


def test_a_peer_that_closes_early_gives_none() -> None:
    a, b = socket.socketpair()
    with b:
        a.sendall(frame(b"hello")[:6])
        a.close()
        assert read_frame(b, time.monotonic() + 5, 64) is None


def test_a_slow_peer_is_cut_off_at_the_deadline() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame(b"hello")[:3])
        with pytest.raises(TimeoutError):
            read_frame(b, time.monotonic() + 0.1, 64)
        with pytest.raises(TimeoutError):
            read_frame(b, time.monotonic() - 1, 64)


def test_a_frame_above_the_limit_is_refused_at_its_length() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(frame(b"x" * 100))
        with pytest.raises(Malformed):
            read_frame(b, time.monotonic() + 5, 64)


def test_endpoint_of_drops_an_ipv6_scope() -> None:
    where = endpoint_of(("fe80::1%eth0", 7000, 0, 2))
    assert (str(where.address), where.port) == ("fe80::1", 7000)
