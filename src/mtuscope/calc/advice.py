"""The numbers behind configuration advice: clamp values, usable MTUs, snippets.

Layer: calc/. Pure arithmetic; no I/O and no wording: the advice text of each
finding kind lives with its rule (`mtuscope.diagnose.rules.<kind>`), which asks
calc/ for the numbers and for the configuration lines of a platform.
"""

from __future__ import annotations

from mtuscope.calc.snippets import platform_name, render
from mtuscope.wire.ipv4 import IPV4_MIN_HEADER
from mtuscope.wire.ipv6 import IPV6_HEADER
from mtuscope.wire.sizes import IPV4_MIN_MTU, IPV6_MIN_MTU, MAX_IP_PACKET
from mtuscope.wire.tcp import TCP_MIN_HEADER

TCP_IP_HEADERS: dict[int, int] = {
    4: IPV4_MIN_HEADER + TCP_MIN_HEADER,
    6: IPV6_HEADER + TCP_MIN_HEADER,
}
"""IP plus TCP header bytes without options, by IP version: MSS = MTU - this."""


def usable_mtu(mtu: int | None) -> bool:
    """True when `mtu` is a size an interface can be configured with (68..65535)."""
    return mtu is not None and IPV4_MIN_MTU <= mtu <= MAX_IP_PACKET


def clamp_mss(mtu: int, family: int) -> int:
    """The MSS clamp that fits TCP over IPv`family` into packets of `mtu` bytes."""
    return mtu - TCP_IP_HEADERS[family]


def ipv6_clamp(mtu: int) -> int | None:
    """The IPv6 MSS clamp for `mtu`, or None when IPv6 cannot run over it (below 1280)."""
    return clamp_mss(mtu, 6) if mtu >= IPV6_MIN_MTU else None


def config_snippet(platform: str, mtu: int, *, interface: str = "<iface>") -> str:
    """The configuration lines that set MTU `mtu` and its MSS clamps on `platform`.

    Args:
        platform: a `calc.snippets.PLATFORMS` name (or alias).
        mtu: the IP MTU to configure, bytes.
        interface: the interface name to put in the lines.

    Returns:
        The lines, newline-separated.

    Raises:
        UsageError: unknown platform.
    """
    return render(
        platform_name(platform),
        ip_mtu=mtu,
        mss_ipv4=clamp_mss(mtu, 4),
        mss_ipv6=ipv6_clamp(mtu),
        interface=interface,
    )
