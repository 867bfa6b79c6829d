"""Per-capture summaries for comparing two capture points: the segment digests.

Layer: passive/. Pure functions over `PacketTable` columns (numpy in, polars
frames out); no I/O, no clock. Reading the files is the caller's job.

`compare` itself reads each capture once (`compare_stream`, which summarises
each connection with these functions as it retires); the whole-capture passes
below are what it is tested against.

A capture is read in two passes (three when the points differ), chunk by
chunk; each pass's partials merge associatively (chunks in file order, any
grouping), and what they hold grows with the connections, not the packets:

1. The connections and handshakes (`passive.compare_connections`), with the
   flow extraction `analyze` uses.
2. `segment_chunk` / `merge_segments` / `finish_summary`: each data segment is
   fingerprinted by (relative sequence offset, length) and folded into one row
   per connection direction: count, largest payload, extent, and a multiset
   digest (the sum of a 64-bit hash of each fingerprint, kept as two 32-bit
   halves). Two directions with the same count and digest carried the same
   segments (up to a 2**-64 hash collision), which is the common case.
3. The same pass with `keep`: the segment rows (offset, length, IP length, IP
   id, frame, time) of only the directions whose digests differ between the
   points, which loss and offload detection read segment by segment.

The capture block holds headers only, so payload hashes are not available;
the PacketTable has no TCP timestamp value column either, so the fingerprint
is built from relative sequence offset and length. Memory: about 1 kB per
connection plus the rows of the kept directions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.capture.table import PacketTable
from mtuscope.passive.compare_connections import ConnectionTable
from mtuscope.passive.flows import KEY, tcp_keys, tcp_rows


@dataclass(frozen=True, slots=True)
class SegmentPartial:
    """What consecutive chunks contribute in the second pass (merge with `merge_segments`)."""

    stats: pl.DataFrame
    """Per (id, cdir): n, big (largest payload), end (max rel + len), dh / dl (sums
    of the high / low halves of each segment's 64-bit (rel, len) hash)."""
    segs: pl.DataFrame
    """The data segments of the kept directions (see `CaptureSummary.segs`)."""


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """One capture point, summarised for comparison."""

    capture: str
    conns: pl.DataFrame
    """One row per connection: id, key, family, client/server halves and ports,
    first_frame, first_ts, last_ts, t0 (SYN time, else first time), handshake
    columns `syn_*` / `sa_*` (null when not seen), c_base / s_base, c_bytes /
    s_bytes (bytes of sequence space each direction covered)."""
    dirs: pl.DataFrame
    """One row per connection direction with data: id, cdir, n (segments), big
    (largest payload), end, dh / dl (multiset digest of (rel, len)): two
    directions with equal (n, dh, dl) carried the same segments."""
    segs: pl.DataFrame
    """One row per data segment of the kept directions: id, cdir (0
    client->server, 1 server->client), rel (sequence offset from the
    direction's ISN+1, wrap-safe), len, ip_len, ip_id, frame, ts. Sorted by
    (id, cdir, rel, frame)."""
    kept: frozenset[int] | None
    """Directions (id * 2 + cdir) whose segments are in `segs`; None: all of them."""
    icmp: pl.DataFrame
    """ICMP too-big messages (`ConnectionTable.icmp`)."""
    frames: int
    first_ts: int | None
    last_ts: int | None


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: a well-spread 64-bit hash of each value (wrapping)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    out: npt.NDArray[np.uint64] = x ^ (x >> np.uint64(31))
    return out


_STATS_SCHEMA = {
    "id": pl.Int64,
    "cdir": pl.Int8,
    "n": pl.Int64,
    "big": pl.Int64,
    "end": pl.Int64,
    "dh": pl.Int64,
    "dl": pl.Int64,
}


def segment_chunk(
    table: PacketTable, conns: ConnectionTable, *, keep: Collection[int] | None = None
) -> SegmentPartial:
    """The data segments of one chunk, second pass: per-direction digests, some rows.

    Args:
        table: one chunk of the capture, decoded.
        conns: the capture's connections (`finish_connections` of the first pass).
        keep: directions (id * 2 + cdir) whose segment rows to keep; None: all.

    Returns:
        A partial; merge partials of consecutive chunks with `merge_segments`.
    """
    c: Mapping[str, Any] = table.columns
    idx = tcp_rows(c)
    key = tcp_keys(c, idx).columns()
    data = c["payload"][idx] > 0
    sel = idx[data]
    rows = pl.DataFrame(
        {
            **{k: v[data] for k, v in key.items()},
            "seq": c["seq"][sel].astype(np.int64),
            "len": c["payload"][sel].astype(np.int64),
            "ip_len": c["ip_len"][sel].astype(np.int64),
            "ip_id": c["ip_id"][sel].astype(np.int64),
            "frame": c["frame"][sel],
            "ts": c["ts_ns"][sel],
        }
    ).join(
        conns.conns.select(*KEY, "id", pl.col("cdir").alias("client_dir"), "c_base", "s_base"),
        on=list(KEY),
        how="inner",
    )
    return digest_segments(rows, keep=keep)


def digest_segments(rows: pl.DataFrame, *, keep: Collection[int] | None = None) -> SegmentPartial:
    """Per-direction digests (and the kept rows) of data segments of known connections.

    Args:
        rows: one row per data segment: id, dir (in the canonical key), client_dir,
            c_base, s_base (the connection's `cdir` and sequence bases), seq, len,
            ip_len, ip_id, frame, ts.
        keep: directions (id * 2 + cdir) whose segment rows to keep; None: all.

    Returns:
        A partial (see `segment_chunk`).
    """
    cdir = (pl.col("dir") != pl.col("client_dir")).cast(pl.Int8)
    base = pl.when(cdir == 0).then(pl.col("c_base")).otherwise(pl.col("s_base"))
    # Signed 32-bit distance from the base: exact across the 2**32 wrap.
    rel = ((pl.col("seq") - base + (1 << 31)) % (1 << 32)) - (1 << 31)
    segs = rows.select(
        "id", cdir.alias("cdir"), rel.alias("rel"), "len", "ip_len", "ip_id", "frame", "ts"
    )
    fp = (segs["rel"] * (1 << 20) + segs["len"]).to_numpy().astype(np.int64).view(np.uint64)
    h = _mix(fp)
    segs_h = segs.with_columns(
        pl.Series("dh", (h >> np.uint64(32)).astype(np.int64)),
        pl.Series("dl", (h & np.uint64(0xFFFFFFFF)).astype(np.int64)),
    )
    stats = segs_h.group_by("id", "cdir").agg(
        pl.len().cast(pl.Int64).alias("n"),
        pl.col("len").max().alias("big"),
        (pl.col("rel") + pl.col("len")).max().alias("end"),
        pl.col("dh").sum(),
        pl.col("dl").sum(),
    )
    if keep is not None:
        wanted = pl.Series(sorted(keep), dtype=pl.Int64)
        segs = segs.filter((pl.col("id") * 2 + pl.col("cdir")).is_in(wanted.implode()))
    stats = stats.select(pl.col(k).cast(t) for k, t in _STATS_SCHEMA.items())
    return SegmentPartial(stats=stats, segs=segs)


def merge_segments(a: SegmentPartial, b: SegmentPartial) -> SegmentPartial:
    """Combine the second-pass partials of consecutive chunks (`a` before `b`); associative.

    Args:
        a: the earlier chunks' partial.
        b: the later chunks' partial (same capture, same `keep`).

    Returns:
        The partial of both.
    """
    stats = (
        pl.concat([a.stats, b.stats])
        .group_by("id", "cdir")
        .agg(
            pl.col("n").sum(),
            pl.col("big").max(),
            pl.col("end").max(),
            pl.col("dh").sum(),
            pl.col("dl").sum(),
        )
    )
    return SegmentPartial(stats=stats, segs=pl.concat([a.segs, b.segs]))


def finish_summary(
    conns: ConnectionTable, p: SegmentPartial, *, keep: Collection[int] | None = None
) -> CaptureSummary:
    """The capture's summary, from both passes.

    Args:
        conns: the connections (`finish_connections`).
        p: the second pass over the whole capture (all chunks merged in file order).
        keep: the `keep` the second pass was run with (None: all segments).

    Returns:
        The capture's summary.
    """
    dirs = p.stats.sort("id", "cdir")
    table = conns.conns
    for d, name in ((0, "c_bytes"), (1, "s_bytes")):
        part = dirs.filter(pl.col("cdir") == d).select("id", pl.col("end").alias(name))
        table = table.join(part, on="id", how="left").with_columns(pl.col(name).fill_null(0))
    return CaptureSummary(
        capture=conns.capture,
        conns=table.sort("id"),
        dirs=dirs,
        segs=p.segs.sort("id", "cdir", "rel", "frame"),
        kept=None if keep is None else frozenset(keep),
        icmp=conns.icmp,
        frames=conns.frames,
        first_ts=conns.first_ts,
        last_ts=conns.last_ts,
    )
