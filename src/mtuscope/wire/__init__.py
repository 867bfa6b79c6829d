"""wire/: bytes <-> typed headers, and back.

Layer: the bottom of the stack. Pure functions and frozen values only: no I/O,
no sockets, no files, no clock, no globals; imports nothing else of mtuscope
but `errors`. capture/ decodes fixed fields in bulk and calls in here for the
rare variable parts (TCP options of SYNs, ICMP quotes, IPv6 extension chains);
active/ builds its probes and reads the replies with it.

The names below load on first use (PEP 562), module by module: a core that
needs only the size limits or one header (calc/, the CLI's start-up) does not
pay for importing every decoder and builder.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtuscope.wire.builders import (
        build_icmp_echo,
        build_icmp_error,
        build_ip,
        build_tcp,
        build_udp,
    )
    from mtuscope.wire.checksum import internet_checksum, pseudo_header
    from mtuscope.wire.cursor import Cursor
    from mtuscope.wire.enums import Icmp4Type, Icmp6Type, IpProto, LinkType, TcpOptionKind, WireEnum
    from mtuscope.wire.http import http_get, unescape_request
    from mtuscope.wire.icmp import (
        ICMP4_ERRORS,
        ICMP6_ERRORS,
        ICMP_HEADER,
        ICMP_LAYOUT,
        IcmpEcho,
        IcmpMessage,
        QuotedPacket,
        decode_icmp_echo,
        decode_icmp_error,
        encode_icmp_echo,
        encode_icmp_error,
    )
    from mtuscope.wire.ipv4 import (
        IPV4_LAYOUT,
        IPV4_MIN_HEADER,
        Ipv4Header,
        decode_ipv4,
        encode_ipv4,
    )
    from mtuscope.wire.ipv6 import (
        EXTENSION_HEADERS,
        IPV6_EXTENSION_LAYOUT,
        IPV6_FRAGMENT_LAYOUT,
        IPV6_HEADER,
        IPV6_LAYOUT,
        Ipv6Extension,
        Ipv6Fragment,
        Ipv6Header,
        decode_ipv6,
        encode_ipv6,
        encode_ipv6_fragment,
    )
    from mtuscope.wire.layout import Field, Layout, check_range
    from mtuscope.wire.quote import decode_quote
    from mtuscope.wire.sizes import (
        IPV4_MIN_MTU,
        IPV4_MIN_REASSEMBLY,
        IPV6_MIN_MTU,
        MAX_IP_PACKET,
        MIN_MTU,
        MIN_REASSEMBLY,
        TCP_DEFAULT_MSS,
        TCP_DEFAULT_MSS_IPV4,
        TCP_DEFAULT_MSS_IPV6,
    )
    from mtuscope.wire.tcp import (
        TCP_LAYOUT,
        TCP_MIN_HEADER,
        TcpFlags,
        TcpHeader,
        decode_tcp,
        encode_tcp,
    )
    from mtuscope.wire.tcp_options import (
        MAX_OPTIONS_LEN,
        OPTION_LENGTHS,
        TIMESTAMPS_SPACE,
        TcpOption,
        TcpOptions,
        decode_tcp_options,
        encode_tcp_options,
        syn_options,
    )
    from mtuscope.wire.tls import TlsFlight, client_hello, sni_name, tls_flight
    from mtuscope.wire.udp import UDP_HEADER, UDP_LAYOUT, UdpHeader, decode_udp, encode_udp

__all__ = [
    "Cursor",
    "EXTENSION_HEADERS",
    "Field",
    "ICMP4_ERRORS",
    "ICMP6_ERRORS",
    "ICMP_HEADER",
    "ICMP_LAYOUT",
    "IPV4_LAYOUT",
    "IPV4_MIN_HEADER",
    "IPV4_MIN_MTU",
    "IPV4_MIN_REASSEMBLY",
    "IPV6_EXTENSION_LAYOUT",
    "IPV6_FRAGMENT_LAYOUT",
    "IPV6_HEADER",
    "IPV6_LAYOUT",
    "IPV6_MIN_MTU",
    "Icmp4Type",
    "Icmp6Type",
    "IcmpEcho",
    "IcmpMessage",
    "IpProto",
    "Ipv4Header",
    "Ipv6Extension",
    "Ipv6Fragment",
    "Ipv6Header",
    "Layout",
    "LinkType",
    "MAX_IP_PACKET",
    "MAX_OPTIONS_LEN",
    "MIN_MTU",
    "MIN_REASSEMBLY",
    "OPTION_LENGTHS",
    "QuotedPacket",
    "TCP_DEFAULT_MSS",
    "TCP_DEFAULT_MSS_IPV4",
    "TCP_DEFAULT_MSS_IPV6",
    "TCP_LAYOUT",
    "TCP_MIN_HEADER",
    "TIMESTAMPS_SPACE",
    "TcpFlags",
    "TcpHeader",
    "TcpOption",
    "TcpOptionKind",
    "TcpOptions",
    "TlsFlight",
    "UDP_HEADER",
    "UDP_LAYOUT",
    "UdpHeader",
    "WireEnum",
    "build_icmp_echo",
    "build_icmp_error",
    "build_ip",
    "build_tcp",
    "build_udp",
    "check_range",
    "client_hello",
    "decode_icmp_echo",
    "decode_icmp_error",
    "decode_ipv4",
    "decode_ipv6",
    "decode_quote",
    "decode_tcp",
    "decode_tcp_options",
    "decode_udp",
    "encode_icmp_echo",
    "encode_icmp_error",
    "encode_ipv4",
    "encode_ipv6",
    "encode_ipv6_fragment",
    "encode_tcp",
    "encode_tcp_options",
    "encode_udp",
    "http_get",
    "internet_checksum",
    "pseudo_header",
    "sni_name",
    "syn_options",
    "tls_flight",
    "unescape_request",
]

# Submodules in the order `__getattr__` searches them, cheapest first.
_MODULES = (
    "sizes",
    "enums",
    "cursor",
    "checksum",
    "layout",
    "ipv4",
    "ipv6",
    "udp",
    "tcp_options",
    "tcp",
    "quote",
    "icmp",
    "builders",
    "http",
    "tls",
)


def __getattr__(name: str) -> Any:
    """A public name of a submodule (or the submodule itself), imported on first use."""
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in __all__:
        for module_name in _MODULES:
            module = importlib.import_module(f"{__name__}.{module_name}")
            if name in getattr(module, "__all__", ()):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
