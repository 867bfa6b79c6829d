"""active/transport: the only code that sends and receives probes.

Layer: an edge of active/. Raw sockets (`RawTransport`, root or CAP_NET_RAW),
the unprivileged UDP socket with the kernel's error queue (`UdpTransport`),
the kernel's own view of a real TCP connection (`tcp_mss`), and the driver
loop that runs a sans-IO engine against a transport (`drive`, the one clock).
The engines in active/ never import this package; nothing here decides what to
probe, and matching replies to probes is pure (active/matching.py).
"""

from mtuscope.active.transport.driver import Drive, DriveStop, Engine, Transport, drive
from mtuscope.active.transport.errqueue import QueuedError, decode_extended_err, reply_kind
from mtuscope.active.transport.kernel_tcp import (
    KernelTcpFacts,
    TcpInfo,
    decode_tcp_info,
    read_tcp_info,
    tcp_mss,
)
from mtuscope.active.transport.linux import has_cap_net_raw
from mtuscope.active.transport.raw import RawTransport
from mtuscope.active.transport.route import interface_mtu, route_mtu, source_for
from mtuscope.active.transport.udp import UdpTransport

__all__ = [
    "Drive",
    "DriveStop",
    "Engine",
    "KernelTcpFacts",
    "QueuedError",
    "RawTransport",
    "TcpInfo",
    "Transport",
    "UdpTransport",
    "decode_extended_err",
    "decode_tcp_info",
    "drive",
    "has_cap_net_raw",
    "interface_mtu",
    "read_tcp_info",
    "reply_kind",
    "route_mtu",
    "source_for",
    "tcp_mss",
]
