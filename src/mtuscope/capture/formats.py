"""pcap and pcapng file structures: headers, SHB/IDB blocks, options, timestamps.

Layer: capture/. Pure functions over bytes and numpy arrays; they open no file
(source.py does) and walk no packet (walk.py does). Errors are `CaptureError`s
without a path; reader.py adds the path.

References: pcap, draft-ietf-opsawg-pcap (file header, link type FCS bits);
pcapng, draft-ietf-opsawg-pcapng (section 4.1 SHB, 4.2 IDB, 3.5 options,
if_tsresol / if_tsoffset).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mtuscope.capture.records import FileFormat
from mtuscope.errors import CaptureError
from mtuscope.wire.enums import LinkType

__all__ = [
    "BLOCK_IDB",
    "BLOCK_SHB",
    "MAX_BLOCK",
    "PCAP_HEADER_BYTES",
    "Interface",
    "PcapHeader",
    "SectionHeader",
    "block_len_ok",
    "iter_options",
    "parse_idb",
    "parse_other",
    "parse_pcap_header",
    "parse_shb",
    "shb_byte_order",
    "sniff_format",
    "ts_ns_pcap",
    "ts_ns_pcapng",
]

PCAP_HEADER_BYTES = 24
BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 1
MAX_BLOCK = 16 << 20
"""Largest non-packet pcapng block accepted (Wireshark refuses larger ones too)."""

# pcap magic -> (big endian, nanosecond timestamps)
_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": (False, False),
    b"\xa1\xb2\xc3\xd4": (True, False),
    b"\x4d\x3c\xb2\xa1": (False, True),
    b"\xa1\xb2\x3c\x4d": (True, True),
}
_SHB_MAGIC = b"\x0a\x0d\x0d\x0a"
_BOM_BE = b"\x1a\x2b\x3c\x4d"
_BOM_LE = b"\x4d\x3c\x2b\x1a"

_OPT_TSRESOL = 9
_OPT_FCSLEN = 13
_OPT_TSOFFSET = 14


def sniff_format(head: bytes) -> FileFormat | None:
    """The file format of a capture from its first four bytes.

    Args:
        head: at least the first four bytes of the file.

    Returns:
        `FileFormat.PCAP`, `FileFormat.PCAPNG`, or None when neither magic matches.
    """
    if head[:4] in _PCAP_MAGICS:
        return FileFormat.PCAP
    if head[:4] == _SHB_MAGIC:
        return FileFormat.PCAPNG
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class PcapHeader:
    """The 24-byte pcap file header."""

    big_endian: bool
    nanosecond: bool
    """Timestamps in ns (magic a1b23c4d) rather than µs."""
    version: tuple[int, int]
    snaplen: int
    """Bytes; the largest captured length the capturing program promised."""
    linktype: LinkType
    """The lower 16 bits of the link type field."""
    fcs_len: int
    """Bytes of FCS at the end of every frame when the F bit is set, else 0."""


def parse_pcap_header(head: bytes) -> PcapHeader:
    """Decode the pcap file header.

    Args:
        head: the first 24 bytes of the file.

    Returns:
        The decoded header.

    Raises:
        CaptureError: short header, unknown magic, a version other than 2.x, or
            non-zero reserved bits in the link type field.
    """
    if len(head) < PCAP_HEADER_BYTES:
        raise CaptureError("file ends inside the 24-byte pcap file header", offset=len(head))
    magic = head[:4]
    if magic not in _PCAP_MAGICS:
        raise CaptureError(f"not a pcap file (magic {magic.hex()})", offset=0)
    be, ns = _PCAP_MAGICS[magic]
    major, minor, _zone, _sigfigs, snaplen, ltfield = struct.unpack_from(
        ">HHiIII" if be else "<HHiIII", head, 4
    )
    if major != 2:
        raise CaptureError(f"unsupported pcap version {major}.{minor}", offset=4)
    if ltfield & 0x03FF0000:
        raise CaptureError(f"pcap link type field 0x{ltfield:08x} has reserved bits set", offset=20)
    fcs_len = ((ltfield >> 28) & 0xF) * 2 if ltfield & 0x04000000 else 0
    return PcapHeader(
        big_endian=be,
        nanosecond=ns,
        version=(major, minor),
        snaplen=snaplen,
        linktype=LinkType(ltfield & 0xFFFF),
        fcs_len=fcs_len,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SectionHeader:
    """A pcapng section header block."""

    big_endian: bool
    version: tuple[int, int]
    block_len: int
    """Total length of the SHB in bytes."""


def shb_byte_order(head: bytes) -> bool:
    """Byte order of a section from the first 12 bytes of its SHB.

    Args:
        head: block type, block total length and byte-order magic.

    Returns:
        True for big endian.

    Raises:
        CaptureError: the byte-order magic is neither 1a2b3c4d nor 4d3c2b1a.
    """
    bom = head[8:12]
    if bom == _BOM_BE:
        return True
    if bom == _BOM_LE:
        return False
    raise CaptureError(f"pcapng section header has a bad byte-order magic {bom.hex()}")


def block_len_ok(btl: int, minimum: int) -> bool:
    """Whether a pcapng block total length is possible for a non-packet block."""
    return minimum <= btl <= MAX_BLOCK and btl % 4 == 0


def parse_shb(block: bytes) -> SectionHeader:
    """Decode and check a whole section header block.

    Args:
        block: the complete block, from its type to its trailing length.

    Returns:
        The section header.

    Raises:
        CaptureError: bad byte-order magic, impossible length, unsupported
            version (libpcap accepts 1.0 and 1.2), or options that overrun.
    """
    be = shb_byte_order(block)
    u = ">" if be else "<"
    btl = struct.unpack_from(u + "I", block, 4)[0]
    if not block_len_ok(btl, 28) or len(block) < btl:
        raise CaptureError(f"pcapng section header block has an impossible length {btl}")
    major, minor = struct.unpack_from(u + "HH", block, 12)
    if major != 1 or minor not in (0, 2):
        raise CaptureError(f"unsupported pcapng version {major}.{minor}")
    _check_trailer(block, btl, be)
    for _ in iter_options(block[24 : btl - 4], be):
        pass
    return SectionHeader(big_endian=be, version=(major, minor), block_len=btl)


def parse_other(block: bytes, big_endian: bool) -> None:
    """Check a whole block that is skipped (NRB, ISB, DSB, custom, unknown ones).

    Args:
        block: the complete block.
        big_endian: byte order of the section.

    Raises:
        CaptureError: impossible length or trailing length mismatch.
    """
    btl = struct.unpack_from(">I" if big_endian else "<I", block, 4)[0]
    if not block_len_ok(btl, 12) or len(block) < btl:
        raise CaptureError(f"pcapng block has an impossible length {btl}")
    _check_trailer(block, btl, big_endian)


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    """A pcapng interface description (pcap: the one implicit interface)."""

    linktype: LinkType
    """The link type of the interface's frames."""
    snaplen: int
    """Bytes; 0 means no limit."""
    ts_base: int = 10
    """if_tsresol base: 10 or 2."""
    ts_exp: int = 6
    """if_tsresol exponent: a timestamp unit is ts_base ** -ts_exp seconds."""
    ts_offset: int = 0
    """if_tsoffset: seconds added to every timestamp."""
    fcs_len: int = 0
    """if_fcslen: bytes of FCS at the end of each frame (0 unknown or none)."""


def parse_idb(block: bytes, big_endian: bool) -> Interface:
    """Decode a whole interface description block.

    Args:
        block: the complete block, from its type to its trailing length.
        big_endian: byte order of the section.

    Returns:
        The interface.

    Raises:
        CaptureError: impossible length or options that overrun the block.
    """
    u = ">" if big_endian else "<"
    btl = struct.unpack_from(u + "I", block, 4)[0]
    if not block_len_ok(btl, 20) or len(block) < btl:
        raise CaptureError(f"pcapng interface description block has an impossible length {btl}")
    _check_trailer(block, btl, big_endian)
    linktype, _res, snaplen = struct.unpack_from(u + "HHI", block, 8)
    base, exp, offset, fcs = 10, 6, 0, 0
    for code, value in iter_options(block[16 : btl - 4], big_endian):
        if code == _OPT_TSRESOL and len(value) >= 1:
            base, exp = (2, value[0] & 0x7F) if value[0] & 0x80 else (10, value[0])
        elif code == _OPT_TSOFFSET and len(value) >= 8:
            offset = struct.unpack_from(u + "q", value)[0]
        elif code == _OPT_FCSLEN and len(value) >= 1:
            fcs = value[0]
    return Interface(
        linktype=LinkType(linktype),
        snaplen=snaplen,
        ts_base=base,
        ts_exp=exp,
        ts_offset=offset,
        fcs_len=fcs,
    )


def iter_options(body: bytes, big_endian: bool) -> Iterator[tuple[int, bytes]]:
    """The (code, value) options of a block body, up to opt_endofopt or the end.

    Args:
        body: the option bytes of a block (after its fixed fields, before the trailer).
        big_endian: byte order of the section.

    Yields:
        (option code, value bytes without padding).

    Raises:
        CaptureError: an option runs past the end of the block.
    """
    fmt = ">HH" if big_endian else "<HH"
    i = 0
    while i + 4 <= len(body):
        code, length = struct.unpack_from(fmt, body, i)
        if code == 0:
            return
        if i + 4 + length > len(body):
            raise CaptureError(f"pcapng option {code} ({length} bytes) runs past its block")
        yield code, body[i + 4 : i + 4 + length]
        i += 4 + ((length + 3) & ~3)


def _check_trailer(block: bytes, btl: int, big_endian: bool) -> None:
    trailer = struct.unpack_from(">I" if big_endian else "<I", block, btl - 4)[0]
    if trailer != btl:
        raise CaptureError(f"pcapng block length {btl} does not match its trailing copy {trailer}")


def ts_ns_pcap(
    ts_hi: npt.NDArray[np.uint32], ts_lo: npt.NDArray[np.uint32], nanosecond: bool
) -> npt.NDArray[np.int64]:
    """Capture times of pcap records in ns since the epoch.

    Args:
        ts_hi: seconds.
        ts_lo: microseconds, or nanoseconds when `nanosecond`.
        nanosecond: the file has the nanosecond magic.

    Returns:
        int64 ns.
    """
    sub = ts_lo.astype(np.int64)
    return ts_hi.astype(np.int64) * 1_000_000_000 + (sub if nanosecond else sub * 1000)


def ts_ns_pcapng(
    ts_hi: npt.NDArray[np.uint32],
    ts_lo: npt.NDArray[np.uint32],
    iface: npt.NDArray[np.uint16],
    interfaces: Sequence[Interface],
) -> npt.NDArray[np.int64]:
    """Capture times of pcapng packets in ns since the epoch, by each interface's resolution.

    Args:
        ts_hi: upper 32 bits of the timestamps.
        ts_lo: lower 32 bits.
        iface: global interface index of each row.
        interfaces: all interfaces of the file, by global index. Rows with an
            index beyond it use the default resolution (µs).

    Returns:
        int64 ns (simple packet blocks, which carry no timestamp, give 0 + offset).
    """
    raw = (ts_hi.astype(np.uint64) << np.uint64(32)) | ts_lo.astype(np.uint64)
    out = np.empty(len(raw), dtype=np.int64)
    default = Interface(linktype=LinkType.NULL, snaplen=0)
    for idx in np.unique(iface).tolist():
        sel = iface == idx
        itf = interfaces[idx] if idx < len(interfaces) else default
        out[sel] = _units_to_ns(raw[sel], itf.ts_base, itf.ts_exp) + itf.ts_offset * 1_000_000_000
    return out


def _units_to_ns(raw: npt.NDArray[np.uint64], base: int, exp: int) -> npt.NDArray[np.int64]:
    if base == 10:
        if exp <= 9:
            return raw.astype(np.int64) * np.int64(10 ** (9 - exp))
        return (raw // np.uint64(10 ** (exp - 9))).astype(np.int64)
    if exp <= 33:  # (raw mod 2**exp) * 1e9 stays below 2**63
        whole = (raw >> np.uint64(exp)).astype(np.int64) * np.int64(1_000_000_000)
        frac = (raw & np.uint64((1 << exp) - 1)) * np.uint64(1_000_000_000)
        return whole + (frac >> np.uint64(exp)).astype(np.int64)
    return (raw.astype(np.float64) * (1e9 / 2.0**exp)).astype(np.int64)
