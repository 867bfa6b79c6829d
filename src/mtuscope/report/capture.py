"""The capture report: files -> PacketTable chunks -> partial analyses -> findings.

Layer: report/ (an orchestrator the CLI and the server both call). It reads
capture files only through capture/, and runs the chunk work (bulk decode and
per-chunk analysis) on a small thread pool: the walker, numpy and polars
release the GIL, so both cores work while partial results merge in file order.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import ipaddress
import operator
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, SupportsIndex, overload

import numpy as np
import numpy.typing as npt

from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import CaptureInfo, WalkedChunk, WalkedChunks, iter_chunks
from mtuscope.capture.table import PacketTable, address_halves
from mtuscope.diagnose.capture import diagnose_capture
from mtuscope.diagnose.findings import Finding
from mtuscope.errors import UsageError
from mtuscope.passive import CaptureAnalysis, CapturePartial, analyse, finish, merge
from mtuscope.report.model import Report

MAX_HELD_RECORDS = 1 << 19
"""Boundary records (`CapturePartial.records` rows, 88 bytes each) the partials waiting
to merge may hold before they are folded into the capture's first partial."""

Progress = Callable[[str, int, int], None]
"""Called as progress(path, bytes_done, bytes_total) after each chunk."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFilter:
    """Keep only packets to or from `address` (and `port`, when given).

    ICMP errors are kept when the packet they quote matches, since a router's
    too-big message is addressed to the host but is about the connection.
    """

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> HostFilter:
        """Parse HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address.

        Raises:
            UsageError: not an address or a port out of range.
        """
        host, port = text, None
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else None
        elif text.count(":") == 1:
            host, port = text.split(":")
        try:
            address = ipaddress.ip_address(host)
            number = None if port is None else int(port)
        except ValueError as exc:
            raise UsageError(f"--filter {text!r}: expected HOST or HOST:PORT ({exc})") from exc
        if number is not None and not 0 <= number <= 65535:
            raise UsageError(f"--filter {text!r}: port out of range")
        return cls(address=address, port=number)

    def mask(self, t: PacketTable) -> npt.NDArray[np.bool_]:
        hi, lo = (np.uint64(v) for v in address_halves(self.address.packed))

        def side(prefix: str, port_col: str) -> npt.NDArray[np.bool_]:
            hit = (t[f"{prefix}_hi"] == hi) & (t[f"{prefix}_lo"] == lo)
            if self.port is not None:
                hit &= t[port_col] == self.port
            return np.asarray(hit, dtype=bool)

        keep = side("src", "sport") | side("dst", "dport")
        keep |= side("q_src", "q_sport") | side("q_dst", "q_dport")
        return keep


def capture_report(
    paths: Sequence[str],
    *,
    host_filter: HostFilter | None = None,
    platform: str | None = None,
    progress: Progress | None = None,
    chunk_bytes: int = 32 << 20,
    workers: int | None = None,
) -> Report:
    """Analyse capture files, each on its own, into one capture report.

    Args:
        paths: capture files ('-' for standard input), pcap or pcapng, optionally gzip.
        host_filter: keep only one host's (and port's) packets.
        platform: a calc.snippets platform for configuration snippets in the advice.
        progress: called after each chunk (for a progress bar).
        chunk_bytes: file bytes per chunk (bounds memory).
        workers: threads decoding and analysing chunks (default: up to 2).

    Raises:
        CaptureError: a file cannot be read at all (damage after the first
            good records becomes a warning in the report instead).
    """
    captures: list[dict[str, Any]] = []
    connections = ConnectionRows()
    icmps: list[dict[str, Any]] = []
    findings: list[Finding] = []
    warnings: list[str] = []
    extra: dict[str, list[Any]] = {}
    for path in paths:
        chunks = iter_chunks(path, chunk_bytes=chunk_bytes)
        partial, issues = _run_chunks(path, chunks, host_filter, progress, workers)
        info = chunks.info
        analysis = finish(partial)
        del partial
        # Connection ids run 1..n per capture; later captures continue the numbering.
        offset = len(connections)
        connections.add(analysis, offset, path)
        body = analysis.to_body(connections=False)
        for m in body["icmp_too_big"]:
            if m["connection"] is not None:
                m["connection"] += offset
        icmps.extend(body.pop("icmp_too_big"))
        for key, value in body.items():
            if isinstance(value, list):
                extra.setdefault(key, []).extend(value)
        for f in diagnose_capture(analysis, platform=platform):
            if f.connection is not None and offset:
                f = dataclasses.replace(f, connection=f.connection + offset)
            findings.append(f)
        warnings.extend(info.warnings)
        if issues:
            first = issues[0]
            warnings.append(
                f"{path}: {len(issues)} frames did not decode fully "
                f"(first: frame {first[0]}, offset {first[1]}: {first[2]})"
            )
        captures.append(_capture_summary(path, info, host_filter))
    return Report(
        kind="capture",
        inputs=tuple(paths),
        findings=tuple(findings),
        body={"captures": captures, "connections": connections, "icmp_too_big": icmps, **extra},
        warnings=tuple(warnings),
    )


class ConnectionRows(Sequence[dict[str, Any]]):
    """The report's `connections[]`, rendered from the analyses' columns on demand.

    A capture of tens of thousands of connections would otherwise build every
    row's dicts up front, even for the text report that shows 40 of them. This
    sequence renders rows only when read: `len` is free, an index or slice
    renders just those rows, and iterating renders batches of `BATCH` rows (how
    `Report.to_dict`, `Report.write_json` and `report.text` read it). It is not
    a list, so the JSON encoder cannot be handed it by mistake: `json_ready`
    tells the report writers to encode its rows as they come.
    """

    BATCH = 4096
    json_ready = True
    """Every row is already JSON-ready: `Report.to_dict` copies them without walking them."""

    def __init__(self) -> None:
        self._parts: list[tuple[CaptureAnalysis, int, str]] = []
        self._len = 0

    def add(self, analysis: CaptureAnalysis, offset: int, path: str) -> None:
        """Append one capture's connections, their ids shifted by `offset`."""
        self._parts.append((analysis, offset, path))
        self._len += analysis.connection_count

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def _render(self, start: int, stop: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for analysis, offset, path in self._parts:
            n = analysis.connection_count
            lo, hi = max(start - offset, 0), min(stop - offset, n)
            if lo < hi:
                rows = analysis.connection_bodies(lo, hi)
                for c in rows:
                    c["id"] += offset
                    c["capture"] = path
                out.extend(rows)
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for start in range(0, self._len, self.BATCH):
            yield from self._render(start, start + self.BATCH)

    @overload
    def __getitem__(self, index: SupportsIndex) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: SupportsIndex | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._len)
            if step != 1:
                return self._render(0, self._len)[index]
            return self._render(start, stop)
        i = operator.index(index)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("connection row out of range")
        return self._render(i, i + 1)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by its rows

    def __repr__(self) -> str:
        return f"<ConnectionRows: {self._len} connections>"


def _capture_summary(
    path: str, info: CaptureInfo, host_filter: HostFilter | None
) -> dict[str, Any]:
    return {
        "path": path,
        "format": "unknown" if info.file_format is None else info.file_format.name.lower(),
        "packets": int(info.packets),
        "bytes": int(info.bytes_read),
        "link_types": sorted({_linktype_name(lt) for lt in info.linktypes}),
        "filter": None
        if host_filter is None
        else f"{host_filter.address}"
        + ("" if host_filter.port is None else f":{host_filter.port}"),
    }


def _run_chunks(
    path: str,
    chunks: WalkedChunks,
    host_filter: HostFilter | None,
    progress: Progress | None,
    workers: int | None,
) -> tuple[CapturePartial, list[tuple[int, int, str]]]:
    def work(
        chunk: WalkedChunk, at_start: bool
    ) -> tuple[CapturePartial, list[tuple[int, int, str]]]:
        table = decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
        issues = [(i.frame, i.offset, i.error) for i in table.issues]
        if host_filter is not None:
            table = table.select(host_filter.mask(table))
        return analyse(table, capture=path, at_start=at_start), issues

    n = workers or min(2, os.cpu_count() or 1)
    total = os.stat(path).st_size if path != "-" and os.path.isfile(path) else 0
    folder = _Folder()
    issues: list[tuple[int, int, str]] = []
    pending: deque[Future[tuple[CapturePartial, list[tuple[int, int, str]]]]] = deque()

    def drain_one() -> None:
        part, chunk_issues = pending.popleft().result()
        issues.extend(chunk_issues)
        folder.add(part)
        _give_back_freed_memory()

    with ThreadPoolExecutor(max_workers=n) as pool:
        for i, chunk in enumerate(chunks):
            pending.append(pool.submit(work, chunk, i == 0))
            if progress is not None:
                info = chunks.info
                progress(path, info.bytes_read, 0 if info.compressed else total)
            while len(pending) > n:
                drain_one()
        while pending:
            drain_one()
    partial = folder.result()
    if partial is None:
        return analyse(PacketTable.empty(), capture=path, at_start=True), issues
    return partial, issues


class _Folder:
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


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None
    return trim


def _give_back_freed_memory() -> None:
    """Return the C heap's free pages to the system (glibc `malloc_trim`).

    numpy's chunk-sized temporaries come and go on the two worker threads; glibc
    keeps the freed space of each thread's arena, which otherwise adds about
    100 MB to the peak of a large capture. Trimming after each merge costs
    about a millisecond."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


_LINKTYPES = {
    0: "null",
    1: "ether",
    9: "ppp",
    12: "rawip",
    14: "rawip",
    50: "ppp-hdlc",
    101: "rawip",
    108: "loop",
    113: "linux-sll",
    228: "rawip4",
    229: "rawip6",
    239: "nflog",
    276: "linux-sll2",
}


def _linktype_name(linktype: int) -> str:
    return _LINKTYPES.get(int(linktype), f"linktype-{int(linktype)}")
