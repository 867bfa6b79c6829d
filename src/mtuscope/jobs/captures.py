"""Reading capture files for the capture jobs: chunks, the worker pool, the fold of partials.

Layer: jobs/. This module opens files (through capture/'s reader), stats them,
spools standard input, runs the chunk work on a small thread pool and gives
freed C heap back to the system; the analyses themselves are passive/'s pure
functions. The walker, numpy and polars release the GIL, so both cores work
while partial results merge in file order.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import CaptureInfo, WalkedChunk, WalkedChunks, iter_chunks
from mtuscope.capture.table import DecodeIssue, PacketTable
from mtuscope.jobs.interrupts import INTERRUPTS
from mtuscope.passive import CapturePartial, analyse, merge
from mtuscope.passive.host_filter import HostFilter

MAX_HELD_RECORDS = 1 << 19
"""Boundary records (`CapturePartial.records` rows, 88 bytes each) the partials waiting
to merge may hold before they are folded into the capture's first partial."""

Progress = Callable[[str, int, int], None]
"""Called as progress(path, bytes_done, bytes_total) after each chunk (total 0: unknown)."""

P = TypeVar("P")


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureRead:
    """One capture file read to the end: its partial analysis and what the reader saw."""

    partial: CapturePartial
    """Every chunk analysed and merged in file order."""
    info: CaptureInfo
    """The file's format, link types, frame count and damage warnings."""
    issues: tuple[DecodeIssue, ...]
    """Frames that did not decode fully (the first ones of each chunk are kept)."""
    interrupted_after: int | None = None
    """SIGINT/SIGTERM stopped the reading: the packets of the chunks read and analysed
    before it (the partial holds exactly those); None when read to the end."""


def read_capture(
    path: str,
    *,
    host_filter: HostFilter | None = None,
    progress: Progress | None = None,
    chunk_bytes: int = 32 << 20,
    capacity: int | None = None,
    workers: int | None = None,
) -> CaptureRead:
    """Decode and analyse one capture chunk by chunk on a thread pool.

    Args:
        path: a pcap or pcapng file (gzip allowed), or '-' for standard input.
        host_filter: keep only one host's (and port's) packets.
        progress: called after each chunk is read.
        chunk_bytes: file bytes per chunk (bounds memory).
        capacity: frames per chunk (default: the reader's, from `chunk_bytes`).
        workers: threads decoding and analysing chunks (default: up to 2).

    An interrupt (SIGINT/SIGTERM, as `KeyboardInterrupt`) stops the reading: the chunks
    read so far are finished and kept, and `interrupted_after` says how many packets
    they hold.

    Raises:
        CaptureError: the file cannot be read from its start.
    """
    chunks = iter_chunks(path, chunk_bytes=chunk_bytes, capacity=capacity)
    partial, issues, cut = _run_chunks(path, chunks, host_filter, progress, workers)
    if partial is None:
        partial = analyse(PacketTable.empty(), capture=path, at_start=True)
    return CaptureRead(
        partial=partial, info=chunks.info, issues=tuple(issues), interrupted_after=cut
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RangeRead:
    """Chunks `first..stop` of one capture, analysed and merged (`read_range`)."""

    partial: CapturePartial | None
    """The range's partial (it begins the capture when `first` is 0); None when the
    capture has no chunk in the range."""
    info: CaptureInfo
    """What the reader saw up to the range's end (complete when the range runs to
    the end of the capture)."""
    issues: tuple[DecodeIssue, ...]
    """Frames of the range that did not decode fully."""


def read_range(
    path: str,
    first: int,
    stop: int | None,
    *,
    host_filter: HostFilter | None = None,
    chunk_bytes: int = 32 << 20,
    capacity: int | None = None,
    workers: int | None = 1,
) -> RangeRead:
    """Decode and analyse chunks `first` (0-based) up to `stop` (exclusive) of a capture.

    The chunks before `first` are walked (the walker is what numbers frames and
    finds chunk boundaries, and costs a tenth of the analysis) but neither decoded
    nor analysed; the reading stops after chunk `stop - 1`. The partials of
    consecutive ranges merge (`passive.merge`, in file order) into exactly the
    partial of the whole capture, as chunks do: same `chunk_bytes` and `capacity`
    for every range of a file, so that the chunks are the same.

    Raises:
        CaptureError: the file cannot be read from its start.
    """
    chunks = iter_chunks(path, chunk_bytes=chunk_bytes, capacity=capacity)
    partial, issues, _ = _run_chunks(path, chunks, host_filter, None, workers, first, stop)
    return RangeRead(partial=partial, info=chunks.info, issues=tuple(issues))


def _run_chunks(
    path: str,
    chunks: WalkedChunks,
    host_filter: HostFilter | None,
    progress: Progress | None,
    workers: int | None,
    first: int = 0,
    stop: int | None = None,
) -> tuple[CapturePartial | None, list[DecodeIssue], int | None]:
    def work(chunk: WalkedChunk, at_start: bool) -> tuple[CapturePartial, tuple[DecodeIssue, ...]]:
        table = decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
        issues = table.issues
        if host_filter is not None:
            table = table.select(host_filter.mask(table))
        return analyse(table, capture=path, at_start=at_start), issues

    n = workers or min(2, os.cpu_count() or 1)
    total = os.stat(path).st_size if path != "-" and os.path.isfile(path) else 0
    folder = Folder()
    issues: list[DecodeIssue] = []
    pending: deque[Future[tuple[CapturePartial, tuple[DecodeIssue, ...]]]] = deque()

    def drain_one() -> None:
        # Wait first, then take it off: an interrupt while waiting loses no chunk.
        part, chunk_issues = pending[0].result()
        pending.popleft()
        issues.extend(chunk_issues)
        folder.add(part)
        give_back_freed_memory()

    packets = 0
    """Packets in the chunks handed to the pool."""
    cut: int | None = None
    with ThreadPoolExecutor(max_workers=n) as pool:
        try:
            with INTERRUPTS.armed():
                for i, chunk in enumerate(chunks):
                    if stop is not None and i >= stop:
                        break
                    if i < first:
                        del chunk  # walked only: let the reader reuse its arrays
                        continue
                    pending.append(pool.submit(work, chunk, i == 0))
                    packets = chunk.first_frame - 1 + len(chunk)
                    if progress is not None:
                        info = chunks.info
                        progress(path, info.bytes_read, 0 if info.compressed else total)
                    while len(pending) > n:
                        drain_one()
        except KeyboardInterrupt:
            # Ctrl-C (or SIGTERM): stop reading; the chunks read so far are finished below.
            cut = packets
        while pending:
            drain_one()
    return folder.result(), issues, cut


class Folder:
    """Merges the partials of one capture's chunks as they arrive in file order.

    The capture's first partial (`whole`) keeps no boundary records, so merging a
    chunk straight into it is cheapest: the chunk's records are read once, then
    dropped. But that merge also costs the size of `whole`, which grows with the
    connections seen. So a chunk folds into `whole` directly while `whole` is at
    most `FOLD_RATIO` times its size; otherwise it waits on a stack of partials
    merged only with partials of their own size class (a binary counter), and the
    oldest of them folds into `whole` once it has grown to that ratio. Merge work
    stays O(n log n) in the chunks, not O(n^2) once connections pile up.
    """

    FOLD_RATIO = 16

    def __init__(self) -> None:
        self.whole: CapturePartial | None = None
        self.stack: list[tuple[int, CapturePartial]] = []

    def add(self, part: CapturePartial) -> None:
        """Merge the next chunk's partial (the first one becomes `whole`)."""
        if self.whole is None:
            self.whole = part
            return
        level = 0
        while self.stack and self.stack[-1][0] == level:
            part = merge(self.stack.pop()[1], part)
            level += 1
        self.stack.append((level, part))
        # Bound the boundary records the waiting partials hold, too: past
        # MAX_HELD_RECORDS they all fold into `whole`, which keeps none.
        flush = sum(p.records.height for _, p in self.stack) > MAX_HELD_RECORDS
        whole = self.whole
        while self.stack and (flush or self._cheap(whole, self.stack[0][1])):
            whole = merge(whole, self.stack.pop(0)[1])
        self.whole = whole

    def _cheap(self, whole: CapturePartial, part: CapturePartial) -> bool:
        return whole.directions.height <= self.FOLD_RATIO * max(part.directions.height, 1)

    def result(self) -> CapturePartial | None:
        """Everything added, merged (None if nothing was)."""
        whole = self.whole
        if whole is None:
            return None
        for _, part in self.stack:
            whole = merge(whole, part)
        self.stack.clear()
        self.whole = whole
        return whole


def fold(parts: Iterable[P], merge_two: Callable[[P, P], P]) -> P | None:
    """Merge partials in file order as a balanced tree (`merge_two` is associative).

    Merging each chunk into one growing accumulator costs the whole state per
    chunk; pairing equal-sized runs (a binary counter) costs it log(chunks) times.
    """
    stack: list[tuple[int, P]] = []
    for part in parts:
        size, acc = 1, part
        while stack and stack[-1][0] == size:
            prev = stack.pop()[1]
            size, acc = size * 2, merge_two(prev, acc)
        stack.append((size, acc))
    out: P | None = None
    for _, acc in reversed(stack):
        out = acc if out is None else merge_two(acc, out)
    return out


def each_chunk(
    chunks: WalkedChunks,
    work: Callable[[PacketTable], P],
    *,
    issues: list[DecodeIssue] | None = None,
) -> Iterator[P]:
    """`work` of each decoded chunk of a capture, in file order (for multi-pass reads).

    Neither the chunk nor its table is held while the next one is read, so the
    reader can reuse their buffers.

    Args:
        chunks: the capture's walked chunks (`capture.reader.iter_chunks`).
        work: what to make of one decoded chunk (a partial).
        issues: when given, the frames that did not decode fully are appended to it.
    """
    for chunk in chunks:
        table = decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
        del chunk
        if issues is not None:
            issues.extend(table.issues)
        part = work(table)
        del table
        yield part


def decode_warning(path: str, issues: tuple[DecodeIssue, ...] | list[DecodeIssue]) -> str | None:
    """The one warning line about a capture's frames that did not decode fully, or None."""
    if not issues:
        return None
    first = issues[0]
    return (
        f"{path}: {len(issues)} frames did not decode fully "
        f"(first: frame {first.frame}, offset {first.offset}: {first.error})"
    )


@contextmanager
def seekable(path: str) -> Iterator[str]:
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


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None
    return trim


def give_back_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc `malloc_trim`).

    numpy's chunk-sized temporaries come and go on the two worker threads; glibc
    keeps the freed space of each thread's arena, which otherwise adds about
    100 MB to the peak of a large capture. Trimming after each merge costs
    about a millisecond."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
