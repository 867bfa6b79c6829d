"""Per-capture connection summaries for comparing two capture points.

Layer: passive/. Pure functions over `PacketTable` columns (numpy in, polars
frames out); no I/O, no clock. Reading the files is the caller's job.

A capture is read in two passes (three when the points differ), chunk by
chunk; each pass's partials merge associatively (chunks in file order, any
grouping), and what they hold grows with the connections, not the packets:

1. `summarise_chunk` / `merge_summaries` / `finish_connections`: per
   connection (canonical, direction-free key) the first frame and time span,
   the first SYN and SYN/ACK (ISN, MSS, window scale, SACK-permitted,
   timestamps, TTL, IP id), the first data segment of each direction (the
   sequence base when the handshake was not seen); and the ICMP too-big
   messages (frag-needed, packet-too-big) with their quote. Connection ids run
   from 1 in order of first frame, as `mtuscope analyze` numbers them.
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

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.capture.table import PacketTable

SYN, ACK, FIN, RST = 2, 16, 1, 4
KEY = ("a_hi", "a_lo", "a_port", "b_hi", "b_lo", "b_port")
"""Canonical connection key: endpoint A (address halves, port) < endpoint B."""
NO_FRAME = 1 << 62
"""Stands for "no such frame" where the least frame number is taken."""

_ROW_COLS = {  # kept from SYN and SYN/ACK rows
    "frame": "frame",
    "ts": "ts_ns",
    "flags": "tcp_flags",
    "seq": "seq",
    "ip_id": "ip_id",
    "ttl": "ttl",
    "mss": "mss",
    "ws": "wscale",
    "sack": "sack_perm",
    "tso": "tsopt",
}
_HS_COLS = ("frame", "ts", "seq", "mss", "ws", "sack", "tso", "ttl", "ip_id")
"""Handshake columns kept per connection, prefixed `syn_` and `sa_`."""


@dataclass(frozen=True, slots=True)
class SummaryPartial:
    """What consecutive chunks of a capture contribute (merge with `merge_summaries`)."""

    capture: str
    syns: pl.DataFrame
    """The first SYN and the first SYN/ACK per key: key, dir, frame, ts, flags, seq, options..."""
    spans: pl.DataFrame
    """Per key: first_frame, first_ts, last_ts, packets, and the family of the first
    SYN or data row (fam_frame, family; fam_frame `NO_FRAME` when none)."""
    leads: pl.DataFrame
    """Per key and direction: frame and sequence number of the first data segment."""
    icmp: pl.DataFrame
    """ICMP too-big rows: frame, ts, sender halves, family, ttl, mtu, quoted key."""
    frames: int
    first_ts: int | None
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class ConnectionTable:
    """The connections of one capture (first pass), before its data segments are read."""

    capture: str
    conns: pl.DataFrame
    """One row per connection: id, key, family, cdir, client/server halves and ports,
    first_frame, first_ts, last_ts, t0, handshake columns `syn_*` / `sa_*`, and
    c_base / s_base (the raw sequence number each direction's offset 0 is at)."""
    icmp: pl.DataFrame
    frames: int
    first_ts: int | None
    last_ts: int | None


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
    """ICMP too-big messages: frame, ts, sender_hi/lo, family, ttl, mtu, connection (id|null)."""
    frames: int
    first_ts: int | None
    last_ts: int | None


def canonical(
    src_hi: npt.NDArray[np.uint64],
    src_lo: npt.NDArray[np.uint64],
    sport: npt.NDArray[np.integer],
    dst_hi: npt.NDArray[np.uint64],
    dst_lo: npt.NDArray[np.uint64],
    dport: npt.NDArray[np.integer],
) -> dict[str, npt.NDArray[np.generic]]:
    """Order each row's endpoints so both directions of a connection share one key.

    Args:
        src_hi, src_lo, sport: the sender's address halves and port.
        dst_hi, dst_lo, dport: the receiver's.

    Returns:
        Columns `KEY` plus `dir` (1 where the sender is endpoint B).
    """
    sp, dp = sport.astype(np.int64), dport.astype(np.int64)
    swap = (src_hi > dst_hi) | (
        (src_hi == dst_hi) & ((src_lo > dst_lo) | ((src_lo == dst_lo) & (sp > dp)))
    )
    return {
        "a_hi": np.where(swap, dst_hi, src_hi),
        "a_lo": np.where(swap, dst_lo, src_lo),
        "a_port": np.where(swap, dp, sp),
        "b_hi": np.where(swap, src_hi, dst_hi),
        "b_lo": np.where(swap, src_lo, dst_lo),
        "b_port": np.where(swap, sp, dp),
        "dir": swap.astype(np.int8),
    }


def _tcp_rows(table: PacketTable) -> tuple[npt.NDArray[np.intp], dict[str, Any]]:
    c: Mapping[str, Any] = table.columns  # typed per column by COLUMNS, not by mypy
    # Fragments are left out: a first fragment's payload length is not the segment's.
    tcp = (c["proto"] == 6) & (c["family"] != 0) & ~c["fragment"] & ~c["truncated"]
    idx = np.flatnonzero(tcp)
    key = canonical(
        c["src_hi"][idx], c["src_lo"][idx], c["sport"][idx],
        c["dst_hi"][idx], c["dst_lo"][idx], c["dport"][idx],
    )  # fmt: skip
    return idx, key


def summarise_chunk(table: PacketTable, *, capture: str) -> SummaryPartial:
    """The comparison-relevant part of one chunk, first pass (connections only).

    Args:
        table: one chunk of a capture, decoded.
        capture: the capture's name (its path), carried into evidence.

    Returns:
        A partial; merge partials of consecutive chunks with `merge_summaries`.
    """
    c: Mapping[str, Any] = table.columns
    n = len(table)
    idx, key = _tcp_rows(table)
    flags = c["tcp_flags"][idx]
    payload = c["payload"][idx]
    syn = (flags & SYN) != 0
    lead = syn | (payload > 0)
    frame = c["frame"][idx].astype(np.int64)
    all_tcp = pl.DataFrame(
        {
            **{k: key[k] for k in KEY},
            "frame": frame,
            "ts": c["ts_ns"][idx],
            "fam_frame": np.where(lead, frame, NO_FRAME),
            "family": np.where(lead, c["family"][idx], 0).astype(np.int64),
        }
    )
    spans = all_tcp.group_by(list(KEY)).agg(
        pl.col("frame").min().alias("first_frame"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        pl.len().cast(pl.Int64).alias("packets"),
        pl.col("fam_frame").min(),
        pl.col("family").sort_by("fam_frame").first(),
    )
    sel = idx[syn]
    syns = pl.DataFrame(
        {
            **{k: v[syn] for k, v in key.items()},
            **{name: c[col][sel] for name, col in _ROW_COLS.items()},
        }
    )
    data = payload > 0
    leads = pl.DataFrame(
        {
            **{k: v[data] for k, v in key.items()},
            "lead_frame": frame[data],
            "lead_seq": c["seq"][idx[data]].astype(np.int64),
        }
    )
    ts = c["ts_ns"]
    return SummaryPartial(
        capture=capture,
        syns=_first_syns(syns),
        spans=spans,
        leads=_first_leads(leads),
        icmp=_icmp_rows(table),
        frames=n,
        first_ts=int(ts.min()) if n else None,
        last_ts=int(ts.max()) if n else None,
    )


def _first_syns(syns: pl.DataFrame) -> pl.DataFrame:
    """The first SYN and the first SYN/ACK (by frame) of each key."""
    kind = ((pl.col("flags") & ACK) != 0).alias("_sa")
    return (
        syns.sort("frame")
        .with_columns(kind)
        .group_by([*KEY, "_sa"], maintain_order=True)
        .first()
        .drop("_sa")
        .select(syns.columns)
    )


def _first_leads(leads: pl.DataFrame) -> pl.DataFrame:
    """The first data segment (by frame) of each key and direction."""
    return leads.sort("lead_frame").group_by([*KEY, "dir"], maintain_order=True).first()


def _icmp_rows(table: PacketTable) -> pl.DataFrame:
    c: Mapping[str, Any] = table.columns
    big = (c["icmp_mtu"] >= 0) & (
        ((c["family"] == 4) & (c["icmp_type"] == 3) & (c["icmp_code"] == 4))
        | ((c["family"] == 6) & (c["icmp_type"] == 2))
    )
    i = np.flatnonzero(big)
    quoted = (c["q_family"][i] != 0) & (c["q_proto"][i] == 6) & (c["q_sport"][i] >= 0)
    key = canonical(
        c["q_src_hi"][i], c["q_src_lo"][i], np.maximum(c["q_sport"][i], 0),
        c["q_dst_hi"][i], c["q_dst_lo"][i], np.maximum(c["q_dport"][i], 0),
    )  # fmt: skip
    return pl.DataFrame(
        {
            "frame": c["frame"][i],
            "ts": c["ts_ns"][i],
            "sender_hi": c["src_hi"][i],
            "sender_lo": c["src_lo"][i],
            "family": c["family"][i],
            "ttl": c["ttl"][i],
            "mtu": c["icmp_mtu"][i],
            "quoted": quoted,
            **{k: v for k, v in key.items() if k != "dir"},
        }
    )


def merge_summaries(a: SummaryPartial, b: SummaryPartial) -> SummaryPartial:
    """Combine the partials of consecutive chunks (`a` before `b`); associative.

    Args:
        a: the earlier chunks' partial.
        b: the later chunks' partial (same capture).

    Returns:
        The partial of both.
    """
    spans = (
        pl.concat([a.spans, b.spans])
        .group_by(list(KEY))
        .agg(
            pl.col("first_frame").min(),
            pl.col("first_ts").min(),
            pl.col("last_ts").max(),
            pl.col("packets").sum(),
            pl.col("fam_frame").min(),
            pl.col("family").sort_by("fam_frame").first(),
        )
    )
    return SummaryPartial(
        capture=a.capture,
        syns=_first_syns(pl.concat([a.syns, b.syns])),
        spans=spans,
        leads=_first_leads(pl.concat([a.leads, b.leads])),
        icmp=pl.concat([a.icmp, b.icmp]),
        frames=a.frames + b.frames,
        first_ts=_pick(min, a.first_ts, b.first_ts),
        last_ts=_pick(max, a.last_ts, b.last_ts),
    )


def _pick(fn: Callable[[int, int], int], x: int | None, y: int | None) -> int | None:
    if x is None:
        return y
    if y is None:
        return x
    return int(fn(x, y))


def _first(rows: pl.DataFrame, prefix: str) -> pl.DataFrame:
    first = rows.sort("frame").group_by(list(KEY), maintain_order=True).first()
    return first.select(
        *KEY,
        pl.col("dir").alias(f"{prefix}dir"),
        *(pl.col(col).alias(prefix + col) for col in _HS_COLS),
    )


def finish_connections(p: SummaryPartial) -> ConnectionTable:
    """One row per connection for the whole capture (end of the first pass).

    Args:
        p: the partial of the whole capture (all chunks merged in file order).

    Returns:
        The capture's connections, with the sequence base of each direction.
    """
    conns = p.spans.sort("first_frame").with_row_index("id", offset=1)
    conns = conns.with_columns(pl.col("id").cast(pl.Int64))
    syn = (pl.col("flags") & SYN) != 0
    ack = (pl.col("flags") & ACK) != 0
    conns = conns.join(_first(p.syns.filter(syn & ~ack), "syn_"), on=list(KEY), how="left")
    conns = conns.join(_first(p.syns.filter(syn & ack), "sa_"), on=list(KEY), how="left")
    conns = conns.with_columns(
        pl.when(pl.col("fam_frame") < NO_FRAME).then(pl.col("family")).otherwise(0)
    ).drop("fam_frame")
    # The client sent the SYN; else it received the SYN/ACK; else guess the
    # endpoint with the higher (ephemeral) port.
    conns = conns.with_columns(
        pl.when(pl.col("syn_dir").is_not_null())
        .then(pl.col("syn_dir"))
        .when(pl.col("sa_dir").is_not_null())
        .then(1 - pl.col("sa_dir"))
        .when(pl.col("a_port") >= pl.col("b_port"))
        .then(0)
        .otherwise(1)
        .cast(pl.Int8)
        .alias("cdir"),
    )
    a_client = pl.col("cdir") == 0
    conns = conns.with_columns(
        pl.when(a_client).then(pl.col("a_hi")).otherwise(pl.col("b_hi")).alias("client_hi"),
        pl.when(a_client).then(pl.col("a_lo")).otherwise(pl.col("b_lo")).alias("client_lo"),
        pl.when(a_client).then(pl.col("a_port")).otherwise(pl.col("b_port")).alias("client_port"),
        pl.when(a_client).then(pl.col("b_hi")).otherwise(pl.col("a_hi")).alias("server_hi"),
        pl.when(a_client).then(pl.col("b_lo")).otherwise(pl.col("a_lo")).alias("server_lo"),
        pl.when(a_client).then(pl.col("b_port")).otherwise(pl.col("a_port")).alias("server_port"),
        pl.coalesce("syn_ts", "first_ts").alias("t0"),
    )
    # Each direction's offset 0: ISN+1 from the handshake, else its first data segment.
    for d, name, isn in ((0, "c_base", "syn_seq"), (1, "s_base", "sa_seq")):
        lead = p.leads.rename({"dir": "_dir", "lead_seq": "_lead"}).drop("lead_frame")
        conns = (
            conns.with_columns(
                pl.when(pl.col("cdir") == 0).then(d).otherwise(1 - d).cast(pl.Int8).alias("_dir")
            )
            .join(lead.with_columns(pl.col("_dir").cast(pl.Int8)), on=[*KEY, "_dir"], how="left")
            .with_columns(pl.coalesce(pl.col(isn).cast(pl.Int64) + 1, pl.col("_lead")).alias(name))
            .drop("_dir", "_lead")
        )
    conns = conns.sort("id")
    icmp = p.icmp.join(
        conns.select(*KEY, pl.col("id").alias("connection")), on=list(KEY), how="left"
    )
    icmp = icmp.with_columns(
        pl.when(pl.col("quoted")).then(pl.col("connection")).otherwise(None).alias("connection")
    ).sort("frame")
    return ConnectionTable(
        capture=p.capture,
        conns=conns,
        icmp=icmp,
        frames=p.frames,
        first_ts=p.first_ts,
        last_ts=p.last_ts,
    )


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
    idx, key = _tcp_rows(table)
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
        segs = segs.filter((pl.col("id") * 2 + pl.col("cdir")).is_in(wanted))
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


def summarise(tables: list[PacketTable], *, capture: str) -> CaptureSummary:
    """Summarise a capture held as a list of chunks (file order); a convenience for tests.

    Both passes, keeping every segment.

    Args:
        tables: the capture's chunks in file order (at least one).
        capture: the capture's name.

    Returns:
        The capture's summary.
    """
    chunks = tables or [PacketTable.empty()]
    parts = [summarise_chunk(t, capture=capture) for t in chunks]
    acc = parts[0]
    for part in parts[1:]:
        acc = merge_summaries(acc, part)
    conns = finish_connections(acc)
    segs = [segment_chunk(t, conns) for t in chunks]
    seg_acc = segs[0]
    for seg in segs[1:]:
        seg_acc = merge_segments(seg_acc, seg)
    return finish_summary(conns, seg_acc)
