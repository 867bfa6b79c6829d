"""The compare job: the same connections seen at two capture points, and what changed.

Layer: jobs/. Reads both captures (files, or one of them as standard input)
and hands the chunks to the pure cores: passive/ joins, pairs and compares,
diagnose/ turns the differences into findings; the result is a typed
`CompareReport`.

Each capture is read once, chunk by chunk, in lockstep (the side whose clock
is behind, after the clock offset, is read next; the next chunk of each side
is walked and decoded on a thread meanwhile): `passive.compare_stream` keeps
only the connections still open, plus a grace window after their last packet,
and compares and drops each pair as soon as it is decided, so memory is
bounded by the connections open at once, not by all connections of both.
The earlier whole-capture passes are the reference the streaming join is
tested against: `tests/jobs/compare_whole.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import WalkedChunk, iter_chunks
from mtuscope.capture.table import DecodeIssue, PacketTable
from mtuscope.diagnose.compare import diagnose_compare
from mtuscope.errors import UsageError
from mtuscope.jobs.captures import (
    decode_warning,
    give_back_freed_memory,
)
from mtuscope.jobs.inputs import check_platform
from mtuscope.jobs.result import JobResult
from mtuscope.passive.compare import CompareResult
from mtuscope.passive.compare_match import WINDOW_NS
from mtuscope.passive.compare_stream import (
    FIRST_WINDOW,
    GRACE_NS,
    IDLE_NS,
    CaptureStream,
    JoinStats,
    StreamJoin,
)

CHUNK_BYTES = 16 << 20
"""Bytes read per chunk (a few tens of MB, as DESIGN.md "Scale" asks)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareOptions:
    """Which two captures to compare, checked on construction."""

    a: str
    """The first capture (pcap/pcapng, gzip, or '-' for standard input)."""
    b: str
    """The second capture."""
    platform: str | None = None
    """A configuration platform (aliases allowed) for snippets in the advice."""
    window_s: float = 2.0
    """How far apart (after clock alignment) a pair's starts may be, seconds."""
    chunk_bytes: int = CHUNK_BYTES
    """Bytes read per chunk."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "platform", check_platform(self.platform))
        if not self.window_s > 0:
            raise UsageError(f"--window {self.window_s}: must be a positive number of seconds")
        if self.a == "-" and self.b == "-":
            raise UsageError("only one of the two captures can be read from standard input")


@dataclass(frozen=True, slots=True, kw_only=True)
class CompareReport(JobResult):
    """What the compare job found (kind "compare")."""

    comparison: CompareResult
    """The clock offset, the matched connections and their changes, the one-sided
    connections and the ICMP too-big messages of both points."""


def compare(opts: CompareOptions) -> CompareReport:
    """Compare two captures of the same traffic.

    Args:
        opts: the checked options.

    Returns:
        The comparison, its findings, and the readers' warnings (damage, frames
        that did not decode fully) of both captures.

    Raises:
        CaptureError: a capture cannot be read.
    """
    window_ns = int(opts.window_s * 1e9)
    result, warnings, _ = stream_compare(
        opts.a, opts.b, window_ns=window_ns, chunk_bytes=opts.chunk_bytes
    )
    return CompareReport(
        kind="compare",
        inputs=(opts.a, opts.b),
        findings=diagnose_compare(result, platform=opts.platform),
        warnings=warnings,
        comparison=result,
    )


def stream_compare(
    a: str,
    b: str,
    *,
    window_ns: int = WINDOW_NS,
    chunk_bytes: int = CHUNK_BYTES,
    grace_ns: int = GRACE_NS,
    idle_ns: int = IDLE_NS,
    first_window: int = FIRST_WINDOW,
) -> tuple[CompareResult, tuple[str, ...], JoinStats]:
    """Read both captures once, in lockstep, and join them as they go (`passive.compare_stream`).

    Args:
        a, b: the captures (a file, or '-' for standard input: read as a stream).
        window_ns: tolerance on the aligned start times of a pair.
        chunk_bytes: bytes per chunk.
        grace_ns, idle_ns: how long a closed / an unclosed connection is kept after its
            last packet.
        first_window: connections retired at each point before the offset is estimated.

    Returns:
        The comparison, the warnings of both captures (the readers', then the frames that
        did not decode fully), and what the join held at most.

    Raises:
        CaptureError: a capture cannot be read.
    """
    sa = CaptureStream(a, grace_ns=grace_ns, idle_ns=idle_ns)
    sb = CaptureStream(b, grace_ns=grace_ns, idle_ns=idle_ns)
    join = StreamJoin(sa, sb, window_ns=window_ns, first_window=first_window)
    chunks = {
        "a": iter_chunks(a, chunk_bytes=chunk_bytes),
        "b": iter_chunks(b, chunk_bytes=chunk_bytes),
    }
    issues: dict[str, list[DecodeIssue]] = {"a": [], "b": []}
    streams = {"a": sa, "b": sb}
    # Walking and decoding the next chunk of each side runs on a thread (the walker,
    # numpy and polars release the GIL) while the join works on the current one.
    with ThreadPoolExecutor(max_workers=2) as pool:
        its = {side: iter(chunks[side]) for side in ("a", "b")}
        ahead = {side: pool.submit(_next_table, its[side]) for side in ("a", "b")}
        while (side := join.next_side()) is not None:
            table = ahead[side].result()
            if table is None:
                streams[side].eof = True
            else:
                ahead[side] = pool.submit(_next_table, its[side])
                issues[side].extend(table.issues)
                streams[side].feed(table)
                del table
            join.fed(side)
            give_back_freed_memory()
    warnings: tuple[str, ...] = ()
    for side, name in (("a", a), ("b", b)):
        warnings += tuple(chunks[side].info.warnings)
        if (line := decode_warning(name, issues[side])) is not None:
            warnings += (line,)
    return join.result(), warnings, join.stats


def _next_table(chunks: Iterator[WalkedChunk]) -> PacketTable | None:
    """The next chunk of a capture, decoded (None at its end)."""
    chunk = next(chunks, None)
    if chunk is None:
        return None
    return decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
