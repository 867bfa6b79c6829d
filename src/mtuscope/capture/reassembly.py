"""IP fragment reassembly, as far as the transport header and its options.

Layer: capture/. Pure numpy and Python over one chunk's walked rows; no I/O.

The walker walks a first fragment like a whole packet and stops a later one at
its IP header, copying (like every row) the first `HEADER_BYTES` bytes from the IP
header on into the block. Those bytes hold the start of each fragment's data,
which is all a TCP header split across tiny fragments needs (the first fragment
carrying 8 bytes of TCP, a known evasion that hides the SYN from an analysis of
single packets). `reassemble` puts the data of a TCP datagram's fragments back
together, up to `HEADER_BYTES` bytes from its IP header, and gives the decoder one
synthetic row per complete datagram: the first fragment's IP header and the
reassembled transport bytes. Its TCP fields land on the row of the fragment that
completed the datagram (where Wireshark shows the reassembled packet).

Rules:

- A datagram is (family, source, destination, identification, protocol), TCP only.
  It is complete when its fragments cover every byte from 0 to the end of the last
  one (MF clear); then it is decoded and forgotten (a later fragment with the same
  identification starts a new datagram).
- Exact duplicates (same offset, length and captured bytes) are dropped, as
  RFC 8200 §4.5 allows. Any other overlap: IPv6 drops the whole datagram
  (RFC 5722, RFC 8200 §4.5) with its later fragments in the chunk; IPv4
  reassembles with the later fragment's bytes (RFC 791's procedure copies each
  fragment's data in as it arrives) and reports it. Both are decode issues.
- Bounds: at most `MAX_HELD` datagrams in progress (the oldest is given up beyond),
  at most `MAX_PIECES` fragments each (the datagram is given up beyond), and
  `HEADER_BYTES` bytes kept per datagram, so memory stays under
  ``MAX_HELD * (HEADER_BYTES + MAX_PIECES * 32)`` bytes. A datagram given up for a
  bound is a decode issue.
- Reassembly is per chunk (`AnalyzeOptions.chunk_bytes`, 32 MB by default): a TCP
  datagram whose first fragment does not hold the whole TCP header and which is not
  completed within its chunk (fragments lost, or past the chunk's end) is a decode
  issue, never dropped in silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mtuscope.capture.records import HEADER_BYTES, NO_OFFSET
from mtuscope.wire.ipv6 import IPV6_FRAGMENT_LAYOUT
from mtuscope.wire.tcp import TCP_LAYOUT, TCP_MIN_HEADER

__all__ = ["MAX_HELD", "MAX_PIECES", "Reassembled", "reassemble"]

MAX_HELD = 4096
"""Datagrams in progress at once, per chunk."""
MAX_PIECES = 256
"""Fragments per datagram."""

_TCP = 6
_FRAG_HDR = IPV6_FRAGMENT_LAYOUT.size
_TCP_OFFSET = TCP_LAYOUT.offset("offset_flags")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reassembled:
    """What `reassemble` made of one chunk's fragments."""

    rows: npt.NDArray[np.int64]
    """Row (of the chunk) of the fragment that completed each datagram."""
    block: npt.NDArray[np.uint8]
    """(len(rows), HEADER_BYTES): the first fragment's IP header, then the
    reassembled transport bytes (zeros past `hdr_len`)."""
    l4_off: npt.NDArray[np.int64]
    """Where the transport header starts in each block row."""
    hdr_len: npt.NDArray[np.int64]
    """Bytes of each block row that are known."""
    ip_len: npt.NDArray[np.int64]
    """The reassembled datagram's IP length (header + all of its data)."""
    issues: dict[int, str] = field(default_factory=dict)
    """Row -> what went wrong (overlaps, bounds, TCP headers never completed)."""


@dataclass(slots=True)
class _Datagram:
    rows: list[int] = field(default_factory=list)
    pieces: list[tuple[int, int, bytes]] = field(default_factory=list)
    """(offset in the data, length in the data, captured bytes of it)."""
    first: int = -1
    """Row of the fragment at offset 0."""
    total: int = -1
    """Data length, once the last fragment (MF clear) is seen."""
    overlap: bool = False
    dropped: bool = False


def _empty(issues: dict[int, str]) -> Reassembled:
    return Reassembled(
        rows=np.zeros(0, np.int64),
        block=np.zeros((0, HEADER_BYTES), np.uint8),
        l4_off=np.zeros(0, np.int64),
        hdr_len=np.zeros(0, np.int64),
        ip_len=np.zeros(0, np.int64),
        issues=issues,
    )


def reassemble(
    c: dict[str, npt.NDArray[Any]],
    block: npt.NDArray[np.uint8],
    records: npt.NDArray[np.void],
) -> Reassembled:
    """Reassemble the TCP datagrams of a chunk whose fragments it holds (see the module).

    Args:
        c: the chunk's columns, IP fields decoded (`family`, addresses, `ip_id`,
            `frag_off`, `mf`, `fragment`, `ip_len`, `ip_hlen`, `proto`).
        block: the chunk's block rows.
        records: the chunk's walker records (`hdr_len`, `l4_off`, `v6frag_off`).

    Returns:
        The synthetic rows of complete datagrams and the issues met.
    """
    frag_rows = np.flatnonzero(c["fragment"] & (c["family"] > 0) & (c["proto"] == _TCP))
    issues: dict[int, str] = {}
    if not len(frag_rows):
        return _empty(issues)
    held: dict[tuple[int, ...], _Datagram] = {}
    done: list[tuple[int, _Datagram]] = []
    hdr_len = records["hdr_len"]
    v6f = records["v6frag_off"]
    for i in frag_rows.tolist():
        fam = int(c["family"][i])
        key = (fam, int(c["src_hi"][i]), int(c["src_lo"][i]), int(c["dst_hi"][i]),
               int(c["dst_lo"][i]), int(c["ip_id"][i]))  # fmt: skip
        if fam == 4:
            start = int(c["ip_hlen"][i])
        elif int(v6f[i]) != NO_OFFSET:
            start = int(v6f[i]) + _FRAG_HDR
        else:  # an IPv6 row flagged as a fragment without a fragment header: cannot be
            continue
        length = int(c["ip_len"][i]) - start
        if length < 0:
            issues[i] = "IP fragment shorter than its own headers"
            continue
        off = int(c["frag_off"][i])
        got = block[i, start : max(start, int(hdr_len[i]))].tobytes()[:length]
        d = held.get(key)
        if d is None:
            if len(held) >= MAX_HELD:
                old_key = next(iter(held))
                old = held.pop(old_key)
                issues.setdefault(old.rows[-1], f"fragment reassembly: over {MAX_HELD} "
                                  "datagrams in progress, the oldest given up")  # fmt: skip
            d = held[key] = _Datagram()
        d.rows.append(i)
        if d.dropped:
            issues.setdefault(i, "fragment of an IPv6 datagram dropped for overlapping fragments")
            _complete_or_keep(d, key, held, done, off, length, c, i)
            continue
        if any(p == (off, length, got) for p in d.pieces):
            continue  # an exact duplicate (RFC 8200 §4.5)
        if len(d.pieces) >= MAX_PIECES:
            held.pop(key)
            issues[i] = f"fragment reassembly: over {MAX_PIECES} fragments, datagram given up"
            continue
        if any(off < p_off + p_len and p_off < off + length for p_off, p_len, _ in d.pieces):
            if fam == 6:
                # RFC 5722: the whole datagram is silently discarded, and later fragments
                d.dropped = True
                issues[i] = "overlapping IPv6 fragments: datagram dropped (RFC 5722)"
                d.pieces.append((off, length, got))
                _complete_or_keep(d, key, held, done, off, length, c, i)
                continue
            d.overlap = True
            issues[i] = ("overlapping IPv4 fragments: reassembled with the later fragment's "
                         "bytes (RFC 791)")  # fmt: skip
        d.pieces.append((off, length, got))
        if off == 0:
            d.first = i
        _complete_or_keep(d, key, held, done, off, length, c, i)
    for d in held.values():  # never completed in this chunk
        if d.first >= 0 and not d.dropped and not _header_in_first(d, c, block, records):
            issues.setdefault(d.first, "TCP header split across IP fragments that were not all "
                              "captured in this chunk: not reassembled")  # fmt: skip
    # the first fragment's own headers must be there, with room for some transport bytes
    ok = [
        (row, d)
        for row, d in done
        if not d.dropped
        and d.first >= 0
        and int(records["l4_off"][d.first]) < HEADER_BYTES
        and _data_start(d.first, c, records) < HEADER_BYTES
    ]
    if not ok:
        return _empty(issues)
    out = np.zeros((len(ok), HEADER_BYTES), np.uint8)
    l4 = np.zeros(len(ok), np.int64)
    hl = np.zeros(len(ok), np.int64)
    ip_len = np.zeros(len(ok), np.int64)
    for k, (_, d) in enumerate(ok):
        l4[k], hl[k], ip_len[k] = _build(d, c, block, records, out[k])
    return Reassembled(
        rows=np.array([row for row, _ in ok], np.int64),
        block=out,
        l4_off=l4,
        hdr_len=hl,
        ip_len=ip_len,
        issues=issues,
    )


def _complete_or_keep(
    d: _Datagram,
    key: tuple[int, ...],
    held: dict[tuple[int, ...], _Datagram],
    done: list[tuple[int, _Datagram]],
    off: int,
    length: int,
    c: dict[str, npt.NDArray[Any]],
    i: int,
) -> None:
    """Note the end of the data (MF clear); a complete datagram leaves `held` for `done`."""
    if not c["mf"][i]:
        d.total = off + length
    if d.total < 0:
        return
    reach = 0
    for p_off, p_len, _ in sorted(d.pieces):
        if p_off > reach:
            return
        reach = max(reach, p_off + p_len)
    if reach >= d.total:
        held.pop(key, None)
        done.append((i, d))


def _data_start(i: int, c: dict[str, npt.NDArray[Any]], records: npt.NDArray[np.void]) -> int:
    if int(c["family"][i]) == 4:
        return int(c["ip_hlen"][i])
    return int(records["v6frag_off"][i]) + _FRAG_HDR


def _header_in_first(
    d: _Datagram,
    c: dict[str, npt.NDArray[Any]],
    block: npt.NDArray[np.uint8],
    records: npt.NDArray[np.void],
) -> bool:
    """Whether the first fragment alone holds the whole TCP header (as sent)."""
    i = d.first
    l4 = int(records["l4_off"][i])
    if l4 == NO_OFFSET:
        return False
    in_first = int(c["ip_len"][i]) - l4
    if in_first <= _TCP_OFFSET:
        return False
    thl = (int(block[i, l4 + _TCP_OFFSET]) >> 4) * 4 if l4 + _TCP_OFFSET < HEADER_BYTES else 0
    return thl >= TCP_MIN_HEADER and in_first >= thl


def _build(
    d: _Datagram,
    c: dict[str, npt.NDArray[Any]],
    block: npt.NDArray[np.uint8],
    records: npt.NDArray[np.void],
    row: npt.NDArray[np.uint8],
) -> tuple[int, int, int]:
    """Fill `row`: the first fragment's headers, then the data; (l4 offset, known bytes,
    datagram IP length)."""
    i = d.first
    start = _data_start(i, c, records)
    l4 = int(records["l4_off"][i])
    room = HEADER_BYTES - start
    data = bytearray(room)
    known = np.zeros(room, dtype=bool)
    for p_off, _, got in d.pieces:  # arrival order: a later fragment's bytes win (RFC 791)
        if p_off >= room:
            continue
        n = min(len(got), room - p_off)
        data[p_off : p_off + n] = got[:n]
        known[p_off : p_off + n] = True
    want = min(room, d.total)
    gaps = np.flatnonzero(~known[:want])
    prefix = int(gaps[0]) if len(gaps) else want
    row[:start] = block[i, :start]
    row[start : start + prefix] = np.frombuffer(bytes(data[:prefix]), dtype=np.uint8)
    return l4, start + prefix, start + d.total
