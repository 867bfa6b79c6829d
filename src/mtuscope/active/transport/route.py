"""What the kernel's routing says toward a destination: our source address and the MTU.

Layer: active/transport (an edge). Uses a UDP socket `connect`ed to the
destination, which makes the kernel do its route and source selection without
sending any packet.
"""

from __future__ import annotations

import socket
from ipaddress import ip_address

from mtuscope.active.probe import IPAddress
from mtuscope.active.transport.linux import IP_MTU, IPV6_MTU
from mtuscope.errors import NoRoute


def source_for(dst: IPAddress, *, iface: str | None = None) -> IPAddress:
    """The source address the kernel would use toward `dst` (no packet is sent).

    A UDP socket `connect`ed to `dst` makes the kernel do its route and source
    selection; `getsockname` reads the result.

    Args:
        dst: the destination.
        iface: an interface to bind to first, or None.

    Returns:
        Our address toward `dst`.

    Raises:
        NoRoute: the kernel has no route to `dst`.
    """
    family = socket.AF_INET if dst.version == 4 else socket.AF_INET6
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            if iface is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
            sock.connect((str(dst), 9))
        except OSError as exc:
            raise NoRoute(f"no route to {dst}: {exc.strerror}") from exc
        address = ip_address(sock.getsockname()[0].split("%")[0])
    return address


def route_mtu(dst: IPAddress, *, iface: str | None = None) -> int | None:
    """The MTU the kernel's route toward `dst` has (IP_MTU / IPV6_MTU of a connected socket).

    Args:
        dst: the destination.
        iface: an interface to bind to first, or None.

    Returns:
        The MTU in bytes, or None when the kernel will not say.
    """
    v4 = dst.version == 4
    with socket.socket(socket.AF_INET if v4 else socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        try:
            if iface is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
            sock.connect((str(dst), 9))
            level = socket.IPPROTO_IP if v4 else socket.IPPROTO_IPV6
            return sock.getsockopt(level, IP_MTU if v4 else IPV6_MTU)
        except OSError:
            return None
