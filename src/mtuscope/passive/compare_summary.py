"""Per-capture connection summaries for comparing two capture points.

Layer: passive/. Pure functions over `PacketTable` columns (numpy in, polars
frames out); no I/O, no clock. Reading the files is the caller's job.

For each capture this keeps, column-wise and chunk by chunk:

- every TCP row that carries a SYN or payload (pure ACKs are dropped: they say
  nothing the comparison needs, and they are about half of all packets);
- per connection (canonical, direction-free key) the first frame and time span;
- the ICMP too-big messages (frag-needed, packet-too-big) with their quote.

`finish_summary` then builds one row per connection (ids from 1 in order of
first frame, as `mtuscope analyze` numbers them), with the handshake (ISN, MSS,
window scale, SACK-permitted, timestamps, TTL, IP id of SYN and SYN/ACK), and
one row per data segment as a *fingerprint*: (relative sequence offset,
length, IP id, time). The capture block holds headers only, so payload hashes
are not available; the PacketTable has no TCP timestamp value column either,
so the fingerprint is built from relative sequence offset, length and IP id.

Partials merge by concatenation (associative; chunks in file order), so the
memory held is proportional to the SYN and data segments of the capture, not
to its bytes: about 80 bytes per data segment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.capture.table import PacketTable

SYN, ACK, FIN, RST = 2, 16, 1, 4
KEY = ("a_hi", "a_lo", "a_port", "b_hi", "b_lo", "b_port")
"""Canonical connection key: endpoint A (address halves, port) < endpoint B."""

_ROW_COLS = {
    "frame": "frame",
    "ts": "ts_ns",
    "flags": "tcp_flags",
    "seq": "seq",
    "payload": "payload",
    "ip_len": "ip_len",
    "ip_id": "ip_id",
    "ttl": "ttl",
    "mss": "mss",
    "ws": "wscale",
    "sack": "sack_perm",
    "tso": "tsopt",
    "family": "family",
}
_HS_COLS = ("frame", "ts", "seq", "mss", "ws", "sack", "tso", "ttl", "ip_id")
"""Handshake columns kept per connection, prefixed `syn_` and `sa_`."""


@dataclass(frozen=True, slots=True)
class SummaryPartial:
    """What consecutive chunks of a capture contribute (merge with `merge_summaries`)."""

    capture: str
    rows: pl.DataFrame
    """TCP rows with SYN or payload: key, dir, frame, ts, flags, seq, payload, options..."""
    spans: pl.DataFrame
    """Per key: first_frame, first_ts, last_ts, packets."""
    icmp: pl.DataFrame
    """ICMP too-big rows: frame, ts, sender halves, family, ttl, mtu, quoted key."""
    frames: int
    first_ts: int | None
    last_ts: int | None


@dataclass(frozen=True, slots=True)
class CaptureSummary:
    """One capture point, summarised for comparison."""

    capture: str
    conns: pl.DataFrame
    """One row per connection: id, key, family, client/server halves and ports,
    first_frame, first_ts, last_ts, t0 (SYN time, else first time), handshake
    columns `syn_*` / `sa_*` (null when not seen), c_bytes / s_bytes (bytes of
    sequence space each direction covered)."""
    segs: pl.DataFrame
    """One row per data segment: id, cdir (0 client->server, 1 server->client),
    rel (sequence offset from the direction's ISN+1, wrap-safe), len, ip_len,
    ip_id, frame, ts. Sorted by (id, cdir, rel, frame)."""
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


def summarise_chunk(table: PacketTable, *, capture: str) -> SummaryPartial:
    """The comparison-relevant part of one chunk.

    Args:
        table: one chunk of a capture, decoded.
        capture: the capture's name (its path), carried into evidence.

    Returns:
        A partial; merge partials of consecutive chunks with `merge_summaries`.
    """
    c: Mapping[str, Any] = table.columns  # typed per column by COLUMNS, not by mypy
    n = len(table)
    # Fragments are left out: a first fragment's payload length is not the segment's.
    tcp = (c["proto"] == 6) & (c["family"] != 0) & ~c["fragment"] & ~c["truncated"]
    idx = np.flatnonzero(tcp)
    key = canonical(
        c["src_hi"][idx], c["src_lo"][idx], c["sport"][idx],
        c["dst_hi"][idx], c["dst_lo"][idx], c["dport"][idx],
    )  # fmt: skip
    all_tcp = pl.DataFrame({**key, "frame": c["frame"][idx], "ts": c["ts_ns"][idx]})
    spans = all_tcp.group_by(list(KEY)).agg(
        pl.col("frame").min().alias("first_frame"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        pl.len().cast(pl.Int64).alias("packets"),
    )
    keep = ((c["tcp_flags"][idx] & SYN) != 0) | (c["payload"][idx] > 0)
    sel = idx[keep]
    rows = pl.DataFrame(
        {
            **{k: v[keep] for k, v in key.items()},
            **{name: c[col][sel] for name, col in _ROW_COLS.items()},
        }
    )
    icmp = _icmp_rows(table)
    ts = c["ts_ns"]
    return SummaryPartial(
        capture=capture,
        rows=rows,
        spans=spans,
        icmp=icmp,
        frames=n,
        first_ts=int(ts.min()) if n else None,
        last_ts=int(ts.max()) if n else None,
    )


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
        )
    )
    return SummaryPartial(
        capture=a.capture,
        rows=pl.concat([a.rows, b.rows]),
        spans=spans,
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


def finish_summary(p: SummaryPartial) -> CaptureSummary:
    """One row per connection and one per data segment, for the whole capture.

    Args:
        p: the partial of the whole capture (all chunks merged in file order).

    Returns:
        The capture's summary.
    """
    conns = p.spans.sort("first_frame").with_row_index("id", offset=1)
    conns = conns.with_columns(pl.col("id").cast(pl.Int64))
    rows = p.rows
    syn = (pl.col("flags") & SYN) != 0
    ack = (pl.col("flags") & ACK) != 0
    conns = conns.join(_first(rows.filter(syn & ~ack), "syn_"), on=list(KEY), how="left")
    conns = conns.join(_first(rows.filter(syn & ack), "sa_"), on=list(KEY), how="left")
    fam = rows.group_by(list(KEY)).agg(pl.col("family").first())
    conns = conns.join(fam, on=list(KEY), how="left").with_columns(pl.col("family").fill_null(0))
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
    segs = _segments(rows, conns)
    extent = segs.group_by("id", "cdir").agg((pl.col("rel") + pl.col("len")).max().alias("end"))
    for d, name in ((0, "c_bytes"), (1, "s_bytes")):
        part = extent.filter(pl.col("cdir") == d).select("id", pl.col("end").alias(name))
        conns = conns.join(part, on="id", how="left").with_columns(pl.col(name).fill_null(0))
    conns = conns.sort("id")
    icmp = p.icmp.join(
        conns.select(*KEY, pl.col("id").alias("connection")), on=list(KEY), how="left"
    )
    icmp = icmp.with_columns(
        pl.when(pl.col("quoted")).then(pl.col("connection")).otherwise(None).alias("connection")
    ).sort("frame")
    return CaptureSummary(
        capture=p.capture,
        conns=conns,
        segs=segs,
        icmp=icmp,
        frames=p.frames,
        first_ts=p.first_ts,
        last_ts=p.last_ts,
    )


def _segments(rows: pl.DataFrame, conns: pl.DataFrame) -> pl.DataFrame:
    data = rows.filter(pl.col("payload") > 0).join(
        conns.select(*KEY, "id", "cdir", "syn_seq", "sa_seq").rename({"cdir": "client_dir"}),
        on=list(KEY),
        how="inner",
    )
    data = data.with_columns((pl.col("dir") != pl.col("client_dir")).cast(pl.Int8).alias("cdir"))
    # Without the handshake, the direction's first data segment (by frame) is offset 0.
    first_seq = (
        data.sort("frame")
        .group_by("id", "cdir", maintain_order=True)
        .agg(pl.col("seq").first().cast(pl.Int64).alias("first_seq"))
    )
    data = data.join(first_seq, on=["id", "cdir"], how="left")
    isn = pl.when(pl.col("cdir") == 0).then(pl.col("syn_seq")).otherwise(pl.col("sa_seq"))
    base = pl.coalesce(isn.cast(pl.Int64) + 1, pl.col("first_seq"))
    # Signed 32-bit distance from the base: exact across the 2**32 wrap.
    rel = ((pl.col("seq").cast(pl.Int64) - base + (1 << 31)) % (1 << 32)) - (1 << 31)
    return data.select(
        "id",
        "cdir",
        rel.alias("rel"),
        pl.col("payload").cast(pl.Int64).alias("len"),
        pl.col("ip_len").cast(pl.Int64),
        pl.col("ip_id").cast(pl.Int64),
        "frame",
        "ts",
    ).sort("id", "cdir", "rel", "frame")


def summarise(tables: list[PacketTable], *, capture: str) -> CaptureSummary:
    """Summarise a capture held as a list of chunks (file order); a convenience for tests.

    Args:
        tables: the capture's chunks in file order (at least one).
        capture: the capture's name.

    Returns:
        The capture's summary.
    """
    parts = [summarise_chunk(t, capture=capture) for t in tables or [PacketTable.empty()]]
    acc = parts[0]
    for part in parts[1:]:
        acc = merge_summaries(acc, part)
    return finish_summary(acc)
