"""Pairing the same TCP connections seen at two capture points, and their clock offset.

Layer: passive/. Pure numpy/polars over two `CaptureSummary`s; no I/O, no clock.

Addresses and ports may be translated (NAT) and sequence numbers rewritten
between the points, so the pairing never relies on them alone. It works in
three steps:

1. A rough clock offset (B's clock minus A's) from handshake pairs with the
   same *shape*: the bytes of sequence space each direction carried (invariant
   under NAT, ISN rewriting, MSS clamping and segmentation offload). Shapes
   seen more than `MAX_SHAPE_GROUP` times at a point are ambiguous and skipped;
   the offset is the median of the densest `DENSE_WINDOW_NS` cluster of
   SYN-time differences. With no shaped pairs, SYNs are paired by rank.
2. Candidates: for each connection at A, those at B whose start (SYN time, or
   first packet) lies within `window_ns` of A's start plus the offset. Each
   pair is scored: same shape (+4 with data, +1 without), same SYN IP id (+2;
   NAT rarely rewrites it) and SYN/ACK IP id (+1), same 4-tuple (+4, no NAT),
   same server port (+1) and client port (+0.5), minus the time distance as a
   fraction of the window. Pairs scoring at least `MIN_SCORE` are assigned
   greedily, best score first, one-to-one.
3. The final offset, NTP-style: the SYN goes one way and the SYN/ACK the
   other, so half the sum of their time differences cancels the transit time
   between the points (assuming it is symmetric), and half the difference is
   that transit time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.passive.compare_summary import CaptureSummary

MAX_SHAPE_GROUP = 4
"""Connections sharing a shape at one point beyond which the shape is ambiguous."""
DENSE_WINDOW_NS = 50_000_000
"""Width of the cluster of SYN-time differences the rough offset is taken from."""
WINDOW_NS = 2_000_000_000
"""Default tolerance around the aligned start time for a candidate pair."""
MAX_CANDIDATES = 64
"""Candidates at B scored per connection at A (the nearest in time)."""

MIN_SCORE = 1.5
"""Least score of an acceptable pair: matching ports alone (+1.5) are not enough."""

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClockOffset:
    """How B's capture clock relates to A's: t_b = t_a + offset_ns."""

    offset_ns: int
    transit_ns: int | None
    """One-way time between the points (from SYN and SYN/ACK pairs), when known."""
    pairs: int
    """Connection pairs the estimate rests on."""
    method: str
    """"handshake" (SYN and SYN/ACK pairs), "syn" (SYN pairs only), "rank" or "none"."""


def _dense_median(diffs: I64, width: int) -> int:
    d = np.sort(diffs)
    ends = np.searchsorted(d, d + width, side="right")
    best = int(np.argmax(ends - np.arange(len(d))))
    return int(np.median(d[best : int(ends[best])]))


def rough_offset(a: CaptureSummary, b: CaptureSummary) -> ClockOffset:
    """A first estimate of the clock offset, before any connection is paired.

    Args:
        a: the summary of capture A.
        b: the summary of capture B.

    Returns:
        The offset (method "syn" from shaped SYN pairs, "rank" from SYNs paired in
        order, "none" when either capture has no SYN).
    """
    cols = ["t0", "family", "c_bytes", "s_bytes"]
    sa = a.conns.filter(pl.col("syn_ts").is_not_null()).select(cols)
    sb = b.conns.filter(pl.col("syn_ts").is_not_null()).select(cols)
    if sa.height == 0 or sb.height == 0:
        return ClockOffset(offset_ns=0, transit_ns=None, pairs=0, method="none")
    shape = ["family", "c_bytes", "s_bytes"]
    shaped = []
    for s in (sa, sb):
        s = s.filter((pl.col("c_bytes") + pl.col("s_bytes")) > 0)
        count = s.group_by(shape).agg(pl.len().alias("n"))
        shaped.append(s.join(count.filter(pl.col("n") <= MAX_SHAPE_GROUP), on=shape))
    pairs = shaped[0].join(shaped[1], on=shape, suffix="_b")
    if pairs.height:
        diffs = (pairs["t0_b"] - pairs["t0"]).to_numpy().astype(np.int64)
        return ClockOffset(
            offset_ns=_dense_median(diffs, DENSE_WINDOW_NS),
            transit_ns=None,
            pairs=pairs.height,
            method="syn",
        )
    n = min(sa.height, sb.height, 1000)
    ta = np.sort(sa["t0"].to_numpy())[:n]
    tb = np.sort(sb["t0"].to_numpy())[:n]
    return ClockOffset(
        offset_ns=_dense_median((tb - ta).astype(np.int64), DENSE_WINDOW_NS),
        transit_ns=None,
        pairs=n,
        method="rank",
    )


def _col(df: pl.DataFrame, name: str, fill: int = -1) -> I64:
    return df[name].fill_null(fill).cast(pl.Int64).to_numpy()


def _halves(df: pl.DataFrame, name: str) -> npt.NDArray[np.uint64]:
    """An address half column as uint64: halves of 2^63 and above (fd00::/8, fe80::/10,
    multicast, any IPv6 address whose first bit is set) do not fit an Int64."""
    got: npt.NDArray[np.uint64] = df[name].fill_null(0).cast(pl.UInt64).to_numpy()
    return got


def match_connections(
    a: CaptureSummary, b: CaptureSummary, offset: ClockOffset, *, window_ns: int = WINDOW_NS
) -> list[tuple[int, int, float]]:
    """Pair connections of A with connections of B, one-to-one.

    Args:
        a: the summary of capture A.
        b: the summary of capture B.
        offset: the clock offset to align B's times to A's (`rough_offset`).
        window_ns: how far apart (after alignment) the starts of a pair may be.

    Returns:
        (id at A, id at B, score) for each pair, in order of A's id.
    """
    ids_a, ids_b, score = candidates(a.conns, b.conns, offset.offset_ns, window_ns=window_ns)
    used_a: set[int] = set()
    used_b: set[int] = set()
    out = []
    for k in best_first(ids_a, ids_b, score).tolist():
        x, y = int(ids_a[k]), int(ids_b[k])
        if x in used_a or y in used_b:
            continue
        used_a.add(x)
        used_b.add(y)
        out.append((x, y, round(float(score[k]), 3)))
    out.sort()
    return out


def best_first(ids_a: I64, ids_b: I64, score: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """The order greedy pairing takes candidates in: best score, then A's id, then B's."""
    order: npt.NDArray[np.intp] = np.lexsort((ids_b, ids_a, -score))
    return order


def candidates(
    ca: pl.DataFrame, cb: pl.DataFrame, offset_ns: int, *, window_ns: int = WINDOW_NS
) -> tuple[I64, I64, npt.NDArray[np.float64]]:
    """The scored candidate pairs of each connection of `ca` among those of `cb`.

    A connection's candidates depend only on the connections of `cb` whose start
    lies within `window_ns` of its own (aligned): any `cb` holding those gives it
    the same candidates and scores.

    Args:
        ca: connections at A (`CaptureSummary.conns` rows, any subset, in id order).
        cb: connections at B, in id order.
        offset_ns: B's clock minus A's.
        window_ns: how far apart (after alignment) the starts of a pair may be.

    Returns:
        (id at A, id at B, score) arrays of the acceptable pairs (score at least
        `MIN_SCORE`, same IP version).
    """
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))
    if ca.height == 0 or cb.height == 0:
        return none
    tb_all = _col(cb, "t0") - offset_ns
    order_b = np.argsort(tb_all, kind="stable")
    tb = tb_all[order_b]
    ta = _col(ca, "t0")
    lo = np.searchsorted(tb, ta - window_ns, side="left")
    hi = np.searchsorted(tb, ta + window_ns, side="right")
    # Keep at most MAX_CANDIDATES per A, centred on the nearest in time.
    near = np.searchsorted(tb, ta)
    lo = np.maximum(lo, near - MAX_CANDIDATES // 2)
    hi = np.minimum(hi, lo + MAX_CANDIDATES)
    counts = np.maximum(hi - lo, 0)
    ia = np.repeat(np.arange(ca.height), counts)
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    ib = order_b[np.arange(len(ia)) + starts]
    if len(ia) == 0:
        return none

    def same(name: str, fill: int = -1) -> npt.NDArray[np.bool_]:
        xa, xb = _col(ca, name, fill)[ia], _col(cb, name, fill)[ib]
        eq: npt.NDArray[np.bool_] = (xa == xb) & (xa != fill)
        return eq

    cba, sba = _col(ca, "c_bytes")[ia], _col(ca, "s_bytes")[ia]
    shape = (cba == _col(cb, "c_bytes")[ib]) & (sba == _col(cb, "s_bytes")[ib])
    has_data = (cba + sba) > 0

    def same_half(name: str) -> npt.NDArray[np.bool_]:
        # compared as they are: the high half of every IPv4 address (mapped) is 0
        eq: npt.NDArray[np.bool_] = _halves(ca, name)[ia] == _halves(cb, name)[ib]
        return eq

    client_port, server_port = same("client_port", 0), same("server_port", 0)
    tuple_same = (
        client_port
        & server_port
        & same_half("client_lo")
        & same_half("server_lo")
        & same_half("client_hi")
        & same_half("server_hi")
    )
    score = (
        np.where(shape, np.where(has_data, 4.0, 1.0), 0.0)
        + 2.0 * same("syn_ip_id", 0)
        + 1.0 * same("sa_ip_id", 0)
        + 4.0 * tuple_same
        + 1.0 * server_port
        + 0.5 * client_port
        - np.abs(ta[ia] - tb_all[ib]) / window_ns
    )
    # Both points see the same IP version (NAT64 is not followed).
    ok = (score >= MIN_SCORE) & (_col(ca, "family")[ia] == _col(cb, "family")[ib])
    return _col(ca, "id")[ia[ok]], _col(cb, "id")[ib[ok]], score[ok]


def refine_offset(
    a: CaptureSummary, b: CaptureSummary, pairs: list[tuple[int, int, float]], rough: ClockOffset
) -> ClockOffset:
    """The clock offset from the handshakes of paired connections.

    Args:
        a: the summary of capture A.
        b: the summary of capture B.
        pairs: (id at A, id at B, score) from `match_connections`.
        rough: the first estimate, returned when no pair has a handshake.

    Returns:
        The offset: method "handshake" when pairs have both SYN and SYN/ACK at both
        points (with the transit time), "syn" when only SYNs, else `rough`.
    """
    if not pairs:
        return rough
    ids = pl.DataFrame(
        {"id": [p[0] for p in pairs], "id_b": [p[1] for p in pairs]},
        schema={"id": pl.Int64, "id_b": pl.Int64},
    )
    cols = ["id", "syn_ts", "sa_ts"]
    joined = ids.join(a.conns.select(cols), on="id").join(
        b.conns.select(cols).rename({"id": "id_b"}), on="id_b", suffix="_b"
    )
    syn_a, syn_b, sa_a, sa_b = (
        _col(joined, c, MISSING) for c in ("syn_ts", "syn_ts_b", "sa_ts", "sa_ts_b")
    )
    return offset_of_handshakes(syn_a, syn_b, sa_a, sa_b, rough)


MISSING = int(np.iinfo(np.int64).min)
"""A time not seen, in `offset_of_handshakes`' arrays."""


def offset_of_handshakes(
    syn_a: I64, syn_b: I64, sa_a: I64, sa_b: I64, rough: ClockOffset
) -> ClockOffset:
    """The NTP-style offset from the SYN and SYN/ACK times of paired connections.

    Args:
        syn_a, syn_b: the SYN time of each pair at A and at B (`MISSING`: not seen).
        sa_a, sa_b: the SYN/ACK time of each pair at A and at B (`MISSING`: not seen).
        rough: returned when no pair has a SYN at both points.

    Returns:
        See `refine_offset`.
    """
    syn = (syn_a != MISSING) & (syn_b != MISSING)
    if not syn.any():
        return rough
    both = syn & (sa_a != MISSING) & (sa_b != MISSING)
    if not both.any():
        d_syn = syn_b[syn] - syn_a[syn]
        return ClockOffset(
            offset_ns=int(np.median(d_syn)), transit_ns=None, pairs=int(syn.sum()), method="syn"
        )
    d1 = syn_b[both] - syn_a[both]
    d2 = sa_b[both] - sa_a[both]
    return ClockOffset(
        offset_ns=int(np.median((d1 + d2) // 2)),
        transit_ns=int(np.median(np.abs(d1 - d2) // 2)),
        pairs=int(both.sum()),
        method="handshake",
    )
