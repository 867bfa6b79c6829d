"""The capture report: files -> PacketTable chunks -> partial analyses -> findings.

Layer: report/ (an orchestrator the CLI and the server both call). It reads
capture files only through capture/, and runs the chunk work (bulk decode and
per-chunk analysis) on a small thread pool: the walker, numpy and polars
release the GIL, so both cores work while partial results merge in file order.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import WalkedChunk, WalkedChunks, iter_chunks
from mtuscope.capture.table import PacketTable, address_halves
from mtuscope.diagnose.capture import diagnose_capture
from mtuscope.diagnose.findings import Finding
from mtuscope.errors import UsageError
from mtuscope.passive import CapturePartial, analyse, finish, merge
from mtuscope.report.model import Report

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
    connections: list[dict[str, Any]] = []
    icmps: list[dict[str, Any]] = []
    findings: list[Finding] = []
    warnings: list[str] = []
    extra: dict[str, list[Any]] = {}
    for path in paths:
        chunks = iter_chunks(path, chunk_bytes=chunk_bytes)
        partial, issues = _run_chunks(path, chunks, host_filter, progress, workers)
        info = chunks.info
        analysis = finish(partial)
        body = analysis.to_body()
        offset = len(connections)
        renumber = {c["id"]: c["id"] + offset for c in body["connections"]}
        for c in body["connections"]:
            c["id"] = renumber[c["id"]]
            c.setdefault("capture", path)
        for m in body["icmp_too_big"]:
            if m["connection"] is not None:
                m["connection"] = renumber.get(m["connection"], m["connection"])
        connections.extend(body.pop("connections"))
        icmps.extend(body.pop("icmp_too_big"))
        for key, value in body.items():
            if isinstance(value, list):
                extra.setdefault(key, []).extend(value)
        for f in diagnose_capture(analysis, platform=platform):
            if f.connection is not None:
                f = dataclasses.replace(f, connection=renumber.get(f.connection, f.connection))
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


def _capture_summary(path: str, info: Any, host_filter: HostFilter | None) -> dict[str, Any]:
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
    def work(chunk: WalkedChunk) -> tuple[CapturePartial, list[tuple[int, int, str]]]:
        table = decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
        issues = [(i.frame, i.offset, i.error) for i in table.issues]
        if host_filter is not None:
            table = table.select(host_filter.mask(table))
        return analyse(table, capture=path), issues

    n = workers or min(2, os.cpu_count() or 1)
    total = os.stat(path).st_size if path != "-" and os.path.isfile(path) else 0
    partial: CapturePartial | None = None
    issues: list[tuple[int, int, str]] = []
    pending: deque[Future[tuple[CapturePartial, list[tuple[int, int, str]]]]] = deque()

    def drain_one() -> None:
        nonlocal partial
        part, chunk_issues = pending.popleft().result()
        partial = part if partial is None else merge(partial, part)
        issues.extend(chunk_issues)

    with ThreadPoolExecutor(max_workers=n) as pool:
        for chunk in chunks:
            pending.append(pool.submit(work, chunk))
            if progress is not None:
                info = chunks.info
                progress(path, info.bytes_read, 0 if info.compressed else total)
            while len(pending) > n:
                drain_one()
        while pending:
            drain_one()
    if partial is None:
        partial = analyse(PacketTable.empty(), capture=path)
    return partial, issues


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
