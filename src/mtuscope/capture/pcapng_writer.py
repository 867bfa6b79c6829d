"""A small pcapng writer: a capture written again with packet comments on chosen frames.

Layer: capture/. It reads a capture through a `Source` it is handed (source.py
opened the file) and writes pcapng blocks to a binary stream it is handed (jobs/
opened it); it opens nothing itself. One pass, front to back, a block at a
time: memory stays bounded by the largest block, never the capture.

What is kept, frame for frame (draft-ietf-opsawg-pcapng, section 4):

- pcapng input: every block byte for byte, in order (sections, interfaces,
  name resolution, statistics, custom blocks). An Enhanced Packet Block (4.3)
  or obsolete Packet Block (appendix A) that gets a comment keeps its header,
  data and options; one `opt_comment` (option 1, section 3.5) is added before
  `opt_endofopt`, so a comment already there stays next to ours. A Simple Packet
  Block (4.4) has no options: to carry a comment it becomes an EPB on interface
  0 with timestamp 0 (an SPB has none) and the same bytes.
- pcap input: one section (little endian) with one Interface Description Block
  for the file's link type (4.2: its snaplen, `if_tsresol` 6 or 9 as the magic
  says, `if_fcslen` when the link type field says the frames end in an FCS),
  and one EPB per record with its bytes, captured and original lengths and
  timestamp unchanged (a pcap fraction out of range, a microsecond count of a
  million or more, has no pcapng spelling: it becomes the same instant, carried
  into the seconds, as mtuscope's reader reads it too).

Frames are numbered as the reader (and Wireshark) numbers them: every packet
block, plus custom blocks and systemd journal entries. The copy stops, with
`AnnotateSummary.complete` false, where the input is damaged (an impossible
length, a truncated last record): what was written before is a valid file.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from mtuscope import __version__
from mtuscope.capture import formats
from mtuscope.capture.reader import MAX_MAX_CAPLEN, MIN_MAX_CAPLEN
from mtuscope.capture.records import FileFormat
from mtuscope.capture.source import Source
from mtuscope.errors import CaptureError

__all__ = [
    "AnnotateSummary",
    "add_comment",
    "annotate",
    "encode_epb",
    "encode_idb",
    "encode_option",
    "encode_shb",
]

BLOCK_EPB = 6
BLOCK_SPB = 3
BLOCK_PB = 2
FRAME_BLOCKS = frozenset({BLOCK_EPB, BLOCK_SPB, BLOCK_PB, 0xBAD, 0x40000BAD, 9})
"""pcapng blocks Wireshark numbers as frames: packets, custom blocks, journal entries."""

OPT_ENDOFOPT = 0
OPT_COMMENT = 1
OPT_SHB_USERAPPL = 4
OPT_IF_TSRESOL = 9
OPT_IF_FCSLEN = 13

_FLUSH_BYTES = 8 << 20
"""Bytes of blocks copied unchanged that are written (and released) at once."""
_MAX_PACKET_BLOCK = MAX_MAX_CAPLEN + 65536
"""Largest packet block copied, as the reader accepts (captured length plus slack)."""


def _pad4(n: int) -> int:
    return (n + 3) & ~3


def encode_option(code: int, value: bytes, big_endian: bool = False) -> bytes:
    """One pcapng option (section 3.5): code, length, value padded to 32 bits."""
    head = struct.pack(">HH" if big_endian else "<HH", code, len(value))
    return head + value + bytes(_pad4(len(value)) - len(value))


def _end_of_options(big_endian: bool) -> bytes:
    return encode_option(OPT_ENDOFOPT, b"", big_endian)


def _block(btype: int, body: bytes, big_endian: bool) -> bytes:
    """A whole block: type, total length, body (a multiple of 4 bytes), total length."""
    u = ">" if big_endian else "<"
    btl = 12 + len(body)
    return struct.pack(u + "II", btype, btl) + body + struct.pack(u + "I", btl)


def encode_shb(*, big_endian: bool = False, user_appl: str | None = None) -> bytes:
    """A section header block (4.1), version 1.0, section length unknown (-1)."""
    u = ">" if big_endian else "<"
    body = struct.pack(u + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    if user_appl is not None:
        body += encode_option(OPT_SHB_USERAPPL, user_appl.encode(), big_endian)
        body += _end_of_options(big_endian)
    return _block(formats.BLOCK_SHB, body, big_endian)


def encode_idb(
    *, linktype: int, snaplen: int, ts_exp: int = 6, fcs_len: int = 0, big_endian: bool = False
) -> bytes:
    """An interface description block (4.2).

    Args:
        linktype: LINKTYPE_* value.
        snaplen: bytes (0: no limit).
        ts_exp: timestamps count units of 10**-ts_exp seconds (6: µs, 9: ns).
        fcs_len: bytes of FCS at the end of each frame (0: none said).
        big_endian: byte order of the section.
    """
    u = ">" if big_endian else "<"
    body = struct.pack(u + "HHI", linktype, 0, snaplen & 0xFFFFFFFF)
    body += encode_option(OPT_IF_TSRESOL, bytes([ts_exp]), big_endian)
    if fcs_len:
        body += encode_option(OPT_IF_FCSLEN, bytes([fcs_len]), big_endian)
    body += _end_of_options(big_endian)
    return _block(formats.BLOCK_IDB, body, big_endian)


def encode_epb(
    *,
    interface: int,
    ts_hi: int,
    ts_lo: int,
    data: bytes | bytearray,
    wirelen: int,
    comment: str | None = None,
    big_endian: bool = False,
) -> bytes:
    """An enhanced packet block (4.3) holding `data` as captured.

    Args:
        interface: interface id within the section.
        ts_hi: upper 32 bits of the timestamp (in the interface's units).
        ts_lo: lower 32 bits.
        data: the captured bytes (the captured length is their length).
        wirelen: the original length on the wire.
        comment: an `opt_comment` to add, if any.
        big_endian: byte order of the section.
    """
    u = ">" if big_endian else "<"
    caplen = len(data)
    parts = [
        struct.pack(u + "IIIII", interface, ts_hi, ts_lo, caplen, wirelen),
        bytes(data),
        bytes(_pad4(caplen) - caplen),
    ]
    if comment is not None:
        parts.append(encode_option(OPT_COMMENT, comment.encode(), big_endian))
        parts.append(_end_of_options(big_endian))
    return _block(BLOCK_EPB, b"".join(parts), big_endian)


def add_comment(block: bytes, comment: str, big_endian: bool) -> bytes | None:
    """A packet block with one more `opt_comment`, everything else as it was.

    Args:
        block: a whole EPB, obsolete PB or SPB, from its type to its trailing length.
        comment: the comment text.
        big_endian: byte order of its section.

    Returns:
        The new block (an SPB comes back as an EPB on interface 0, timestamp 0), or
        None when its options are damaged (an option running past the block): such
        a block is left as it is rather than made unreadable.
    """
    u = ">" if big_endian else "<"
    btype, btl = struct.unpack_from(u + "II", block)
    if btype == BLOCK_SPB:
        wirelen = struct.unpack_from(u + "I", block, 8)[0]
        data = block[12 : 12 + min(btl - 16, wirelen)]
        return encode_epb(
            interface=0, ts_hi=0, ts_lo=0, data=data, wirelen=wirelen, comment=comment,
            big_endian=big_endian,
        )  # fmt: skip
    caplen = struct.unpack_from(u + "I", block, 20)[0]
    start = 28 + _pad4(caplen)
    region = block[start : btl - 4]
    kept = 0  # bytes of options before opt_endofopt (or the end of the block)
    while kept + 4 <= len(region):
        code, length = struct.unpack_from(u + "HH", region, kept)
        if code == OPT_ENDOFOPT:
            break
        if kept + 4 + length > len(region):
            return None
        kept += 4 + _pad4(length)
    if kept > len(region) or (kept < len(region) and len(region) - kept < 4):
        return None  # options that stop inside a 4-byte option header: damaged
    body = b"".join(
        (
            block[8:start],
            region[:kept],
            encode_option(OPT_COMMENT, comment.encode(), big_endian),
            _end_of_options(big_endian),
        )
    )
    return _block(btype, body, big_endian)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnotateSummary:
    """What `annotate` wrote."""

    frames: int
    """Frames written (numbered 1..frames, as in the input)."""
    commented: tuple[int, ...]
    """Frames that carry a comment of ours, ascending."""
    skipped: tuple[int, ...]
    """Frames that were to get one but could not (damaged options, a custom block, or
    beyond the point where the input is damaged), ascending."""
    complete: bool
    """The whole input was copied (False: it is damaged after frame `frames`)."""
    file_format: FileFormat
    """Format of the input."""


class _Copier:
    """Bytes of the input written through unchanged, in runs (pcapng)."""

    def __init__(self, src: Source, out: BinaryIO) -> None:
        self.src, self.out = src, out
        self.start = 0  # offset in src.buf of the first byte not yet written

    def flush(self, upto: int) -> None:
        if upto > self.start:
            self.out.write(bytes(self.src.buf[self.start : upto]))
        self.start = upto
        self.src.release(upto)

    def ensure(self, pos: int, need: int) -> tuple[int, bool]:
        """`Source.ensure`, after writing what a refill would drop."""
        if self.src.end - pos < need:
            self.flush(pos)
            pos, ok = self.src.ensure(pos, need)
            self.start = pos
            return pos, ok
        return pos, True


def annotate(src: Source, out: BinaryIO, comments: Mapping[int, str]) -> AnnotateSummary:
    """Write the capture in `src` to `out` as pcapng, with `comments` on their frames.

    Args:
        src: the input capture, opened by `open_source` (pcap or pcapng, gzip too),
            read from its start.
        out: where the pcapng goes.
        comments: frame number (1-based, as Wireshark numbers frames) -> comment.

    Returns:
        What was written.

    Raises:
        CaptureError: the input is not a pcap or pcapng file, or is damaged before
            its first frame.
    """
    _, ok = src.ensure(0, 4)
    fmt = formats.sniff_format(bytes(src.buf[0:4])) if ok else None
    if fmt is None:
        raise CaptureError("not a pcap or pcapng file", path=src.path, offset=0)
    if fmt is FileFormat.PCAP:
        frames, commented, complete = _pcap(src, out, comments)
    else:
        frames, commented, complete = _pcapng(src, out, comments)
    done = set(commented)
    return AnnotateSummary(
        frames=frames,
        commented=tuple(commented),
        skipped=tuple(sorted(f for f in comments if f not in done)),
        complete=complete and not src.error,
        file_format=fmt,
    )


def _pcap(src: Source, out: BinaryIO, comments: Mapping[int, str]) -> tuple[int, list[int], bool]:
    _, ok = src.ensure(0, formats.PCAP_HEADER_BYTES)
    hdr = formats.parse_pcap_header(bytes(src.buf[0 : min(src.end, 24)]))
    out.write(encode_shb(user_appl=f"mtuscope {__version__} (--annotate)"))
    out.write(
        encode_idb(
            linktype=int(hdr.linktype),
            snaplen=hdr.snaplen,
            ts_exp=9 if hdr.nanosecond else 6,
            fcs_len=hdr.fcs_len,
        )
    )
    rec = struct.Struct(">IIII" if hdr.big_endian else "<IIII")
    unit = 1_000_000_000 if hdr.nanosecond else 1_000_000
    max_caplen = min(max(hdr.snaplen, MIN_MAX_CAPLEN), MAX_MAX_CAPLEN)
    frame, pos, commented = 0, 24, []
    batch: list[bytes] = []
    batched = 0
    while True:
        pos, ok = src.ensure(pos, 16)
        if not ok:
            break
        ts_sec, ts_frac, caplen, wirelen = rec.unpack_from(src.buf, pos)
        if caplen > max_caplen:
            break
        pos, ok = src.ensure(pos, 16 + caplen)
        if not ok:
            break
        frame += 1
        units = ts_sec * unit + ts_frac
        comment = comments.get(frame)
        batch.append(
            encode_epb(
                interface=0,
                ts_hi=units >> 32,
                ts_lo=units & 0xFFFFFFFF,
                data=src.buf[pos + 16 : pos + 16 + caplen],
                wirelen=wirelen,
                comment=comment,
            )
        )
        if comment is not None:
            commented.append(frame)
        batched += 32 + caplen
        pos += 16 + caplen
        if batched >= _FLUSH_BYTES:
            out.write(b"".join(batch))
            batch, batched = [], 0
            src.release(pos)
    out.write(b"".join(batch))
    return frame, commented, src.end == pos and src.eof


def _pcapng(src: Source, out: BinaryIO, comments: Mapping[int, str]) -> tuple[int, list[int], bool]:
    copier = _Copier(src, out)
    frame, pos, commented = 0, 0, []
    big_endian = False
    while True:
        pos, ok = copier.ensure(pos, 12)
        if not ok:
            break
        head = bytes(src.buf[pos : pos + 12])
        btype = struct.unpack_from(">I" if big_endian else "<I", head)[0]
        if btype == formats.BLOCK_SHB:
            try:
                big_endian = formats.shb_byte_order(head)
            except CaptureError:
                break
        elif src.base + pos == 0:
            break  # not a section first: the reader refuses such a file
        u = ">" if big_endian else "<"
        btl = struct.unpack_from(u + "I", head, 4)[0]
        if btl < 12 or btl % 4 or btl > _MAX_PACKET_BLOCK:
            break
        pos, ok = copier.ensure(pos, btl)
        if not ok or struct.unpack_from(u + "I", src.buf, pos + btl - 4)[0] != btl:
            break
        if btype in FRAME_BLOCKS:
            if btype in (BLOCK_EPB, BLOCK_PB) and (
                btl < 32 or struct.unpack_from(u + "I", src.buf, pos + 20)[0] > btl - 32
            ):
                break  # the reader stops at such a block too (captured length past it)
            if btype == BLOCK_SPB and btl < 16:
                break
            frame += 1
            comment = comments.get(frame)
            if comment is not None and btype in (BLOCK_EPB, BLOCK_PB, BLOCK_SPB):
                new = add_comment(bytes(src.buf[pos : pos + btl]), comment, big_endian)
                if new is not None:
                    copier.flush(pos)
                    out.write(new)
                    copier.start = pos + btl
                    commented.append(frame)
        pos += btl
        if pos - copier.start >= _FLUSH_BYTES:
            copier.flush(pos)
    copier.flush(pos)
    return frame, commented, src.end == pos and src.eof
