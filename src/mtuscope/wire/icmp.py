"""ICMP (RFC 792) and ICMPv6 (RFC 4443) messages <-> `IcmpMessage`, `IcmpEcho`.

Layer: wire/. Pure: bytes in, frozen values out, and back. No I/O.

What the decoder reads, and where (all offsets from the ICMP header):

- bytes 0-3: type, code, checksum (RFC 792; RFC 4443 §2.1).
- ICMPv4 type 3 code 4 (fragmentation needed): the next-hop MTU is the 16-bit
  field at bytes 6-7 (RFC 1191 §4). Wireshark's `icmp.mtu` reads exactly these
  bytes, also when byte 5 holds an RFC 4884 length, and so do we. An MTU of 0
  (a router older than RFC 1191) is reported as 0, with a note.
- ICMPv6 type 2 (packet too big): the 32-bit MTU at bytes 4-7 (RFC 4443 §3.2).
- RFC 4884 multipart messages: ICMPv4 types 3, 11, 12 carry the length of the
  original datagram in byte 5 (32-bit words); ICMPv6 types 1 and 3 in byte 4
  (64-bit words). When it is non-zero and the message is longer, the quote is
  limited to that many bytes (the rest is extension objects). A redirect's quote
  is limited to the quoted IP header plus 8 bytes, as Wireshark does.
- The quote (errors only, from byte 8): the first quoted IP header, the IPv6
  extension chain after it, and what is there of the transport header. A quoted
  first fragment (offset 0, more fragments) still carries its transport header
  and we decode it; tshark does the same with `ipv6.defragment`/`ip.defragment`
  off, while with reassembly on (its default) it shows such a quote as data.
  A quoted later fragment (offset > 0) has no transport header: no ports.

Quotes are short by design (RFC 792 quotes the IP header and 8 bytes) and often
cut further by the capture: the decoder takes what is there and never raises for
a short or odd quote; oddities land in `notes`. It raises `Truncated` only when
the 8-byte ICMP header itself is cut. No header value is impossible enough to
raise `Malformed`: an MTU of 0 or a PTB below 1280 are things to report, not crash on.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from mtuscope.errors import Malformed, UsageError
from mtuscope.wire.checksum import internet_checksum, pseudo_header
from mtuscope.wire.cursor import Cursor
from mtuscope.wire.enums import Icmp4Type, Icmp6Type, IpProto
from mtuscope.wire.layout import Layout
from mtuscope.wire.quote import QuotedPacket, decode_quote
from mtuscope.wire.sizes import IPV6_MIN_MTU

__all__ = [
    "ICMP4_ERRORS",
    "ICMP6_ERRORS",
    "ICMP_HEADER",
    "ICMP_LAYOUT",
    "IcmpEcho",
    "IcmpMessage",
    "QuotedPacket",
    "decode_icmp_echo",
    "decode_icmp_error",
    "encode_icmp_echo",
    "encode_icmp_error",
]

ICMP_LAYOUT = Layout(
    "ICMP",
    "RFC 792; RFC 4443 §2.1",
    ("type", 1),
    ("code", 1),
    ("checksum", 2),
    # Type-specific: an echo's identifier and sequence; frag-needed's next-hop MTU in
    # the low 16 bits (RFC 1191 §4); packet-too-big's 32-bit MTU (RFC 4443 §3.2).
    ("rest", 4),
)
"""The ICMP/ICMPv6 header before the message body, field by field."""
ICMP_HEADER = ICMP_LAYOUT.size
"""Bytes in the ICMP/ICMPv6 header before the message body (type, code, checksum, 4 more)."""

# RFC 792 error messages (destination unreachable, source quench, redirect, time
# exceeded, parameter problem); RFC 1812 §4.3.2.3 lists the same set.
ICMP4_ERRORS = frozenset(
    {
        Icmp4Type.DEST_UNREACH,
        Icmp4Type.SOURCE_QUENCH,
        Icmp4Type.REDIRECT,
        Icmp4Type.TIME_EXCEEDED,
        Icmp4Type.PARAM_PROBLEM,
    }
)
"""ICMPv4 types that quote the offending packet."""

# RFC 4443 §2.1: types 1-4 are the defined error messages.
ICMP6_ERRORS = frozenset(
    {
        Icmp6Type.DEST_UNREACH,
        Icmp6Type.PACKET_TOO_BIG,
        Icmp6Type.TIME_EXCEEDED,
        Icmp6Type.PARAM_PROBLEM,
    }
)
"""ICMPv6 types that quote the offending packet."""

# RFC 4884 §4.1 (ICMPv4, length in 32-bit words in byte 5) and §4.2 (ICMPv6,
# length in 64-bit words in byte 4): type -> (byte index, unit in bytes).
_RFC4884_LENGTH_4 = {
    Icmp4Type.DEST_UNREACH: (5, 4),
    Icmp4Type.TIME_EXCEEDED: (5, 4),
    Icmp4Type.PARAM_PROBLEM: (5, 4),
}
_RFC4884_LENGTH_6 = {
    Icmp6Type.DEST_UNREACH: (4, 8),
    Icmp6Type.TIME_EXCEEDED: (4, 8),
}

_FRAG_NEEDED = 4  # ICMPv4 destination unreachable code (RFC 792, RFC 1191 §4)


@dataclass(frozen=True, slots=True, kw_only=True)
class IcmpMessage:
    """One ICMP or ICMPv6 message, with the quote of an error decoded."""

    family: int
    """4 for ICMP, 6 for ICMPv6."""
    type: Icmp4Type | Icmp6Type
    """Message type."""
    code: int
    """Message code."""
    checksum: int
    """Checksum as found (not verified: ICMPv6 needs the outer addresses)."""
    mtu: int | None
    """Next-hop MTU in bytes: ICMPv4 type 3 code 4 (16 bits) or ICMPv6 type 2 (32 bits)."""
    is_error: bool
    """An error message (v4 types 3, 4, 5, 11, 12; v6 types 1-4), which quotes a packet."""
    original_len: int | None
    """RFC 4884 length of the original datagram in bytes; None when absent or zero."""
    quote_len: int
    """Bytes of quote available (0 for non-errors)."""
    quote: QuotedPacket | None
    """The quoted packet, if this is an error and the quote holds a whole first IP header."""
    notes: tuple[str, ...] = ()
    """Oddities met on the way (MTU 0, unknown quoted IP version, ...), one line each."""


@dataclass(frozen=True, slots=True, kw_only=True)
class IcmpEcho:
    """An ICMP/ICMPv6 echo request or reply (RFC 792; RFC 4443 §4.1, §4.2)."""

    family: int
    """4 for ICMP, 6 for ICMPv6."""
    reply: bool = False
    """Echo reply (True) or request (False)."""
    ident: int = 0
    """Identifier."""
    seq: int = 0
    """Sequence number."""
    payload: bytes = b""
    """The data after the 8-byte header."""
    checksum: int = 0
    """Checksum as found (decoding); computed when encoding."""

    def __post_init__(self) -> None:
        _check_family(self.family)
        if not (0 <= self.ident <= 0xFFFF and 0 <= self.seq <= 0xFFFF):
            raise UsageError(f"echo identifier {self.ident} / sequence {self.seq} out of range")


def decode_icmp_error(data: bytes, *, family: int) -> IcmpMessage:
    """Decode an ICMP or ICMPv6 message and, for an error, the packet it quotes.

    Any type decodes; only errors get a quote. See the module docstring for
    which bytes are read.

    Args:
        data: bytes from the ICMP (family 4) or ICMPv6 (family 6) header on; may be cut.
        family: 4 or 6.

    Returns:
        The message.

    Raises:
        Truncated: fewer than the 8 bytes of the ICMP header.
        UsageError: `family` is neither 4 nor 6.
    """
    _check_family(family)
    cur = Cursor(data)
    f = ICMP_LAYOUT.read(cur)
    head = data[:ICMP_HEADER]
    notes: list[str] = []
    kind: Icmp4Type | Icmp6Type
    mtu: int | None = None
    if family == 4:
        kind = Icmp4Type(f["type"])
        is_error = kind in ICMP4_ERRORS
        length_at = _RFC4884_LENGTH_4.get(kind)
        if kind == Icmp4Type.DEST_UNREACH and f["code"] == _FRAG_NEEDED:
            mtu = f["rest"] & 0xFFFF
            if mtu == 0:
                notes.append("next-hop MTU 0: a router that predates RFC 1191")
    else:
        kind = Icmp6Type(f["type"])
        is_error = kind in ICMP6_ERRORS
        length_at = _RFC4884_LENGTH_6.get(kind)
        if kind == Icmp6Type.PACKET_TOO_BIG:
            mtu = f["rest"]
            if mtu < IPV6_MIN_MTU:
                notes.append(f"packet-too-big MTU {mtu} below the IPv6 minimum {IPV6_MIN_MTU}")
    original_len = None
    if length_at is not None and head[length_at[0]]:
        original_len = head[length_at[0]] * length_at[1]
    quote_bytes = cur.rest() if is_error else b""
    if original_len is not None and len(quote_bytes) > original_len:
        quote_bytes = quote_bytes[:original_len]  # the rest: RFC 4884 extension objects
    if family == 4 and kind == Icmp4Type.REDIRECT and quote_bytes:
        quote_bytes = quote_bytes[: (quote_bytes[0] & 0x0F) * 4 + 8]
    quote = decode_quote(quote_bytes, notes) if is_error else None
    return IcmpMessage(
        family=family,
        type=kind,
        code=f["code"],
        checksum=f["checksum"],
        mtu=mtu,
        is_error=is_error,
        original_len=original_len,
        quote_len=len(quote_bytes),
        quote=quote,
        notes=tuple(notes),
    )


def encode_icmp_error(
    *,
    family: int,
    type: int,
    code: int = 0,
    quote: bytes,
    mtu: int | None = None,
    src: IPv4Address | IPv6Address | None = None,
    dst: IPv4Address | IPv6Address | None = None,
) -> bytes:
    """Encode an ICMP/ICMPv6 error message quoting `quote`.

    Args:
        family: 4 or 6.
        type: message type (e.g. 3 or `Icmp6Type.PACKET_TOO_BIG`).
        code: message code.
        quote: the quoted bytes, written as given (trim them to what the sender would).
        mtu: next-hop MTU, written for ICMPv4 3/4 (16 bits) and ICMPv6 2 (32 bits).
        src: IPv6 source of the message, needed for the ICMPv6 checksum.
        dst: IPv6 destination of the message.

    Returns:
        The ICMP message bytes with the checksum filled in.

    Raises:
        UsageError: bad family, MTU out of range or missing, or ICMPv6 without addresses.
    """
    _check_family(family)
    rest = 0
    if family == 4 and type == Icmp4Type.DEST_UNREACH and code == _FRAG_NEEDED:
        rest = _field(mtu, 2, "MTU")
    elif family == 6 and type == Icmp6Type.PACKET_TOO_BIG:
        rest = _field(mtu, 4, "MTU")
    head = ICMP_LAYOUT.pack(type=type, code=code, checksum=0, rest=rest)
    return _with_checksum(bytes(head) + quote, family, src, dst)


def decode_icmp_echo(data: bytes, *, family: int) -> IcmpEcho:
    """Decode an echo request or reply.

    Args:
        data: bytes from the ICMP/ICMPv6 header on.
        family: 4 or 6.

    Returns:
        The echo message.

    Raises:
        Truncated: fewer than 8 bytes.
        Malformed: the type is not an echo request or reply of that family.
        UsageError: `family` is neither 4 nor 6.
    """
    _check_family(family)
    cur = Cursor(data)
    f = ICMP_LAYOUT.read(cur)
    kind = f["type"]
    types: dict[int, bool]
    if family == 4:
        types = {Icmp4Type.ECHO_REQUEST: False, Icmp4Type.ECHO_REPLY: True}
    else:
        types = {Icmp6Type.ECHO_REQUEST: False, Icmp6Type.ECHO_REPLY: True}
    if kind not in types:
        raise Malformed(f"ICMP type {kind} is not an echo message", offset=0)
    return IcmpEcho(
        family=family,
        reply=types[kind],
        ident=f["rest"] >> 16,
        seq=f["rest"] & 0xFFFF,
        payload=cur.rest(),
        checksum=f["checksum"],
    )


def encode_icmp_echo(
    echo: IcmpEcho,
    *,
    src: IPv4Address | IPv6Address | None = None,
    dst: IPv4Address | IPv6Address | None = None,
) -> bytes:
    """Encode an echo request or reply with its checksum.

    Args:
        echo: the message (`checksum` is ignored and computed).
        src: IPv6 source, needed for the ICMPv6 checksum pseudo-header.
        dst: IPv6 destination.

    Returns:
        The ICMP message bytes.

    Raises:
        UsageError: ICMPv6 without both addresses.
    """
    kind: Icmp4Type | Icmp6Type
    if echo.family == 4:
        kind = Icmp4Type.ECHO_REPLY if echo.reply else Icmp4Type.ECHO_REQUEST
    else:
        kind = Icmp6Type.ECHO_REPLY if echo.reply else Icmp6Type.ECHO_REQUEST
    raw = ICMP_LAYOUT.pack(type=kind, code=0, checksum=0, rest=echo.ident << 16 | echo.seq)
    return _with_checksum(bytes(raw) + echo.payload, echo.family, src, dst)


def _with_checksum(
    message: bytes,
    family: int,
    src: IPv4Address | IPv6Address | None,
    dst: IPv4Address | IPv6Address | None,
) -> bytes:
    """Fill bytes 2-3: ICMPv4 sums the message (RFC 792), ICMPv6 adds the
    pseudo-header (RFC 4443 §2.3)."""
    summed = message
    if family == 6:
        if src is None or dst is None:
            raise UsageError("the ICMPv6 checksum needs the source and destination address")
        summed = pseudo_header(src, dst, IpProto.ICMPV6, len(message)) + message
    at = ICMP_LAYOUT.field("checksum")
    checksum = internet_checksum(summed).to_bytes(at.width, "big")
    return message[: at.offset] + checksum + message[at.end :]


def _field(value: int | None, size: int, name: str) -> int:
    if value is None or not 0 <= value < 1 << (8 * size):
        raise UsageError(f"{name} {value} does not fit in {size} bytes")
    return value


def _check_family(family: int) -> None:
    if family not in (4, 6):
        raise UsageError(f"address family must be 4 or 6, not {family}")
