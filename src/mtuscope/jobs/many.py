"""Many captures: find them under directories, and read them on local processes or Dask.

Layer: jobs/. Opens files (to sniff their magic), starts processes and talks to a
Dask scheduler; the analyses are passive/'s pure functions, run by
`mtuscope.jobs.captures`. What moves between processes is one *unit* of work (a
capture and a range of its chunks) and its `RangeRead` (a partial state: a row per
connection direction and a few bounded tables, not a row per packet). The ranges
of one capture merge in file order with `passive.merge`, as its chunks do, so the
capture's partial, and so the report, is the same however the work was divided.

How the work is divided (`plan`): one unit per capture; an uncompressed capture
larger than `split_bytes` is cut into ranges of about that many bytes, counted in
chunks (the reader makes chunks of `capacity` frames; the bytes a frame takes are
estimated from the first few thousand; the last range runs to the end whatever
the estimate, so a wrong guess costs balance, never correctness). Each range walks the
records before its first chunk (the compiled walker: a tenth of the analysis) and
decodes and analyses only its own.
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import os
import signal
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from mtuscope.capture.formats import sniff_format
from mtuscope.capture.reader import iter_chunks
from mtuscope.capture.source import open_source
from mtuscope.capture.table import DecodeIssue, PacketTable
from mtuscope.errors import CaptureError, MtuscopeError, UsageError
from mtuscope.jobs.captures import (
    CaptureRead,
    Folder,
    Progress,
    RangeRead,
    read_capture,
    read_range,
)
from mtuscope.jobs.inputs import split_host_port
from mtuscope.jobs.interrupts import INTERRUPTS
from mtuscope.passive import CapturePartial, analyse
from mtuscope.passive.host_filter import HostFilter

SPLIT_BYTES = 256 << 20
"""Captures larger than this are cut into chunk ranges of about this size."""
SAMPLE_FRAMES = 4096
"""Frames walked to estimate a capture's bytes per frame (`plan`)."""
SKIPPED_NAMED = 5
"""Skipped files named in a directory's warning (the others are counted)."""
WORKER_WAIT = 30.0
"""Seconds to wait for a Dask cluster to have at least one worker."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Found:
    """The capture files the paths given name, and what was skipped on the way."""

    files: tuple[str, ...]
    """Files named directly, and captures found under directories (sorted by path)."""
    warnings: tuple[str, ...]
    """One line per directory with skipped files: which ones, and why."""


def find_captures(paths: Sequence[str]) -> Found:
    """Expand directories into the captures under them (recursively, by magic).

    A file named directly is kept as it is: the reader says what is wrong with it.
    Under a directory, a file is a capture when its first bytes are a pcap or pcapng
    magic, after gunzipping when it is gzip; names and extensions do not count.
    Symbolic links to directories are not followed (no loops).

    Raises:
        UsageError: a directory holds no capture at all.
    """
    files: list[str] = []
    warnings: list[str] = []
    for path in paths:
        if path == "-" or not os.path.isdir(path):
            files.append(path)
            continue
        found, skipped = _scan(path)
        if skipped:
            warnings.append(_skipped_line(path, skipped))
        if not found:
            why = f" ({len(skipped)} other files skipped)" if skipped else ""
            raise UsageError(f"{path}: no pcap or pcapng capture under this directory{why}")
        files.extend(found)
    return Found(files=tuple(files), warnings=tuple(warnings))


def _scan(top: str) -> tuple[list[str], list[tuple[str, str]]]:
    found: list[str] = []
    skipped: list[tuple[str, str]] = []
    errors: list[OSError] = []
    for root, dirs, names in os.walk(top, onerror=errors.append):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            why = not_a_capture(full)
            if why is None:
                found.append(full)
            else:
                skipped.append((full, why))
    skipped.extend((e.filename or top, e.strerror or str(e)) for e in errors)
    return sorted(found), sorted(skipped)


def not_a_capture(path: str) -> str | None:
    """Why `path` is not a pcap or pcapng capture (gzip allowed), or None when it is one."""
    if not os.path.isfile(path):
        return "not a regular file"
    if os.path.getsize(path) == 0:
        return "empty"
    try:
        src = open_source(path, chunk_bytes=1 << 16)
    except CaptureError as exc:
        return str(exc.args[0])
    try:
        _, ok = src.ensure(0, 4)
        head = bytes(src.buf[0 : min(src.end, 4)])
    except CaptureError as exc:
        return str(exc.args[0])
    finally:
        src.close()
    if ok and sniff_format(head) is not None:
        return None
    what = "gunzipped, starts" if src.compressed else "starts"
    return f"not pcap or pcapng: {what} with {head.hex(' ') or 'nothing'}"


def _skipped_line(top: str, skipped: list[tuple[str, str]]) -> str:
    named = "; ".join(f"{os.path.relpath(p, top)} ({why})" for p, why in skipped[:SKIPPED_NAMED])
    more = len(skipped) - SKIPPED_NAMED
    rest = f"; and {more} more" if more > 0 else ""
    return f"{top}: skipped {len(skipped)} files that are not captures: {named}{rest}"


def check_scheduler(text: str) -> str:
    """`tcp://HOST:PORT` (or tls://), checked; returned as given.

    Raises:
        UsageError: another scheme, or a missing or bad port.
    """
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("tcp", "tls") or not rest:
        raise UsageError(f"--scheduler {text!r}: expected tcp://HOST:PORT")
    split_host_port(rest, what="--scheduler", port_required=True)
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Unit:
    """One piece of work for a process or a Dask worker: chunks of one capture."""

    index: int
    """Position of the capture among the files."""
    path: str
    first: int
    """First chunk (0-based)."""
    stop: int | None
    """Chunk after the last one; None: to the end of the capture."""
    host_filter: HostFilter | None
    chunk_bytes: int
    capacity: int | None
    size: int
    """Bytes of the file this unit stands for (for the progress bar)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitDone:
    """What a unit sends back: its `RangeRead`, or the one line saying why it could not."""

    unit: Unit
    read: RangeRead | None
    error: tuple[str, int | None, int | None] | None
    """The `CaptureError`'s message, offset and frame (exceptions do not pickle their
    attributes, so they travel as data)."""


def plan(
    files: Sequence[str],
    *,
    host_filter: HostFilter | None,
    chunk_bytes: int,
    capacity: int | None,
    split_bytes: int,
) -> list[Unit]:
    """The units of work for `files`, in file order (see the module docstring)."""
    units: list[Unit] = []
    cap = capacity if capacity is not None else max(1024, chunk_bytes // 512)
    for index, path in enumerate(files):
        size = _size(path)
        ranges, per = 1, 1
        if size > split_bytes and not _gzipped(path):
            chunks = max(1, math.ceil(size / (cap * _frame_bytes(path))))
            ranges = min(math.ceil(size / split_bytes), chunks)  # a range holds a chunk
            per = math.ceil(chunks / ranges)
            ranges = math.ceil(chunks / per)
        for r in range(ranges):
            last = r == ranges - 1
            units.append(
                Unit(
                    index=index,
                    path=path,
                    first=r * per,
                    stop=None if last else (r + 1) * per,
                    host_filter=host_filter,
                    chunk_bytes=chunk_bytes,
                    capacity=capacity,
                    size=size // ranges,
                )
            )
    return units


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size if os.path.isfile(path) else 0
    except OSError:
        return 0


def _frame_bytes(path: str) -> float:
    """Average bytes of a frame record in the capture's first few thousand frames
    (512, the reader's own guess, when that cannot be read)."""
    chunks = iter_chunks(path, capacity=SAMPLE_FRAMES)
    try:
        first = next(iter(chunks), None)
    except CaptureError:
        return 512.0
    if first is None or len(first) == 0:
        return 512.0
    return max(chunks.info.bytes_read / len(first), 16.0)


def _gzipped(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def run_unit(unit: Unit) -> UnitDone:
    """Read one unit (in a worker process, on a Dask worker, or here)."""
    try:
        read = read_range(
            unit.path,
            unit.first,
            unit.stop,
            host_filter=unit.host_filter,
            chunk_bytes=unit.chunk_bytes,
            capacity=unit.capacity,
            workers=1,
        )
    except CaptureError as exc:
        return UnitDone(unit=unit, read=None, error=(str(exc.args[0]), exc.offset, exc.frame))
    return UnitDone(unit=unit, read=read, error=None)


Outcome = CaptureRead | CaptureError
"""A capture read to the end, or why it could not be read."""


def assemble(
    files: Sequence[str], units: Sequence[Unit], done: Iterable[UnitDone]
) -> Iterator[tuple[str, Outcome]]:
    """Each capture's ranges merged in file order (`passive.merge`), in the files' order.

    A capture is yielded as soon as its units (of `units`) and those of every capture
    before it have arrived, so the caller finishes it while the workers go on.
    """
    expected = Counter(u.index for u in units)
    by_file: dict[int, list[UnitDone]] = {}
    at = 0
    for d in done:
        by_file.setdefault(d.unit.index, []).append(d)
        while at < len(files) and len(by_file.get(at, ())) == expected[at]:
            yield files[at], _assemble_one(files[at], by_file.pop(at, []))
            at += 1
    for index in range(at, len(files)):
        yield files[index], _assemble_one(files[index], by_file.pop(index, []))


def _assemble_one(path: str, parts: list[UnitDone]) -> Outcome:
    parts = sorted(parts, key=lambda d: d.unit.first)
    failed = next((d.error for d in parts if d.error is not None), None)
    if failed is not None:
        message, offset, frame = failed
        return CaptureError(message, path=path, offset=offset, frame=frame)
    if not parts:
        return CaptureError("no unit of work came back for it", path=path)
    folder = Folder()
    issues: list[DecodeIssue] = []
    for d in parts:
        assert d.read is not None
        issues.extend(d.read.issues)
        if d.read.partial is not None:
            folder.add(d.read.partial)
    partial: CapturePartial | None = folder.result()
    if partial is None:
        partial = analyse(PacketTable.empty(), capture=path, at_start=True)
    last = parts[-1].read
    assert last is not None  # the range that ran to the end: its info is complete
    return CaptureRead(partial=partial, info=last.info, issues=tuple(issues))


def read_all(
    files: Sequence[str],
    *,
    host_filter: HostFilter | None,
    chunk_bytes: int,
    workers: int | None,
    jobs: int | None,
    scheduler: str | None,
    split_bytes: int,
    progress: Progress | None,
) -> Iterator[tuple[str, Outcome]]:
    """Each capture read to the end (or why not), in the files' order.

    In this process (threads over each capture's chunks, interrupts keep what was
    read) with `jobs` 1, one capture, or standard input among them; otherwise on
    `jobs` local processes (default: every core) or on the Dask cluster at
    `scheduler`, as units (`plan`) merged back per capture (`assemble`).
    """
    here = scheduler is None and (jobs == 1 or len(files) <= 1 or "-" in files)
    if here:
        for path in files:
            try:
                read = read_capture(
                    path,
                    host_filter=host_filter,
                    progress=progress,
                    chunk_bytes=chunk_bytes,
                    workers=workers,
                )
            except CaptureError as exc:
                yield path, exc
                continue
            yield path, read
            if read.interrupted_after is not None:
                return
        return
    units = plan(
        files,
        host_filter=host_filter,
        chunk_bytes=chunk_bytes,
        capacity=None,
        split_bytes=split_bytes,
    )
    done = run_units(units, jobs=jobs, scheduler=scheduler, progress=progress)
    yield from assemble(files, units, done)


def run_units(
    units: Sequence[Unit],
    *,
    jobs: int | None,
    scheduler: str | None,
    progress: Progress | None,
) -> Iterator[UnitDone]:
    """Run `units` on `jobs` local processes, or on the Dask cluster at `scheduler`;
    yields each as it completes (submitted in file order, so mostly in that order).

    Raises:
        KeyboardInterrupt: an interrupt came while waiting (the units not started
            are dropped).
        MtuscopeError: Dask is not installed, or the scheduler cannot be reached or
            has no worker (exit 3).
    """
    total = sum(u.size for u in units)
    label = f"{len({u.index for u in units})} captures"
    done = 0
    if scheduler is not None:
        stream = _on_dask(units, scheduler)
    else:
        stream = _on_processes(units, jobs or default_jobs())
    try:
        while True:
            # Armed only while waiting: an interrupt while the caller finishes a
            # capture is noted, and raises here, at the next wait.
            with INTERRUPTS.armed():
                d = next(stream, None)
            if d is None:
                return
            done += d.unit.size
            if progress is not None:
                progress(label, done, total)
            yield d
    finally:
        stream.close()


def default_jobs() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _on_processes(units: Sequence[Unit], jobs: int) -> Generator[UnitDone, None, None]:
    # spawn, not fork: polars and numpy run thread pools that a fork would copy mid-flight.
    # The processes start here, outside the armed wait: an interrupt while one is
    # being spawned is noted and raises at the first wait, once each has its start.
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(units)), mp_context=ctx, initializer=_deaf_to_interrupts
    )
    futures = [pool.submit(run_unit, u) for u in units]
    return _completed(pool, futures)


def _completed(
    pool: ProcessPoolExecutor, futures: list[Future[UnitDone]]
) -> Generator[UnitDone, None, None]:
    try:
        for f in as_completed(futures):
            yield f.result()
    except BaseException:
        # Interrupted (or the caller stopped): drop the units not started and wait
        # for the running ones (a unit is bounded: one capture's range). A second
        # Ctrl-C exits at once.
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()


def _deaf_to_interrupts() -> None:
    """Worker processes leave SIGINT to their parent (Ctrl-C reaches the whole
    process group): the parent stops the run and reports what it has."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _on_dask(units: Sequence[Unit], scheduler: str) -> Generator[UnitDone, None, None]:
    try:
        # Any: distributed's own annotations are partial (untyped calls under --strict).
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise MtuscopeError("--scheduler needs Dask: pip install 'mtuscope[dask]'") from None
    try:
        client = distributed.Client(scheduler, timeout=10, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise MtuscopeError(f"--scheduler {scheduler}: cannot reach it ({exc})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            raise MtuscopeError(
                f"--scheduler {scheduler}: no worker joined within {WORKER_WAIT:.0f} s"
            ) from None
        futures = client.map(run_unit, list(units), pure=False)
        try:
            for f in distributed.as_completed(futures, loop=client.loop):
                yield f.result()
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()
