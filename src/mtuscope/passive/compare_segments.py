"""Data-segment fingerprints of one connection direction at two points: what one never saw.

Layer: passive/. Pure numpy; no I/O. A segment is fingerprinted by its
(relative sequence offset, length); payload hashes are not available because
captures keep headers only. See `unseen` for how loss is told from
segmentation offload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.passive.compare_results import DIRECTIONS, Change

I64 = npt.NDArray[np.int64]
MAX_SEGMENT_CHANGES = 20
"""Lost or offloaded segments listed per connection and direction (all are counted)."""
MAX_PIECES = 8
"""Frames of the other point listed for one offloaded segment."""


@dataclass(frozen=True, slots=True)
class Segs:
    """Data segments of one connection direction at one point, sorted by offset."""

    rel: I64
    len: I64
    ip_len: I64
    frame: I64
    ts: I64


class SegIndex:
    """Data segments of one capture, sliced by (connection id, direction)."""

    def __init__(self, segs: pl.DataFrame) -> None:
        self.cols = {c: segs[c].cast(pl.Int64).to_numpy() for c in segs.columns}
        group = self.cols["id"] * 2 + self.cols["cdir"]
        self.keys, self.starts = np.unique(group, return_index=True)
        self.ends = np.append(self.starts[1:], len(group))

    def get(self, conn: int, d: int) -> Segs:
        """The segments of connection `conn`, direction `d` (0 client->server)."""
        k = np.searchsorted(self.keys, conn * 2 + d)
        if k >= len(self.keys) or self.keys[k] != conn * 2 + d:
            e = np.zeros(0, dtype=np.int64)
            return Segs(e, e, e, e, e)
        s = slice(int(self.starts[k]), int(self.ends[k]))
        c = self.cols
        return Segs(c["rel"][s], c["len"][s], c["ip_len"][s], c["frame"][s], c["ts"][s])


def unseen(x: Segs, y: Segs, window: tuple[int, int]) -> tuple[I64, list[tuple[int, list[int]]]]:
    """Segments of X with no counterpart at Y.

    A transmission at X counts as seen at Y when Y has as many transmissions of
    the same (offset, length); the earliest surplus ones at X are lost (the
    retransmissions come later). A segment with no equal at Y is an offload
    artifact at X when Y carried its whole range as two or more segments and X
    never re-sent that range in other pieces itself; a part of one bigger Y
    segment (offload at Y) is not lost; anything else is lost.

    Args:
        x: the segments at X (one connection, one direction).
        y: the segments at Y.
        window: (first, last) time of Y's capture in X's clock; X segments
            outside it are not judged.

    Returns:
        (rows of X lost, [(row of X offloaded, frames of its pieces at Y)]).
    """
    key_x = x.rel * (1 << 20) + x.len
    key_y = y.rel * (1 << 20) + y.len
    uy, cy = np.unique(key_y, return_counts=True)
    if len(uy):
        pos = np.minimum(np.searchsorted(uy, key_x), len(uy) - 1)
        n_y = np.where(uy[pos] == key_x, cy[pos], 0)
    else:
        n_y = np.zeros(len(key_x), dtype=np.int64)
    # Rank of each transmission among equal ones at X, earliest first; the
    # earliest ones beyond what Y saw are the lost ones (retransmissions follow).
    order = np.lexsort((x.frame, key_x))
    sk = key_x[order]
    first = np.searchsorted(sk, sk, side="left")
    rank = np.empty(len(x.rel), dtype=np.int64)
    rank[order] = np.arange(len(sk)) - first
    n_x = np.empty(len(x.rel), dtype=np.int64)
    n_x[order] = np.searchsorted(sk, sk, side="right") - first
    inside = (x.ts >= window[0]) & (x.ts <= window[1])
    lost = inside & (n_y > 0) & (rank < n_x - n_y)
    none = inside & (n_y == 0)
    offloaded: list[tuple[int, list[int]]] = []
    if none.any():
        ys = np.argsort(y.rel, kind="stable")
        y_start, y_end, y_frame = y.rel[ys], y.rel[ys] + y.len[ys], y.frame[ys]
        xs = np.sort(x.rel)
        for i in np.flatnonzero(none).tolist():
            lo, hi = int(x.rel[i]), int(x.rel[i] + x.len[i])
            covered = _contiguous(y_start, y_end, lo, hi)
            a, b = np.searchsorted(y_start, [lo, hi])
            x_other = int(np.searchsorted(xs, hi) - np.searchsorted(xs, lo)) - int(n_x[i])
            if covered and x_other == 0 and b - a >= 2:
                offloaded.append((i, y_frame[a:b].tolist()))
            elif not (covered and x_other == 0):
                lost[i] = True
    return np.flatnonzero(lost), offloaded


def _contiguous(start: I64, end: I64, lo: int, hi: int) -> bool:
    """Whether the Y segments overlapping [lo, hi) leave no hole in it."""
    sel = (end > lo) & (start < hi)
    s, e = start[sel], end[sel]
    if len(s) == 0 or s.min() > lo:
        return False
    reach = lo
    for a, b in sorted(zip(s.tolist(), e.tolist(), strict=True)):
        if a > reach:
            return False
        reach = max(reach, b)
    return reach >= hi


def segment_changes(
    conn_a: int,
    conn_b: int,
    ia: SegIndex,
    ib: SegIndex,
    digests: tuple[dict[int, tuple[int, int, int]], dict[int, tuple[int, int, int]]],
    span_a: tuple[int, int],
    span_b: tuple[int, int],
    offset_ns: int,
    client_side: str | None,
) -> tuple[list[Change], tuple[int, int], tuple[int, int]]:
    """The lost and offloaded segments of one matched connection, both directions.

    Directions whose digests are equal at both points are skipped unread.

    Returns:
        The changes (at most `MAX_SEGMENT_CHANGES` of each kind per direction and
        point), and the lost and offloaded counts per direction.
    """
    out: list[Change] = []
    lost_n, off_n = [0, 0], [0, 0]
    for d, name in enumerate(DIRECTIONS):
        if digests[0].get(conn_a * 2 + d) == digests[1].get(conn_b * 2 + d):
            continue  # the fast path: the same segments at both points
        sa, sb = ia.get(conn_a, d), ib.get(conn_b, d)
        sender = client_side if d == 0 else {"a": "b", "b": "a"}.get(client_side or "")
        for point, x, y, window in (
            ("a", sa, sb, (span_b[0] - offset_ns, span_b[1] - offset_ns)),
            ("b", sb, sa, (span_a[0] + offset_ns, span_a[1] + offset_ns)),
        ):
            lost, offloaded = unseen(x, y, window)
            lost_n[d] += len(lost)
            off_n[d] += len(offloaded)
            lost = lost[np.argsort(x.frame[lost], kind="stable")]
            for i in lost[:MAX_SEGMENT_CHANGES].tolist():
                size, frame = int(x.len[i]), (int(x.frame[i]),)
                out.append(
                    Change(
                        kind="lost-between-points", direction=name, field="tcp.len",
                        a=size if point == "a" else None, b=size if point == "b" else None,
                        frames_a=frame if point == "a" else (),
                        frames_b=frame if point == "b" else (),
                        seen_at=point,
                        note=f"relative seq {int(x.rel[i])}, IP length {int(x.ip_len[i])}",
                        ip_len=int(x.ip_len[i]), rel_seq=int(x.rel[i]),
                    )
                )  # fmt: skip
            for i, pieces in offloaded[:MAX_SEGMENT_CHANGES]:
                size, frame = int(x.len[i]), (int(x.frame[i]),)
                host = (
                    "sending host (TSO/GSO)" if sender == point
                    else "receiving host (GRO/LRO)" if sender is not None
                    else "capturing host"
                )  # fmt: skip
                others = tuple(pieces[:MAX_PIECES])
                out.append(
                    Change(
                        kind="offload-artifact", direction=name, field="tcp.len",
                        a=size if point == "a" else len(pieces),
                        b=size if point == "b" else len(pieces),
                        frames_a=frame if point == "a" else others,
                        frames_b=frame if point == "b" else others,
                        delta=len(pieces), seen_at=point, ip_len=int(x.ip_len[i]),
                        note=f"IP length {int(x.ip_len[i])}, seen as {len(pieces)} "
                        f"segments at the other point: coalesced by the {host}",
                    )
                )  # fmt: skip
    return out, (lost_n[0], lost_n[1]), (off_n[0], off_n[1])
