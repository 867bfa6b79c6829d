"""Configuration snippets: an interface MTU and an MSS clamp, per platform.

Layer: calc/. Text templates filled with numbers; no I/O. The commands follow
each vendor's documentation, cited next to its template. IPv6 lines are left
out when the MTU is below 1280, where IPv6 cannot run (RFC 8200 §5).
"""

from __future__ import annotations

from collections.abc import Callable

from mtuscope.errors import UsageError
from mtuscope.wire.sizes import IPV4_MIN_MTU, IPV6_MIN_MTU, MAX_IP_PACKET


def _cisco(iface: str, mtu: int, mss4: int, mss6: int | None) -> str:
    # Cisco IOS/IOS-XE interface commands: "ip mtu", "ip tcp adjust-mss",
    # "ipv6 mtu", "ipv6 tcp adjust-mss" (IP Addressing / IPv6 configuration guides).
    lines = [f"interface {iface}", f" ip mtu {mtu}", f" ip tcp adjust-mss {mss4}"]
    if mss6 is not None:
        lines += [f" ipv6 mtu {mtu}", f" ipv6 tcp adjust-mss {mss6}"]
    return "\n".join(lines)


def _junos(iface: str, mtu: int, mss4: int, mss6: int | None) -> str:
    # Junos CLI reference: "mtu" and "tcp-mss (Interfaces)" at [edit interfaces name
    # unit name family inet|inet6] (clamps transit SYNs); SRX in flow mode clamps
    # with "tcp-mss (Security Flow)": set security flow tcp-mss all-tcp mss N.
    unit = f"set interfaces {iface} unit 0"
    lines = [f"{unit} family inet mtu {mtu}", f"{unit} family inet tcp-mss {mss4}"]
    if mss6 is not None:
        lines += [f"{unit} family inet6 mtu {mtu}", f"{unit} family inet6 tcp-mss {mss6}"]
    lines.append(f"# SRX in flow mode instead: set security flow tcp-mss all-tcp mss {mss4}")
    return "\n".join(lines)


def _linux(iface: str, mtu: int, mss4: int, mss6: int | None) -> str:
    # iproute2 ip-link(8) "mtu"; nftables wiki "Mangling packet headers" (tcp option
    # maxseg size set); iptables-extensions(8) TCPMSS --set-mss.
    lines = [
        f"ip link set dev {iface} mtu {mtu}",
        "# nftables",
        "nft add table inet mtuscope",
        "nft add chain inet mtuscope forward '{ type filter hook forward priority mangle; }'",
        f'nft add rule inet mtuscope forward oifname "{iface}" meta nfproto ipv4 '
        f"tcp flags syn tcp option maxseg size set {mss4}",
    ]
    if mss6 is not None:
        lines.append(
            f'nft add rule inet mtuscope forward oifname "{iface}" meta nfproto ipv6 '
            f"tcp flags syn tcp option maxseg size set {mss6}"
        )
    lines += [
        "# or iptables",
        f"iptables -t mangle -A FORWARD -o {iface} -p tcp --tcp-flags SYN,RST SYN "
        f"-j TCPMSS --set-mss {mss4}",
    ]
    if mss6 is not None:
        lines.append(
            f"ip6tables -t mangle -A FORWARD -o {iface} -p tcp --tcp-flags SYN,RST SYN "
            f"-j TCPMSS --set-mss {mss6}"
        )
    return "\n".join(lines)


def _windows(iface: str, mtu: int, mss4: int, mss6: int | None) -> str:
    # "netsh interface ipv4 set subinterface ... mtu=... store=persistent" (netsh
    # interface reference). Windows has no MSS clamp: it derives its MSS from the MTU.
    lines = [f'netsh interface ipv4 set subinterface "{iface}" mtu={mtu} store=persistent']
    if mss6 is not None:
        lines.append(f'netsh interface ipv6 set subinterface "{iface}" mtu={mtu} store=persistent')
    lines.append(
        f"rem Windows then announces MSS {mss4} (IPv4)" + (f" / {mss6} (IPv6)" if mss6 else "")
    )
    return "\n".join(lines)


def _mikrotik(iface: str, mtu: int, mss4: int, mss6: int | None) -> str:
    # RouterOS: "/interface set ... mtu=", firewall mangle action=change-mss
    # (help.mikrotik.com "Mangle", section Change MSS).
    lines = [
        f'/interface set [find name="{iface}"] mtu={mtu}',
        f"/ip firewall mangle add chain=forward out-interface={iface} protocol=tcp "
        f"tcp-flags=syn tcp-mss={mss4 + 1}-65535 action=change-mss new-mss={mss4} passthrough=yes",
    ]
    if mss6 is not None:
        lines.append(
            f"/ipv6 firewall mangle add chain=forward out-interface={iface} protocol=tcp "
            f"tcp-flags=syn tcp-mss={mss6 + 1}-65535 action=change-mss new-mss={mss6} "
            "passthrough=yes"
        )
    return "\n".join(lines)


def _fortios(iface: str, mtu: int, mss4: int, mss6: int | None) -> str:
    # FortiOS CLI reference: "config system interface" mtu-override/mtu/tcp-mss and
    # "config firewall policy" tcp-mss-sender / tcp-mss-receiver.
    lines = [
        "config system interface",
        f'    edit "{iface}"',
        "        set mtu-override enable",
        f"        set mtu {mtu}",
        f"        set tcp-mss {mss4}",
        "    next",
        "end",
        "# or per policy:",
        "config firewall policy",
        "    edit <policy-id>",
        f"        set tcp-mss-sender {mss4}",
        f"        set tcp-mss-receiver {mss4}",
        "    next",
        "end",
    ]
    if mss6 is not None:
        lines.append(f"# IPv6 policies: use {mss6}")
    return "\n".join(lines)


_RENDERERS: dict[str, Callable[[str, int, int, int | None], str]] = {
    "cisco-ios": _cisco,
    "junos": _junos,
    "linux": _linux,
    "windows": _windows,
    "mikrotik": _mikrotik,
    "fortios": _fortios,
}

PLATFORMS: tuple[str, ...] = tuple(_RENDERERS)
"""Platform names `render` knows, as given to --platform."""

PLATFORM_ALIASES: dict[str, str] = {
    "cisco": "cisco-ios",
    "ios": "cisco-ios",
    "ios-xe": "cisco-ios",
    "cisco-ios-xe": "cisco-ios",
    "juniper": "junos",
    "routeros": "mikrotik",
    "fortigate": "fortios",
}


def platform_name(name: str) -> str:
    """The canonical platform name for `name` (aliases such as "cisco" or "routeros").

    Raises:
        UsageError: an unknown platform; the message lists the known ones.
    """
    key = name.strip().lower()
    key = PLATFORM_ALIASES.get(key, key)
    if key not in _RENDERERS:
        raise UsageError(f"unknown platform {name!r}; known platforms: {', '.join(PLATFORMS)}")
    return key


def render(
    platform: str,
    *,
    ip_mtu: int,
    mss_ipv4: int,
    mss_ipv6: int | None,
    interface: str = "<iface>",
) -> str:
    """Configuration lines that set an interface MTU and clamp the TCP MSS.

    Args:
        platform: one of `PLATFORMS` (or an alias).
        ip_mtu: the IP MTU for the interface or tunnel.
        mss_ipv4: MSS clamp for IPv4 TCP.
        mss_ipv6: MSS clamp for IPv6 TCP, or None to leave IPv6 out.
        interface: the interface name to put in the lines.

    Returns:
        The snippet, several lines, no trailing newline.

    Raises:
        UsageError: unknown platform or impossible numbers.
    """
    key = platform_name(platform)
    if not IPV4_MIN_MTU <= ip_mtu <= MAX_IP_PACKET or not 0 < mss_ipv4 < ip_mtu:
        raise UsageError(f"impossible MTU {ip_mtu} / MSS {mss_ipv4} for a snippet")
    if mss_ipv6 is not None and (ip_mtu < IPV6_MIN_MTU or not 0 < mss_ipv6 < ip_mtu):
        mss_ipv6 = None
    if not interface or any(c in interface for c in "\n\"'"):
        raise UsageError(f"interface name {interface!r} is not usable in a snippet")
    return _RENDERERS[key](interface, ip_mtu, mss_ipv4, mss_ipv6)
