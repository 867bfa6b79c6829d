"""The reverse path MTU search: the responder measures the path back toward its client.

Layer: active/transport (an edge). Opens a `RawTransport` (ICMP echo, root or
CAP_NET_RAW) or else a `UdpTransport`, and drives a `PathMtuSearch` toward the
connecting address only, bounded by the responder's budget and wall-clock cap.
Failures are in the measurement, never raised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mtuscope.active.engine import Limits
from mtuscope.active.path_mtu import PathMtuSearch
from mtuscope.active.probe import IPAddress, ProbeKind
from mtuscope.active.responder_protocol import ReverseMeasurement
from mtuscope.active.transport.driver import Transport, drive
from mtuscope.active.transport.raw import RawTransport
from mtuscope.active.transport.route import route_mtu
from mtuscope.active.transport.udp import UdpTransport
from mtuscope.errors import ProbeError, RawSocketDenied, UsageError
from mtuscope.wire.sizes import MAX_IP_PACKET, MIN_MTU

if TYPE_CHECKING:
    from mtuscope.active.transport.responder import ResponderLimits

UDP_PROBE_PORT = 33434
"""Destination port of unprivileged reverse probes (traceroute's: normally closed)."""
_DEFAULT_CEILING = 1500
"""The search's ceiling when the route names no MTU (Ethernet's)."""

Measure = Callable[[IPAddress, "ResponderLimits"], ReverseMeasurement]
"""How the responder measures (`measure_reverse`; tests pass their own)."""


def measure_reverse(dst: IPAddress, limits: ResponderLimits) -> ReverseMeasurement:
    """Search the path MTU toward `dst` (the connecting client), bounded by `limits`.

    ICMP echo probes from a `RawTransport` when this process may open raw sockets,
    else UDP probes to port 33434 from a `UdpTransport` (the client's kernel answers
    port-unreachable).

    Args:
        dst: the client's address, as accept() gave it.
        limits: budget and wall-clock cap.

    Returns:
        The measurement; failures are in `error`, never raised.
    """
    # The route's MTU (loopback says 65536: more than an IP packet can be).
    ceiling = min(route_mtu(dst) or _DEFAULT_CEILING, MAX_IP_PACKET)
    engine_limits = Limits(budget=limits.reverse_budget, timeout=1.0)
    transport: RawTransport | UdpTransport
    try:
        transport = RawTransport(dst.version)
        kind, dport, name = ProbeKind.ECHO, None, "raw"
    except RawSocketDenied:
        transport = UdpTransport(dst.version)
        kind, dport, name = ProbeKind.UDP, UDP_PROBE_PORT, "udp"
    start = time.monotonic()
    try:
        with transport:
            search = PathMtuSearch(
                dst=dst, ceiling=max(ceiling, MIN_MTU[dst.version]),
                kind=kind, dport=dport, limits=engine_limits,
            )  # fmt: skip
            t: Transport = transport
            run = drive(
                search, t, max_seconds=limits.reverse_seconds, max_probes=limits.reverse_budget
            )
    except (ProbeError, UsageError, OSError) as exc:
        return ReverseMeasurement(
            transport=name, result=None, stop="error", sent=0,
            seconds=time.monotonic() - start, error=str(exc)[:200],
        )  # fmt: skip
    return ReverseMeasurement(
        transport=name, result=run.result, stop=run.stop.value, sent=run.sent, seconds=run.seconds
    )
