"""The `capture` report body (DESIGN.md "Contracts"): a `CaptureResult` as JSON-ready values.

Layer: report/. A renderer: typed results in, dicts out; no I/O. The
connections are rendered from the analyses' columns a batch at a time
(`ConnectionRows`), so a capture of tens of thousands of connections never
holds all its row dicts at once; the serializer streams them.
"""

from __future__ import annotations

import gc
import operator
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any, SupportsIndex, overload

from mtuscope.passive.results import Endpoint
from mtuscope.report.serialize import findings_json, plain
from mtuscope.report.wireshark_filter import finding_filter
from mtuscope.wire.enums import LinkType

if TYPE_CHECKING:
    import polars as pl

    from mtuscope.capture.reader import CaptureInfo
    from mtuscope.jobs.analyze import CaptureFile, CaptureResult
    from mtuscope.passive.results import CaptureAnalysis

LINKTYPES: dict[int, str] = {
    LinkType.NULL: "null",
    LinkType.ETHERNET: "ether",
    LinkType.PPP: "ppp",
    LinkType.RAW_DLT12: "rawip",
    LinkType.RAW_DLT14: "rawip",
    LinkType.PPP_HDLC: "ppp-hdlc",
    LinkType.RAW: "rawip",
    LinkType.LOOP: "loop",
    LinkType.LINUX_SLL: "linux-sll",
    LinkType.IPV4: "rawip4",
    LinkType.IPV6: "rawip6",
    LinkType.NFLOG: "nflog",
    LinkType.LINUX_SLL2: "linux-sll2",
}
"""`wire.enums.LinkType` -> the name reports give it."""


def linktype_name(linktype: int) -> str:
    """How reports name a LINKTYPE_* value ("linktype-N" for the ones without a name)."""
    return LINKTYPES.get(int(linktype), f"linktype-{int(linktype)}")


def format_name(info: CaptureInfo) -> str:
    """How reports name a capture's file format ("pcap", "pcapng", or "unknown")."""
    return "unknown" if info.file_format is None else info.file_format.name.lower()


def body(result: CaptureResult) -> dict[str, Any]:
    """The kind-specific fields of a capture report, connections left lazy.

    `findings` replaces the envelope's (same place in the document) with each finding
    plus its `wireshark_filter`: the display filter selecting its evidence frames
    (`report.wireshark_filter`), null when it cites no frame.
    """
    return {
        "findings": findings_with_filters(result),
        "captures": [capture_file(c) for c in result.captures],
        "connections": ConnectionRows(result.analyses),
        "icmp_too_big": [plain(m) for a in result.analyses for m in a.icmp_too_big],
        "fragments": [plain(f) for a in result.analyses for f in a.fragments],
        "annotated": None
        if result.annotation is None
        else {
            "path": result.annotation.path,
            "frames": result.annotation.frames,
            "commented_frames": len(result.annotation.commented),
            "complete": result.annotation.complete,
        },
    }


def findings_with_filters(result: CaptureResult) -> list[dict[str, Any]]:
    """The envelope's findings, each with its `wireshark_filter`."""
    analyses = {a.capture: a for a in result.analyses}
    rows: list[dict[str, Any]] = findings_json(result.findings)
    for row, f in zip(rows, result.findings, strict=True):
        row["wireshark_filter"] = finding_filter(f, analyses)
    return rows


def capture_file(c: CaptureFile) -> dict[str, Any]:
    """One `captures[]` item."""
    info, host = c.info, c.host_filter
    return {
        "path": c.path,
        "format": format_name(info),
        "packets": int(info.packets),
        "bytes": int(info.bytes_read),
        "link_types": sorted({linktype_name(lt) for lt in info.linktypes}),
        "filter": None
        if host is None
        else f"{host.address}" + ("" if host.port is None else f":{host.port}"),
    }


class ConnectionRows(Sequence[dict[str, Any]]):
    """The report's `connections[]`, rendered from the analyses' columns on demand.

    `len` is free, an index or slice renders just those rows, and iterating
    renders batches of `BATCH` rows (how the serializer and the text renderer
    read it). It is not a list, so the JSON encoder cannot be handed it by
    mistake: `json_ready` tells the serializer to encode its rows as they come.
    """

    BATCH = 4096
    json_ready = True
    """Every row is already JSON-ready: the serializer copies them without walking them."""

    def __init__(self, analyses: Sequence[CaptureAnalysis]) -> None:
        self._parts: list[tuple[CaptureAnalysis, int]] = []
        at = 0
        for a in analyses:
            self._parts.append((a, at))
            at += a.connection_count
        self._len = at

    def __len__(self) -> int:
        return self._len

    def __bool__(self) -> bool:
        return self._len > 0

    def _render(self, start: int, stop: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for analysis, at in self._parts:
            lo, hi = max(start - at, 0), min(stop - at, analysis.connection_count)
            if lo < hi:
                rows = connection_rows(analysis, lo, hi)
                for c in rows:
                    c["capture"] = analysis.capture
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

    __hash__ = None  # type: ignore[assignment]  # compared by its rows

    def __repr__(self) -> str:
        return f"<ConnectionRows: {self._len} connections>"


def connection_rows(
    analysis: CaptureAnalysis, start: int = 0, stop: int | None = None
) -> list[dict[str, Any]]:
    """JSON-ready `connections[]` items of one analysis, built from its columns.

    Args:
        analysis: a finished capture analysis.
        start: first row (0-based position in `analysis.table`).
        stop: one past the last row (default: all).

    Returns:
        One dict per row, in id order.
    """
    with _gc_paused():
        return _bodies(analysis, start, stop)


_ENDPOINT_FIELDS = tuple(Endpoint.__dataclass_fields__)


def _bodies(analysis: CaptureAnalysis, start: int, stop: int | None) -> list[dict[str, Any]]:
    df = analysis.table[start:stop]
    cols: dict[str, list[Any]] = {}
    for name in df.columns:
        if name not in ("client", "server"):
            cols[name] = df.get_column(name).to_list()
            continue
        sub = df.get_column(name).struct.unnest()
        side = {
            f: _large_sizes(sub.get_column(f))
            if f == "large_sizes"
            else [[] for _ in range(df.height)]
            if f == "black_holes"
            else sub.get_column(f).to_list()
            for f in _ENDPOINT_FIELDS
        }
        cols[name] = list(map(_dict_maker(tuple(side)), *side.values()))
    rows = list(map(_dict_maker(tuple(cols)), *cols.values())) if df.height else []
    first = rows[0]["id"] if rows else 0
    for (cid, role), (over, holes) in analysis.details.items():
        if first <= cid < first + len(rows):
            c = rows[cid - first]  # ids are consecutive
            if over is not None:
                c[role]["oversized"] = plain(over)
            c[role]["black_holes"] = [plain(h) for h in holes]
    return rows


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic row dicts: the
    collections their allocations trigger would otherwise rescan the rows built so
    far (about half the rendering time of 40,000 connections)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """The rows of a flat table as dicts (column lists mapped through a dict-building
    function: much faster than `to_dicts` once there are nested columns, and than
    zipping names with each row)."""
    names = tuple(df.columns)
    cols = [df.get_column(n).to_list() for n in names]
    return list(map(_dict_maker(names), *cols)) if names else [{} for _ in range(df.height)]


@lru_cache(maxsize=64)
def _dict_maker(names: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
    """`lambda _0, _1, ...: {names[0]: _0, names[1]: _1, ...}`: one dict display per row
    (the keys are constants of the compiled function, as `collections.namedtuple` does)."""
    params = ", ".join(f"_{i}" for i in range(len(names)))
    items = ", ".join(f"{name!r}: _{i}" for i, name in enumerate(names))
    maker: Callable[..., dict[str, Any]] = eval(f"lambda {params}: {{{items}}}")
    return maker


def _large_sizes(col: pl.Series) -> list[list[dict[str, Any]]]:
    """A list-of-struct column as lists of dicts, built from flat columns."""
    lengths = col.list.len().fill_null(0)
    full = col.filter(lengths > 0)
    flat = _rows(full.explode().struct.unnest()) if len(full) else []
    out: list[list[dict[str, Any]]] = []
    pos = 0
    for n in lengths.to_list():
        out.append(flat[pos : pos + n])
        pos += n
    return out
