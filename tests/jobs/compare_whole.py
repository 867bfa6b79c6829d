"""The whole-capture comparison compare ran before the streaming join: the reference
`test_compare_stream.py` holds `jobs.compare.stream_compare` to.

Each capture is read whole, in passes (connections, then segment digests, then the
segment rows the pairing needs), and the two summaries are paired and compared by
passive/compare.py at the end.
"""

from __future__ import annotations

from collections.abc import Collection

from mtuscope.capture.reader import iter_chunks
from mtuscope.capture.table import DecodeIssue, PacketTable
from mtuscope.jobs.captures import decode_warning, each_chunk, fold
from mtuscope.jobs.compare import CHUNK_BYTES
from mtuscope.passive.compare import CompareResult, compare_captures, pair_captures, segments_needed
from mtuscope.passive.compare_connections import (
    ConnectionTable,
    finish_connections,
    merge_summaries,
    summarise_chunk,
)
from mtuscope.passive.compare_summary import (
    CaptureSummary,
    finish_summary,
    merge_segments,
    segment_chunk,
)


def whole(a: str, b: str, *, chunk_bytes: int = CHUNK_BYTES) -> CompareResult:
    """The multi-pass read of both captures whole (the way compare read them before)."""
    ca, _ = connections_of_file(a, chunk_bytes=chunk_bytes)
    cb, _ = connections_of_file(b, chunk_bytes=chunk_bytes)
    none: frozenset[int] = frozenset()
    sa = segments_of_file(a, ca, keep=none, chunk_bytes=chunk_bytes)
    sb = segments_of_file(b, cb, keep=none, chunk_bytes=chunk_bytes)
    pairing = pair_captures(sa, sb)
    need_a, need_b = segments_needed(sa, sb, pairing)
    sa = segments_of_file(a, ca, keep=need_a, chunk_bytes=chunk_bytes)
    sb = segments_of_file(b, cb, keep=need_b, chunk_bytes=chunk_bytes)
    return compare_captures(sa, sb, pairing=pairing)


def connections_of_file(
    path: str, *, capture: str | None = None, chunk_bytes: int = CHUNK_BYTES
) -> tuple[ConnectionTable, tuple[str, ...]]:
    """First pass over a capture: its connections and handshakes, chunk by chunk.

    Args:
        path: the capture file (not '-': it is read again by `segments_of_file`).
        capture: the name evidence cites (default `path`).
        chunk_bytes: bytes per chunk.

    Returns:
        The `ConnectionTable`, and the warnings: the reader's, then one line about
        the frames that did not decode fully (as `analyze` reports them).

    Raises:
        CaptureError: the file cannot be read from its start.
    """
    name = capture or path
    issues: list[DecodeIssue] = []
    chunks = iter_chunks(path, chunk_bytes=chunk_bytes)
    parts = each_chunk(chunks, lambda t: summarise_chunk(t, capture=name), issues=issues)
    acc = fold(parts, merge_summaries)
    if acc is None:
        acc = summarise_chunk(PacketTable.empty(), capture=name)
    warnings = tuple(chunks.info.warnings)
    if (line := decode_warning(name, issues)) is not None:
        warnings += (line,)
    return finish_connections(acc), warnings


def segments_of_file(
    path: str,
    conns: ConnectionTable,
    *,
    keep: Collection[int] | None,
    chunk_bytes: int = CHUNK_BYTES,
) -> CaptureSummary:
    """Second (and third) pass over a capture: per-direction segment digests and rows.

    Args:
        path: the capture file, as given to `connections_of_file`.
        conns: its connections.
        keep: directions (id * 2 + cdir) whose segment rows to keep; None: all.
        chunk_bytes: bytes per chunk.

    Returns:
        The capture's summary.

    Raises:
        CaptureError: the file cannot be read.
    """
    chunks = iter_chunks(path, chunk_bytes=chunk_bytes)
    acc = fold(each_chunk(chunks, lambda t: segment_chunk(t, conns, keep=keep)), merge_segments)
    if acc is None:
        acc = segment_chunk(PacketTable.empty(), conns, keep=keep)
    return finish_summary(conns, acc, keep=keep)
