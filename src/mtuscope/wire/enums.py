"""Protocol code points as IntEnums that never refuse a value.

Layer: wire/. Pure tables: no I/O. An unknown code point becomes a named
placeholder (`TcpOptionKind(254)` prints `KIND254`, `LinkType(300)` prints
`LINKTYPE300`), as in dnspython's `dns/enum.py`, so a decoder never fails on a
value nobody registered yet. Values outside the field's width (one byte; two for
`LinkType`) still raise `ValueError` (a caller bug).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "Icmp4Type",
    "Icmp6Type",
    "IpProto",
    "LinkType",
    "TcpOptionKind",
    "WireEnum",
]


class WireEnum(IntEnum):
    """An IntEnum of code points whose unknown values become placeholders.

    The placeholder's name is the prefix from `_PREFIXES` plus the value; the
    field is one byte wide unless `_WIDTHS` says otherwise.
    """

    @classmethod
    def _missing_(cls, value: object) -> WireEnum | None:
        if isinstance(value, int) and not isinstance(value, bool):
            if 0 <= value < 1 << (8 * _WIDTHS.get(cls.__name__, 1)):
                member = int.__new__(cls, value)
                member._name_ = f"{_PREFIXES.get(cls.__name__, 'VALUE')}{value}"
                member._value_ = value
                return member
        return None

    def __str__(self) -> str:
        return self.name


# IANA "Assigned Internet Protocol Numbers" (RFC 5237 registry), the values mtuscope meets;
# IPv6 extension headers per RFC 8200 §4 and RFC 7045.
class IpProto(WireEnum):
    """IPv4 protocol / IPv6 next-header numbers."""

    HOPOPT = 0
    ICMP = 1
    IGMP = 2
    IPIP = 4
    TCP = 6
    UDP = 17
    IPV6 = 41
    IPV6_ROUTE = 43
    IPV6_FRAG = 44
    GRE = 47
    ESP = 50
    AH = 51
    ICMPV6 = 58
    IPV6_NONXT = 59
    IPV6_OPTS = 60
    DCCP = 33
    SCTP = 132
    MOBILITY = 135
    UDPLITE = 136
    MPLS_IN_IP = 137
    HIP = 139
    SHIM6 = 140
    EXP1 = 253
    EXP2 = 254


# IANA "TCP Option Kind Numbers" (https://www.iana.org/assignments/tcp-parameters);
# MSS, EOL, NOP: RFC 9293 §3.2; window scale and timestamps: RFC 7323 §2.2, §3.2;
# SACK: RFC 2018 §2, §3.
class TcpOptionKind(WireEnum):
    """TCP option kinds."""

    EOL = 0
    NOP = 1
    MSS = 2
    WSCALE = 3
    SACK_PERMITTED = 4
    SACK = 5
    ECHO = 6
    ECHO_REPLY = 7
    TIMESTAMPS = 8
    POC_PERMITTED = 9
    POC_PROFILE = 10
    CC = 11
    CC_NEW = 12
    CC_ECHO = 13
    ALT_CHECKSUM_REQUEST = 14
    ALT_CHECKSUM_DATA = 15
    MD5 = 19
    QUICK_START = 27
    USER_TIMEOUT = 28
    TCP_AO = 29
    MPTCP = 30
    FAST_OPEN = 34
    ACCECN0 = 172
    ACCECN1 = 174
    EXPERIMENTAL1 = 253
    EXPERIMENTAL2 = 254


# RFC 792 (types 0, 3, 4, 5, 8, 11, 12), RFC 1256 (9, 10), RFC 950 (17, 18), RFC 8335 (42, 43).
class Icmp4Type(WireEnum):
    """ICMP (IPv4) message types."""

    ECHO_REPLY = 0
    DEST_UNREACH = 3
    SOURCE_QUENCH = 4
    REDIRECT = 5
    ECHO_REQUEST = 8
    ROUTER_ADVERT = 9
    ROUTER_SOLICIT = 10
    TIME_EXCEEDED = 11
    PARAM_PROBLEM = 12
    TIMESTAMP = 13
    TIMESTAMP_REPLY = 14
    MASK_REQUEST = 17
    MASK_REPLY = 18
    EXT_ECHO_REQUEST = 42
    EXT_ECHO_REPLY = 43


# RFC 4443 §2.1 (types 1-4, 128, 129), RFC 4861 §4 (133-137), RFC 8335 (160, 161).
class Icmp6Type(WireEnum):
    """ICMPv6 message types."""

    DEST_UNREACH = 1
    PACKET_TOO_BIG = 2
    TIME_EXCEEDED = 3
    PARAM_PROBLEM = 4
    ECHO_REQUEST = 128
    ECHO_REPLY = 129
    ROUTER_SOLICIT = 133
    ROUTER_ADVERT = 134
    NEIGHBOR_SOLICIT = 135
    NEIGHBOR_ADVERT = 136
    REDIRECT = 137
    EXT_ECHO_REQUEST = 160
    EXT_ECHO_REPLY = 161


# tcpdump.org "Link-layer header types" (the LINKTYPE_* registry of
# draft-ietf-opsawg-pcaplinktype): the link types capture/'s walkers decode.
class LinkType(WireEnum):
    """pcap/pcapng link types (LINKTYPE_*, 16 bits in pcapng's IDB)."""

    NULL = 0  # BSD loopback, host-order address family
    ETHERNET = 1
    PPP = 9
    RAW_DLT12 = 12  # DLT_RAW as most systems number it, found in old files
    RAW_DLT14 = 14  # DLT_RAW on OpenBSD
    PPP_HDLC = 50
    PPP_ETHER = 51  # a PPPoE header (RFC 2516) with no Ethernet header before it
    RAW = 101  # raw IPv4 or IPv6, by the version nibble
    C_HDLC = 104  # Cisco HDLC
    IEEE802_11 = 105
    LOOP = 108  # OpenBSD loopback, network-order address family
    LINUX_SLL = 113
    IEEE802_11_RADIOTAP = 127
    ARCNET_LINUX = 129
    PPI = 192  # per-packet information header, then the link type it names
    IPV4 = 228
    IPV6 = 229
    NFLOG = 239  # Linux netfilter log
    IPOIB = 242  # IP over InfiniBand
    PPP_WITH_DIR = 204  # a direction byte, then PPP in HDLC-like framing
    PKTAP = 258  # Apple's PKTAP header, then the link type it names
    LINUX_SLL2 = 276


# Placeholder name prefix per enum, for values no table lists.
_PREFIXES = {
    "Icmp4Type": "TYPE",
    "Icmp6Type": "TYPE",
    "IpProto": "PROTO",
    "LinkType": "LINKTYPE",
    "TcpOptionKind": "KIND",
}
# Field width in bytes of the enums that are not one byte wide.
_WIDTHS = {"LinkType": 2}
