"""Read a capture file into walked chunks: records + header blocks + timestamps.

Layer: capture/ (file-reading edge). Drives source.py (bytes), formats.py
(file structures) and walk.py (packet records) over a pcap or pcapng file in
bounded chunks. It decodes no IP/TCP field (decode.py does, from the chunks).

Errors: a file that cannot be read from the start (empty, wrong magic, a
corrupt first record, an absurd block length, an unsupported version) raises
`CaptureError`. Damage after good packets (a corrupt record, a truncated last
record) ends the reading with what was read and a line in
`CaptureInfo.warnings` naming the path, byte offset and frame number.
"""

from __future__ import annotations

import struct
import sys
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mtuscope.capture import formats
from mtuscope.capture.formats import Interface
from mtuscope.capture.records import (
    HEADER_BYTES,
    NO_LINKTYPE,
    RECORD_DTYPE,
    FileFormat,
    WalkStatus,
    WalkStop,
)
from mtuscope.capture.source import Source, open_source
from mtuscope.capture.walk import walk
from mtuscope.errors import CaptureError, UsageError
from mtuscope.wire.enums import LinkType

__all__ = ["CaptureInfo", "WalkedChunk", "WalkedChunks", "iter_chunks"]

MIN_MAX_CAPLEN = 262144
"""Captured lengths up to this are accepted whatever the snaplen says (as libpcap does)."""
MAX_MAX_CAPLEN = 16 << 20
"""A captured length above this is corrupt whatever the snaplen says."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WalkedChunk:
    """Consecutive frames as the walker left them (arrays owned by this chunk)."""

    records: npt.NDArray[np.void]
    """RECORD_DTYPE rows, one per frame."""
    block: npt.NDArray[np.uint8]
    """(len(records), HEADER_BYTES): the first bytes of each frame's innermost IP header."""
    ts_ns: npt.NDArray[np.int64]
    """Capture time of each frame, ns since the epoch."""
    first_frame: int
    """1-based frame number of row 0 (Wireshark numbering)."""

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureInfo:
    """What the reader learnt about a capture file."""

    path: str
    file_format: FileFormat | None
    """None until the magic was read."""
    big_endian: bool
    """Byte order of the file (pcapng: of its first section)."""
    nanosecond: bool
    """pcap: nanosecond magic (pcapng: per interface, see `interfaces`)."""
    interfaces: tuple[Interface, ...]
    """By global interface index (pcap: one)."""
    sections: int
    """pcapng sections (pcap: 1)."""
    packets: int
    """Packet records read (frames numbered 1..packets)."""
    bytes_read: int
    """Bytes of the (decompressed) file consumed."""
    compressed: bool
    warnings: tuple[str, ...]
    """One line each: damage after good packets, with path, offset and frame; link
    types not decoded, with their frame counts."""
    undecoded: dict[int, int]
    """Frames whose link type mtuscope does not decode, by LINKTYPE_* value."""

    @property
    def linktypes(self) -> tuple[LinkType, ...]:
        """LINKTYPE_* by global interface index."""
        return tuple(i.linktype for i in self.interfaces)


class WalkedChunks:
    """An iterable over the `WalkedChunk`s of one capture; `info` fills in as it goes."""

    def __init__(self, path: str, *, chunk_bytes: int, capacity: int) -> None:
        self.path = path
        self._chunk_bytes = chunk_bytes
        self._capacity = capacity
        self._fmt: FileFormat | None = None
        self._be = False
        self._first_be = False
        self._ns = False
        self._ifaces: list[Interface] = []
        self._sections = 0
        self._frames = 0
        self._bytes = 0
        self._compressed = False
        self._warnings: list[str] = []
        self._undecoded: Counter[int] = Counter()
        self._spare: tuple[npt.NDArray[np.void], npt.NDArray[np.uint8]] | None = None
        self._pending: tuple[npt.NDArray[np.void], npt.NDArray[np.uint8]] | None = None
        self._k = 0

    @property
    def info(self) -> CaptureInfo:
        """What is known so far (complete once the iteration has ended)."""
        return CaptureInfo(
            path=self.path,
            file_format=self._fmt,
            big_endian=self._first_be if self._fmt is FileFormat.PCAPNG else self._be,
            nanosecond=self._ns,
            interfaces=tuple(self._ifaces),
            sections=self._sections,
            packets=self._frames,
            bytes_read=self._bytes,
            compressed=self._compressed,
            warnings=tuple(self._warnings) + self._undecoded_warnings(),
            undecoded=dict(self._undecoded),
        )

    def _undecoded_warnings(self) -> tuple[str, ...]:
        # Unknown link types are counted and reported, never fatal: the frames keep
        # their numbers and the rest of the capture is analysed.
        return tuple(
            f"{self.path}: {n} frame{'s' if n != 1 else ''} of link type {lt} not decoded "
            "(mtuscope does not know that link layer)"
            for lt, n in sorted(self._undecoded.items())
        )

    def __iter__(self) -> Iterator[WalkedChunk]:
        self._fmt, self._be, self._ns = None, False, False
        self._ifaces, self._sections, self._frames, self._bytes = [], 0, 0, 0
        self._warnings = []
        self._undecoded = Counter()
        self._pending, self._k = None, 0
        src = open_source(self.path, chunk_bytes=self._chunk_bytes)
        self._compressed = src.compressed
        try:
            _, ok = src.ensure(0, 4)
            if src.end == 0:
                if src.interrupted:
                    raise KeyboardInterrupt  # nothing arrived before Ctrl-C
                raise CaptureError("empty file", path=self.path, offset=0)
            head = bytes(src.buf[0:4])
            fmt = formats.sniff_format(head) if ok else None
            if fmt is None:
                raise CaptureError(
                    f"not a pcap or pcapng file (starts with {head.hex(' ')})",
                    path=self.path,
                    offset=0,
                )
            self._fmt = fmt
            if fmt is FileFormat.PCAP:
                yield from self._read_pcap(src)
            else:
                yield from self._read_pcapng(src)
            if src.error:
                self._warn(src.base + src.end, src.error)
            last = self._flush()
            if last is not None:
                yield last
            if src.interrupted:
                # The bytes read before the interrupt are walked: now let it through.
                raise KeyboardInterrupt
        finally:
            self._pending = None
            src.close()

    # ---- helpers ----

    def _fail(self, offset: int, message: str) -> None:
        """Raise before any frame; warn (and let the caller stop) after some."""
        if self._frames == 0:
            raise CaptureError(message, path=self.path, offset=offset, frame=None)
        self._warn(offset, message)

    def _warn(self, offset: int, message: str) -> None:
        self._warnings.append(
            f"{self.path}: offset {offset}, frame {self._frames + 1}: {message}; "
            f"stopped after {self._frames} frames"
        )

    def _arrays(self) -> tuple[npt.NDArray[np.void], npt.NDArray[np.uint8]]:
        """Record and block arrays to walk into.

        The previous pair is reused only when nothing outside the reader refers to
        it any more (the consumer dropped the chunk and every view of it), so a
        chunk stays valid for as long as anyone holds it; reuse saves the page
        faults of fresh memory on every chunk.
        """
        spare = self._spare
        if spare is not None:
            # references: the tuple in self._spare, the getrefcount argument
            if sys.getrefcount(spare[0]) <= 2 and sys.getrefcount(spare[1]) <= 2:
                return spare
        pair = (
            np.empty(self._capacity, dtype=RECORD_DTYPE),
            np.empty((self._capacity, HEADER_BYTES), dtype=np.uint8),
        )
        self._spare = pair
        return pair

    def _flush(self) -> WalkedChunk | None:
        """The rows walked since the last chunk, as a chunk (None if there are none)."""
        pending, k = self._pending, self._k
        self._pending, self._k = None, 0
        if pending is None or k == 0:
            return None
        rec = pending[0][:k]
        if self._fmt is FileFormat.PCAP:
            ts = formats.ts_ns_pcap(rec["ts_hi"], rec["ts_lo"], self._ns)
        else:
            ts = formats.ts_ns_pcapng(rec["ts_hi"], rec["ts_lo"], rec["iface"], self._ifaces)
        return WalkedChunk(
            records=rec, block=pending[1][:k], ts_ns=ts, first_frame=self._frames - k + 1
        )

    def _walk(
        self,
        src: Source,
        pos: int,
        fmt: FileFormat,
        linktypes: int | npt.NDArray[np.uint16],
        iface_base: int,
        max_caplen: int,
    ) -> Generator[WalkedChunk, None, tuple[int, WalkStop]]:
        """Run the walker until BLOCK, CORRUPT or the end of the input.

        Rows accumulate across refills and pcapng blocks; a chunk is yielded each
        time the arrays are full (`_flush` yields the rest at the end).

        Returns:
            (position in `src.buf` where the walk stopped, why: END when the input
            is exhausted, BLOCK or CORRUPT).
        """
        while True:
            if self._pending is None:
                self._pending, self._k = self._arrays(), 0
            k = self._k
            n, pos, stop_i = walk(src.buf, pos, src.end, src.base, int(fmt), self._be, linktypes,
                                  iface_base, max_caplen, self._pending[0][k:],
                                  self._pending[1][k:])  # fmt: skip
            new = self._pending[0][k : k + n]
            # (NO_LINKTYPE marks pcapng records that carry no packet, such as
            # custom blocks, which Wireshark numbers as frames too: not a link type)
            unknown = (new["status"] == WalkStatus.UNKNOWN_LINKTYPE) & (
                new["linktype"] != NO_LINKTYPE
            )
            if unknown.any():
                self._undecoded.update(new["linktype"][unknown].tolist())
            self._k += n
            self._frames += n
            self._bytes = src.base + pos
            stop = WalkStop(stop_i)
            if stop is WalkStop.FULL:
                chunk = self._flush()
                assert chunk is not None
                yield chunk
                del chunk  # let _arrays() see whether the consumer still holds it
                src.release(pos)  # the walked bytes are copied out: bound resident memory
                continue
            if stop is WalkStop.END:
                moved = src.refill(pos)
                if moved is not None:
                    pos = moved
                    continue
            return pos, stop

    def _truncated(self, src: Source, pos: int, what: str) -> None:
        left = src.end - pos
        if left:
            self._fail(src.base + pos, f"file ends inside {what} ({left} bytes of it present)")

    # ---- pcap ----

    def _read_pcap(self, src: Source) -> Iterator[WalkedChunk]:
        _, ok = src.ensure(0, formats.PCAP_HEADER_BYTES)
        try:
            hdr = formats.parse_pcap_header(bytes(src.buf[0 : min(src.end, 24)]))
        except CaptureError as exc:
            raise CaptureError(exc.args[0], path=self.path, offset=exc.offset) from None
        self._be, self._ns = hdr.big_endian, hdr.nanosecond
        self._sections = 1
        self._ifaces = [
            Interface(
                linktype=hdr.linktype,
                snaplen=hdr.snaplen,
                ts_exp=9 if hdr.nanosecond else 6,
                fcs_len=hdr.fcs_len,
            )
        ]
        max_caplen = min(max(hdr.snaplen, MIN_MAX_CAPLEN), MAX_MAX_CAPLEN)
        pos, stop = yield from self._walk(src, 24, FileFormat.PCAP, hdr.linktype, 0, max_caplen)
        if stop is WalkStop.CORRUPT:
            caplen = struct.unpack_from(">I" if hdr.big_endian else "<I", src.buf, pos + 8)[0]
            self._fail(
                src.base + pos,
                f"corrupt record: captured length {caplen} exceeds the maximum {max_caplen}",
            )
        else:
            self._truncated(src, pos, "a packet record")

    # ---- pcapng ----

    def _read_pcapng(self, src: Source) -> Iterator[WalkedChunk]:
        pos = 0
        lts = np.zeros(0, dtype=np.uint16)
        iface_base = 0
        max_caplen = MIN_MAX_CAPLEN
        while True:
            # a non-packet block (or the first SHB) starts at pos
            pos, ok = src.ensure(pos, 12)
            if not ok:
                self._truncated(src, pos, "a block header")
                self._bytes = src.base + pos
                return
            off = src.base + pos
            head = bytes(src.buf[pos : pos + 12])
            btype = struct.unpack_from(">I" if self._be else "<I", head)[0]
            try:
                if btype == formats.BLOCK_SHB:
                    be = formats.shb_byte_order(head)
                else:
                    be = self._be
                btl = struct.unpack_from(">I" if be else "<I", head, 4)[0]
                minimum = {formats.BLOCK_SHB: 28, formats.BLOCK_IDB: 20}.get(btype, 12)
                if not formats.block_len_ok(btl, minimum):
                    raise CaptureError(
                        f"pcapng block of type 0x{btype:x} has an absurd length {btl}"
                    )
                pos, ok = src.ensure(pos, btl)
                if not ok:
                    self._truncated(src, pos, f"a pcapng block of type 0x{btype:x}")
                    self._bytes = src.base + pos
                    return
                blk = bytes(src.buf[pos : pos + btl])
                if btype == formats.BLOCK_SHB:
                    formats.parse_shb(blk)
                    if self._sections == 0:
                        self._first_be = be
                    self._be = be
                    self._sections += 1
                    iface_base = len(self._ifaces)
                    lts = np.zeros(0, dtype=np.uint16)
                elif self._sections == 0:
                    raise CaptureError("pcapng file does not start with a section header block")
                elif btype == formats.BLOCK_IDB:
                    itf = formats.parse_idb(blk, be)
                    self._ifaces.append(itf)
                    lts = np.append(lts, np.uint16(itf.linktype))
                    max_caplen = min(max(max_caplen, itf.snaplen), MAX_MAX_CAPLEN)
                    if iface_base + len(lts) > 0xFFFF:
                        raise CaptureError("more than 65535 pcapng interfaces")
                else:
                    formats.parse_other(blk, be)
            except CaptureError as exc:
                self._fail(off, exc.args[0])
                return
            pos += btl
            self._bytes = src.base + pos
            pos, stop = yield from self._walk(
                src, pos, FileFormat.PCAPNG, lts, iface_base, max_caplen
            )
            if stop is WalkStop.CORRUPT:
                self._fail(src.base + pos, self._describe_corrupt(src, pos, max_caplen))
                return
            if stop is WalkStop.END:
                self._truncated(src, pos, "a pcapng block")
                return
            # stop is BLOCK: loop to handle it

    def _describe_corrupt(self, src: Source, pos: int, max_caplen: int) -> str:
        u = ">" if self._be else "<"
        btype, btl = struct.unpack_from(u + "II", src.buf, pos)
        if btl < 12 or btl % 4 or btl > max_caplen + 65536:
            return f"corrupt pcapng block: type {btype}, absurd length {btl}"
        trailer = struct.unpack_from(u + "I", src.buf, pos + btl - 4)[0]
        if trailer != btl:
            return f"corrupt pcapng block: length {btl} but trailing length {trailer}"
        return f"corrupt pcapng packet block of length {btl}: captured length past the block"


def iter_chunks(
    path: str, *, chunk_bytes: int = 64 << 20, capacity: int | None = None
) -> WalkedChunks:
    """The frames of a capture file, walked, in bounded chunks.

    Args:
        path: a pcap or pcapng file, gzip-compressed or not, or '-' for standard input.
        chunk_bytes: buffer size when the input is streamed (gzip, pipes).
        capacity: frames per chunk (default ``max(1024, chunk_bytes // 512)``).

    Every chunk holds `capacity` frames except the last. A chunk's arrays are its
    own for as long as anyone refers to them; the reader reuses them for a later
    chunk only once the consumer has dropped the chunk and every view of it.
    Frames are numbered as Wireshark does: every packet record, plus pcapng
    custom blocks and systemd journal entries (rows with linktype `NO_LINKTYPE`).

    Returns:
        An iterable of `WalkedChunk`s; its `info` is complete after the iteration.
        Iterating raises `CaptureError` when the file cannot be read from its start
        (empty, wrong magic, corrupt first record, absurd block length,
        unsupported version) or cannot be opened.

    Raises:
        UsageError: `capacity` below 1.
    """
    cap = capacity if capacity is not None else max(1024, chunk_bytes // 512)
    if cap < 1:
        raise UsageError(f"capacity must be at least 1 frame, not {cap}")
    return WalkedChunks(path, chunk_bytes=chunk_bytes, capacity=cap)
