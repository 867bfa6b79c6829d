"""The Internet checksum (RFC 1071) and the TCP/UDP/ICMPv6 pseudo-headers.

Layer: wire/. Pure arithmetic over bytes: no I/O, no globals.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from mtuscope.errors import UsageError

__all__ = ["internet_checksum", "pseudo_header"]


def internet_checksum(data: bytes) -> int:
    """Compute the 16-bit one's complement of the one's complement sum (RFC 1071 §1).

    An odd trailing byte is padded with a zero byte on the right (RFC 1071 §4.1).
    Summing a header that already holds its correct checksum gives 0.

    Args:
        data: the bytes to sum.

    Returns:
        The checksum, 0..0xFFFF, to store big-endian.
    """
    if len(data) % 2:
        data = data + b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(
    src: IPv4Address | IPv6Address, dst: IPv4Address | IPv6Address, proto: int, length: int
) -> bytes:
    """Build the pseudo-header summed into TCP, UDP and ICMPv6 checksums.

    IPv4: RFC 9293 §3.1 (12 bytes: src, dst, zero, protocol, TCP/UDP length).
    IPv6: RFC 8200 §8.1 (40 bytes: src, dst, 32-bit upper-layer length, 3 zero
    bytes, next header).

    Args:
        src: source address.
        dst: destination address, same family as `src`.
        proto: upper-layer protocol number.
        length: upper-layer packet length in bytes (header plus payload).

    Returns:
        The pseudo-header bytes.

    Raises:
        UsageError: the two addresses are of different families.
    """
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        return src.packed + dst.packed + bytes((0, proto)) + (length & 0xFFFF).to_bytes(2, "big")
    if isinstance(src, IPv6Address) and isinstance(dst, IPv6Address):
        return src.packed + dst.packed + length.to_bytes(4, "big") + bytes((0, 0, 0, proto))
    raise UsageError("source and destination addresses must be of the same family")
