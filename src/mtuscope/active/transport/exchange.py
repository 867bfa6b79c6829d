"""One framed exchange over a TCP connection: what both ends of the two-ended check share.

Layer: active/transport (an edge). Reads one length-prefixed frame by a
deadline (active/responder_protocol.py `FrameBuffer` enforces the size limit),
names a socket's endpoints, and asks the kernel what MSS it announced.
"""

from __future__ import annotations

import socket
import time
from ipaddress import ip_address

from mtuscope.active.responder_protocol import FrameBuffer
from mtuscope.active.syn_view import Endpoint
from mtuscope.active.transport.kernel_tcp import read_tcp_info
from mtuscope.errors import UsageError

_RECV_CHUNK = 65536


def endpoint_of(sockaddr: tuple[object, ...]) -> Endpoint:
    """An AF_INET/AF_INET6 socket address (scope id dropped) as an `Endpoint`."""
    host = str(sockaddr[0]).split("%")[0]
    port = sockaddr[1]
    assert isinstance(port, int)  # AF_INET/AF_INET6 addresses carry an int port
    return Endpoint(address=ip_address(host), port=port)


def announced_mss(sock: socket.socket) -> int | None:
    """The MSS this end's SYN (or SYN/ACK) announced (`TCP_INFO` `tcpi_advmss`), if known."""
    try:
        info = read_tcp_info(sock)
    except (OSError, UsageError):
        return None
    return info.announced_mss or None


def read_frame(sock: socket.socket, until: float, limit: int) -> bytes | None:
    """Receive one frame's body, giving up at `until` (monotonic clock).

    Args:
        sock: a connected TCP socket.
        until: the deadline, `time.monotonic()` seconds.
        limit: the largest body accepted, bytes.

    Returns:
        The body, or None when the peer closed before a whole frame.

    Raises:
        TimeoutError: the deadline passed first (a slow sender is cut off).
        OSError: the connection failed.
        Malformed: the announced length is above `limit`.
    """
    buffer = FrameBuffer(limit)
    while True:
        left = until - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        data = sock.recv(min(buffer.wanted(), _RECV_CHUNK))
        if not data:
            return None
        body = buffer.feed(data)
        if body is not None:
            return body
