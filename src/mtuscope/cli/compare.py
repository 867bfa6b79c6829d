"""`mtuscope compare A B`: the same connections seen at two capture points.

Layer: edge (command line). Parses arguments, reads both captures chunk by
chunk and hands the summaries to the pure cores; no analysis here.

Memory is bounded by the number of connections, not of packets: each capture
is read twice (connections and handshakes; then one digest per connection
direction of its data segments), and a third time only for the directions
whose segments differ between the points, whose rows are then kept (see
`passive.compare_summary`). Standard input is spooled to a temporary file so
it can be read again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from mtuscope.report.model import Report

if TYPE_CHECKING:
    from mtuscope.passive.compare_summary import CaptureSummary, ConnectionTable

P = TypeVar("P")
CHUNK_BYTES = 16 << 20
"""Bytes read per chunk (a few tens of MB, as DESIGN.md "Scale" asks)."""


def _fold(parts: Iterable[P], merge: Callable[[P, P], P]) -> P | None:
    """Merge partials in file order as a balanced tree (merge is associative).

    Merging each chunk into one growing accumulator costs the whole state per
    chunk; pairing equal-sized runs (a binary counter) costs it log(chunks) times.
    """
    stack: list[tuple[int, P]] = []
    for part in parts:
        size, acc = 1, part
        while stack and stack[-1][0] == size:
            prev = stack.pop()[1]
            size, acc = size * 2, merge(prev, acc)
        stack.append((size, acc))
    out: P | None = None
    for _, acc in reversed(stack):
        out = acc if out is None else merge(acc, out)
    return out


@contextmanager
def _seekable(path: str) -> Iterator[str]:
    """A path that can be read more than once: standard input is spooled to a temporary file."""
    if path != "-":
        yield path
        return
    fd, tmp = tempfile.mkstemp(prefix="mtuscope-compare-", suffix=".pcap")
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield tmp
    finally:
        os.unlink(tmp)


def add_parser(sub: Any) -> None:
    """Register the `compare` verb.

    Args:
        sub: the subparsers object of the top-level parser.
    """
    p = sub.add_parser(
        "compare",
        help="compare the same connections captured at two points (MSS clamps, NAT, loss)",
        description="Match the TCP connections of two captures of the same traffic taken at "
        "two points (even through NAT and sequence-number rewriting), estimate the clock "
        "offset, and report what changed in between: MSS rewritten, ISN offset, TCP options "
        "added or stripped, segments lost between the points, offload artifacts, and the ICMP "
        "too-big messages each point saw.",
    )
    p.add_argument("a", metavar="A", help="first capture (pcap/pcapng, gzip or - for stdin)")
    p.add_argument("b", metavar="B", help="second capture")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.add_argument("--platform", help="add configuration snippets for this platform to advice")
    p.add_argument(
        "--window",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how far apart (after clock alignment) a pair's starts may be (default 2)",
    )
    p.set_defaults(run=run)


def connections_of_file(
    path: str, *, capture: str | None = None, chunk_bytes: int = CHUNK_BYTES
) -> tuple[ConnectionTable, tuple[str, ...]]:
    """First pass over a capture: its connections and handshakes, chunk by chunk.

    Args:
        path: the capture file (not '-': it is read again by `segments_of_file`).
        capture: the name evidence cites (default `path`).
        chunk_bytes: bytes per chunk.

    Returns:
        The `ConnectionTable` and the reader's warnings.

    Raises:
        CaptureError: the file cannot be read from its start.
    """
    from mtuscope.capture.decode import decode_chunk
    from mtuscope.capture.reader import iter_chunks
    from mtuscope.capture.table import PacketTable
    from mtuscope.passive.compare_summary import (
        SummaryPartial,
        finish_connections,
        merge_summaries,
        summarise_chunk,
    )

    chunks = iter_chunks(path, chunk_bytes=chunk_bytes)
    parts = (
        summarise_chunk(
            decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame),
            capture=capture or path,
        )
        for chunk in chunks
    )
    acc: SummaryPartial | None = _fold(parts, merge_summaries)
    if acc is None:
        acc = summarise_chunk(PacketTable.empty(), capture=capture or path)
    return finish_connections(acc), tuple(chunks.info.warnings)


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
    from mtuscope.capture.decode import decode_chunk
    from mtuscope.capture.reader import iter_chunks
    from mtuscope.capture.table import PacketTable
    from mtuscope.passive.compare_summary import (
        SegmentPartial,
        finish_summary,
        merge_segments,
        segment_chunk,
    )

    parts = (
        segment_chunk(
            decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame),
            conns,
            keep=keep,
        )
        for chunk in iter_chunks(path, chunk_bytes=chunk_bytes)
    )
    acc: SegmentPartial | None = _fold(parts, merge_segments)
    if acc is None:
        acc = segment_chunk(PacketTable.empty(), conns, keep=keep)
    return finish_summary(conns, acc, keep=keep)


def run(args: argparse.Namespace) -> Report:
    """Compare two captures.

    Args:
        args: parsed arguments (`a`, `b`, `json`, `platform`, `window`).

    Returns:
        A `Report(kind="compare")`.

    Raises:
        UsageError: unknown platform, a non-positive window, or both captures the same stdin.
        CaptureError: a capture cannot be read.
    """
    from mtuscope.diagnose.compare import diagnose_compare
    from mtuscope.errors import UsageError
    from mtuscope.passive.compare import compare_captures, pair_captures, segments_needed
    from mtuscope.report.compare_json import compare_body

    if args.platform:
        from mtuscope.calc.snippets import PLATFORMS

        if args.platform not in PLATFORMS:
            raise UsageError(
                f"--platform {args.platform!r}: unknown; known: {', '.join(sorted(PLATFORMS))}"
            )
    if not args.window > 0:
        raise UsageError(f"--window {args.window}: must be a positive number of seconds")
    if args.a == "-" and args.b == "-":
        raise UsageError("only one of the two captures can be read from standard input")
    window_ns = int(args.window * 1e9)
    with _seekable(args.a) as path_a, _seekable(args.b) as path_b:
        ca, warn_a = connections_of_file(path_a, capture=args.a)
        cb, warn_b = connections_of_file(path_b, capture=args.b)
        none: frozenset[int] = frozenset()
        sa = segments_of_file(path_a, ca, keep=none)
        sb = segments_of_file(path_b, cb, keep=none)
        pairing = pair_captures(sa, sb, window_ns=window_ns)
        need_a, need_b = segments_needed(sa, sb, pairing)
        # Only the directions that differ are read a third time, segment by segment.
        if need_a:
            sa = segments_of_file(path_a, ca, keep=need_a)
        if need_b:
            sb = segments_of_file(path_b, cb, keep=need_b)
    result = compare_captures(sa, sb, window_ns=window_ns, pairing=pairing)
    findings = diagnose_compare(result, platform=args.platform)
    return Report(
        kind="compare",
        inputs=(args.a, args.b),
        findings=findings,
        body=compare_body(result, findings),
        warnings=warn_a + warn_b,
    )
