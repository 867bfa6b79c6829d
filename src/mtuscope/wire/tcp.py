"""TCP header (RFC 9293 §3.1) <-> `TcpHeader`.

Layer: wire/. Pure: bytes in, frozen values out, and back. No I/O.

The fixed part is `TCP_LAYOUT`, in wire order; the options (data offset * 4 - 20
bytes, decoded by `tcp_options`) follow it. capture/'s bulk decoder and the C
walker read the same offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag
from ipaddress import IPv4Address, IPv6Address

from mtuscope.errors import Malformed, UsageError
from mtuscope.wire.checksum import internet_checksum, pseudo_header
from mtuscope.wire.cursor import Cursor
from mtuscope.wire.enums import IpProto
from mtuscope.wire.layout import Layout
from mtuscope.wire.tcp_options import TcpOptions, decode_tcp_options, encode_tcp_options

__all__ = ["TCP_LAYOUT", "TCP_MIN_HEADER", "TcpFlags", "TcpHeader", "decode_tcp", "encode_tcp"]

TCP_LAYOUT = Layout(
    "TCP",
    "RFC 9293 §3.1",
    ("sport", 2),
    ("dport", 2),
    ("seq", 4),
    ("ack", 4),
    ("offset_flags", 2),  # data offset (4 bits), reserved (3), AE, CWR ... FIN (RFC 9768)
    ("window", 2),
    ("checksum", 2),
    ("urgent", 2),
)
"""The TCP header without options, field by field."""
TCP_MIN_HEADER = TCP_LAYOUT.size
"""Bytes in a TCP header without options (data offset 5): 20."""
TCP_MAX_HEADER = 60
"""Bytes in a TCP header with the most options (data offset 15)."""
_CHECKSUM = TCP_LAYOUT.field("checksum").span


# RFC 9293 §3.1 control bits; CWR/ECE: RFC 3168 §23.2; AE (bit 7 of byte 12): RFC 9768.
class TcpFlags(IntFlag):
    """TCP control bits, numbered as in the PacketTable `tcp_flags` column."""

    FIN = 0x001
    SYN = 0x002
    RST = 0x004
    PSH = 0x008
    ACK = 0x010
    URG = 0x020
    ECE = 0x040
    CWR = 0x080
    AE = 0x100


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpHeader:
    """One TCP header, fields in wire order."""

    sport: int
    """Source port."""
    dport: int
    """Destination port."""
    seq: int = 0
    """Sequence number."""
    ack: int = 0
    """Acknowledgment number."""
    header_len: int = TCP_MIN_HEADER
    """Header length in bytes, data offset * 4 (20..60)."""
    flags: TcpFlags = TcpFlags.SYN
    """Control bits (the 9 defined ones; reserved bits are dropped)."""
    window: int = 65535
    """Window field, unscaled."""
    checksum: int = 0
    """Checksum as found (decoding), or 0 to be filled in (encoding)."""
    urgent: int = 0
    """Urgent pointer."""
    options: TcpOptions = field(default_factory=TcpOptions)
    """The decoded option area."""

    def __post_init__(self) -> None:
        TCP_LAYOUT.check(
            sport=self.sport,
            dport=self.dport,
            seq=self.seq,
            ack=self.ack,
            window=self.window,
            checksum=self.checksum,
            urgent=self.urgent,
        )
        if not TCP_MIN_HEADER <= self.header_len <= TCP_MAX_HEADER or self.header_len % 4:
            raise UsageError(f"TCP header length {self.header_len} is not 20..60 in 4s")


def decode_tcp(data: bytes) -> TcpHeader:
    """Decode the TCP header at the start of `data`.

    Args:
        data: bytes starting at the TCP header; the payload may follow.

    Returns:
        The header with its options decoded (leniently: a bad option sets
        `options.malformed`, it does not raise).

    Raises:
        Truncated: the bytes end before data offset * 4.
        Malformed: the data offset is below 5 (dpkt rejects it too).
    """
    cur = Cursor(data)
    f = TCP_LAYOUT.read(cur)
    word = f["offset_flags"]
    header_len = (word >> 12) * 4
    if header_len < TCP_MIN_HEADER:
        at = TCP_LAYOUT.offset("offset_flags")
        raise Malformed(f"TCP data offset {header_len // 4} below 5", offset=at)
    with cur.within(header_len - TCP_MIN_HEADER):
        options = decode_tcp_options(cur.rest())
    return TcpHeader(
        sport=f["sport"],
        dport=f["dport"],
        seq=f["seq"],
        ack=f["ack"],
        header_len=header_len,
        flags=TcpFlags(word & 0x1FF),
        window=f["window"],
        checksum=f["checksum"],
        urgent=f["urgent"],
        options=options,
    )


def encode_tcp(
    header: TcpHeader,
    *,
    src: IPv4Address | IPv6Address | None = None,
    dst: IPv4Address | IPv6Address | None = None,
    payload: bytes = b"",
) -> bytes:
    """Encode a TCP header (and payload), with its options.

    `header.header_len` is ignored: the length follows from the encoded options.

    Args:
        header: the header; its `options.options` are encoded in order, padded.
        src: IP source address, for the checksum pseudo-header.
        dst: IP destination address. With both given the checksum is computed
            (RFC 9293 §3.1); otherwise `header.checksum` is written.
        payload: segment data appended after the header.

    Returns:
        The TCP segment bytes.

    Raises:
        UsageError: the options do not fit, or only one address is given.
    """
    if (src is None) != (dst is None):
        raise UsageError("give both src and dst to compute the TCP checksum, or neither")
    option_bytes = encode_tcp_options(header.options.options)
    header_len = TCP_MIN_HEADER + len(option_bytes)
    out = TCP_LAYOUT.pack(
        sport=header.sport,
        dport=header.dport,
        seq=header.seq,
        ack=header.ack,
        offset_flags=(header_len // 4) << 12 | int(header.flags) & 0x1FF,
        window=header.window,
        checksum=header.checksum if src is None else 0,
        urgent=header.urgent,
    )
    out += option_bytes + payload
    if src is not None and dst is not None:
        pseudo = pseudo_header(src, dst, IpProto.TCP, len(out))
        out[_CHECKSUM] = internet_checksum(pseudo + bytes(out)).to_bytes(2, "big")
    return bytes(out)
