"""What the kernel's routing says toward a destination: our source address and the MTU.

Layer: active/transport (an edge). Uses a UDP socket `connect`ed to the
destination, which makes the kernel do its route and source selection without
sending any packet, and reads the routing table and interface MTUs from
/proc and /sys.
"""

from __future__ import annotations

import errno
import socket
from ipaddress import ip_address
from pathlib import Path

from mtuscope.active.probe import IPAddress
from mtuscope.active.transport.linux import IP_MTU, IPV6_MTU
from mtuscope.errors import NoRoute


def raise_if_no_route(exc: OSError, dst: IPAddress) -> None:
    """Raise NoRoute (from `exc`) when a failed connect says the kernel has no route to `dst`.

    Raises:
        NoRoute: `exc` is ENETUNREACH or EHOSTUNREACH.
    """
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        raise NoRoute(f"no route to {dst}: {exc.strerror}") from exc


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


def interface_mtu(dst: IPAddress) -> int:
    """The MTU of the interface the kernel routes `dst` through (hop 0's MTU).

    The route's own MTU (`route_mtu`) already includes any path MTU the kernel
    learned from earlier too-big messages; the interface's MTU does not, so a
    second run probes as widely as the first.

    Args:
        dst: the target.

    Returns:
        The MTU in bytes: from /sys/class/net/<dev>/mtu, else the route's MTU, else 1500.
    """
    dev = _route_device(dst)
    if dev is not None:
        try:
            return int(Path("/sys/class/net", dev, "mtu").read_text().strip())
        except (OSError, ValueError):
            pass
    mtu = route_mtu(dst)
    return mtu if mtu is not None else 1500


def _route_device(dst: IPAddress) -> str | None:
    """The interface of the main table's longest-prefix route to `dst`, from /proc/net."""
    if dst.is_loopback:
        return "lo"  # the local table's route, which /proc/net/route does not list
    best: tuple[int, str] | None = None
    try:
        if dst.version == 4:
            lines = Path("/proc/net/route").read_text().splitlines()[1:]
            want = int(dst)
            for line in lines:
                f = line.split()
                if len(f) < 8:
                    continue
                # Destination and Mask are little-endian hex words.
                dest = int.from_bytes(bytes.fromhex(f[1]), "little")
                mask = int.from_bytes(bytes.fromhex(f[7]), "little")
                plen = bin(mask).count("1")
                if want & mask == dest and (best is None or plen > best[0]):
                    best = (plen, f[0])
        else:
            lines = Path("/proc/net/ipv6_route").read_text().splitlines()
            want = int(dst)
            for line in lines:
                f = line.split()
                if len(f) < 10:
                    continue
                plen = int(f[1], 16)
                mask = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
                if want & mask == int(f[0], 16) and (best is None or plen > best[0]):
                    best = (plen, f[9])
    except (OSError, ValueError):
        return None
    return best[1] if best is not None else None
