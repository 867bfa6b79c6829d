"""The first pass of a comparison: each capture's connections and handshakes.

Layer: passive/. Pure functions over `PacketTable` columns (numpy in, polars
frames out); no I/O, no clock. `summarise_chunk` / `merge_summaries` /
`finish_connections` give, per connection, the first frame and time span, the
first SYN and SYN/ACK (ISN, MSS, window scale, SACK-permitted, timestamps,
TTL, IP id) and the first data segment of each direction (the sequence base
when the handshake was not seen), plus the ICMP too-big messages with the
connection each quotes. The flow extraction is `analyze`'s (`passive.flows`,
`passive.icmp`, `passive.chunk.syn_table`): the same TCP rows, canonical keys,
SYN rows, client rule, connection ids and too-big rows, so both verbs number,
orient and count one capture alike.
Partials merge associatively (chunks in file order); what they hold grows with
the connections, not the packets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mtuscope.capture.table import PacketTable
from mtuscope.passive.chunk import syn_table
from mtuscope.passive.flows import FD, KEY, client_dir, number_connections, tcp_keys, tcp_rows
from mtuscope.passive.icmp import quoted_connections, too_big_table
from mtuscope.passive.partial import ACK, FIN, RST, SYN, pick

FD_COLS = FD
"""A key and a direction: the columns a segment row starts with."""

_HS_COLS = {
    "frame": "frame",
    "ts": "ts",
    "seq": "seq",
    "mss": "mss",
    "wscale": "ws",
    "sack": "sack",
    "tsopt": "tso",
    "ttl": "ttl",
    "ip_id": "ip_id",
}
"""`SYNS_SCHEMA` column -> its name in the connection table, prefixed `syn_` and `sa_`."""


@dataclass(frozen=True, slots=True)
class SummaryPartial:
    """What consecutive chunks of a capture contribute (merge with `merge_summaries`)."""

    capture: str
    syns: pl.DataFrame
    """The first SYN and the first SYN/ACK per key (`partial.SYNS_SCHEMA`, analyze's rows)."""
    spans: pl.DataFrame
    """Per key: first_frame, first_ts, last_ts, packets, the family and direction
    (`first_dir`) of its first packet, fin0 / fin1 (a FIN sent in direction 0 / 1) and
    rst (a RST seen)."""
    leads: pl.DataFrame
    """Per key and direction: frame and sequence number of the first data segment."""
    icmp: pl.DataFrame
    """ICMP too-big messages (`partial.ICMP_SCHEMA`, the rows `analyze` reads)."""
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
    """ICMP too-big messages by frame: frame, ts, sender_hi/lo, family, ttl, mtu,
    connection (the id of the connection it quotes, or null)."""
    frames: int
    first_ts: int | None
    last_ts: int | None


def summarise_chunk(table: PacketTable, *, capture: str) -> SummaryPartial:
    """The comparison-relevant part of one chunk, first pass (connections only).

    Args:
        table: one chunk of a capture, decoded.
        capture: the capture's name (its path), carried into evidence.

    Returns:
        A partial; merge partials of consecutive chunks with `merge_summaries`.
    """
    return summarise_with_segments(table, capture=capture, segments=False)[0]


def summarise_with_segments(
    table: PacketTable, *, capture: str, segments: bool = True
) -> tuple[SummaryPartial, pl.DataFrame | None]:
    """`summarise_chunk`, and (when `segments`) the chunk's data segments, raw.

    Returns:
        The partial, and one row per data segment: the `KEY` columns, dir, seq, len,
        ip_len, ip_id, frame, ts (None when not `segments`).
    """
    c: Mapping[str, Any] = table.columns  # typed per column by COLUMNS, not by mypy
    n = len(table)
    idx = tcp_rows(c)
    keys = tcp_keys(c, idx)
    key = keys.columns()
    payload = c["payload"][idx]
    frame = c["frame"][idx].astype(np.int64)
    all_tcp = pl.DataFrame(
        {
            **key,
            "frame": frame,
            "ts": c["ts_ns"][idx],
            "family": c["family"][idx],
            "flags": c["tcp_flags"][idx],
        }
    )
    fin = (pl.col("flags") & FIN) != 0
    spans = all_tcp.group_by(list(KEY)).agg(
        pl.col("frame").min().alias("first_frame"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        pl.len().cast(pl.Int64).alias("packets"),
        # Rows keep file order within a group: the first is the earliest frame.
        pl.col("family").first(),
        pl.col("dir").first().alias("first_dir"),
        # Whether each direction sent a FIN, and whether either sent a RST: when a
        # streaming comparison may take the connection as closed.
        (fin & (pl.col("dir") == 0)).any().alias("fin0"),
        (fin & (pl.col("dir") == 1)).any().alias("fin1"),
        ((pl.col("flags") & RST) != 0).any().alias("rst"),
    )
    data = payload > 0
    leads = pl.DataFrame(
        {
            **{k: v[data] for k, v in key.items()},
            "lead_frame": frame[data],
            "lead_seq": c["seq"][idx[data]].astype(np.int64),
        }
    )
    rows = None
    if segments:
        sel = idx[data]
        rows = leads.select(*FD_COLS).with_columns(
            pl.Series("seq", c["seq"][sel].astype(np.int64)),
            pl.Series("len", payload[data].astype(np.int64)),
            pl.Series("ip_len", c["ip_len"][sel].astype(np.int64)),
            pl.Series("ip_id", c["ip_id"][sel].astype(np.int64)),
            pl.Series("frame", frame[data]),
            pl.Series("ts", c["ts_ns"][sel].astype(np.int64)),
        )
    ts = c["ts_ns"]
    part = SummaryPartial(
        capture=capture,
        syns=first_syns(syn_table(c, idx, keys)),
        spans=spans,
        leads=first_leads(leads),
        icmp=too_big_table(c),
        frames=n,
        first_ts=int(ts.min()) if n else None,
        last_ts=int(ts.max()) if n else None,
    )
    return part, rows


def first_syns(syns: pl.DataFrame) -> pl.DataFrame:
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


def first_leads(leads: pl.DataFrame) -> pl.DataFrame:
    """The first data segment (by frame) of each key and direction."""
    first = leads.sort("lead_frame").group_by([*KEY, "dir"], maintain_order=True).first()
    return first.select(leads.columns)


def merge_spans(spans: pl.DataFrame, *keep: pl.Expr) -> pl.DataFrame:
    """One row per key of span rows of consecutive chunks (earlier chunks first), with
    `keep` (e.g. the streaming join's connection id) aggregated beside them."""
    return spans.group_by(list(KEY)).agg(
        *keep,
        pl.col("first_frame").min(),
        pl.col("first_ts").min(),
        pl.col("last_ts").max(),
        pl.col("packets").sum(),
        pl.col("family").sort_by("first_frame").first(),
        pl.col("first_dir").sort_by("first_frame").first(),
        pl.col("fin0").any(),
        pl.col("fin1").any(),
        pl.col("rst").any(),
    )


def merge_summaries(a: SummaryPartial, b: SummaryPartial) -> SummaryPartial:
    """Combine the partials of consecutive chunks (`a` before `b`); associative.

    Args:
        a: the earlier chunks' partial.
        b: the later chunks' partial (same capture).

    Returns:
        The partial of both.
    """
    spans = merge_spans(pl.concat([a.spans, b.spans]))
    return SummaryPartial(
        capture=a.capture,
        syns=first_syns(pl.concat([a.syns, b.syns])),
        spans=spans,
        leads=first_leads(pl.concat([a.leads, b.leads])),
        icmp=pl.concat([a.icmp, b.icmp]),
        frames=a.frames + b.frames,
        first_ts=pick(min, a.first_ts, b.first_ts),
        last_ts=pick(max, a.last_ts, b.last_ts),
    )


def _first(rows: pl.DataFrame, prefix: str) -> pl.DataFrame:
    first = rows.sort("frame").group_by(list(KEY), maintain_order=True).first()
    return first.select(
        *KEY,
        pl.col("dir").alias(f"{prefix}dir"),
        *(pl.col(col).alias(prefix + name) for col, name in _HS_COLS.items()),
    )


def finish_connections(p: SummaryPartial) -> ConnectionTable:
    """One row per connection for the whole capture (end of the first pass).

    Args:
        p: the partial of the whole capture (all chunks merged in file order).

    Returns:
        The capture's connections, with the sequence base of each direction.
    """
    # A streaming comparison numbers connections as they appear (`compare_stream`).
    spans = p.spans.drop("fin0", "fin1", "rst", strict=False)
    conns = spans if "id" in spans.columns else number_connections(spans)
    syn = (pl.col("flags") & SYN) != 0
    ack = (pl.col("flags") & ACK) != 0
    conns = conns.join(_first(p.syns.filter(syn & ~ack), "syn_"), on=list(KEY), how="left")
    conns = conns.join(_first(p.syns.filter(syn & ack), "sa_"), on=list(KEY), how="left")
    conns = conns.with_columns(
        client_dir("syn_dir", "sa_dir", "first_dir").cast(pl.Int8).alias("cdir")
    ).drop("first_dir")
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
                pl.when(pl.col("cdir") == 0).then(d).otherwise(1 - d).cast(pl.UInt8).alias("_dir")
            )
            .join(lead, on=[*KEY, "_dir"], how="left")
            .with_columns(pl.coalesce(pl.col(isn).cast(pl.Int64) + 1, pl.col("_lead")).alias(name))
            .drop("_dir", "_lead")
        )
    conns = conns.sort("id")
    icmp = p.icmp.sort("frame")
    quoted = quoted_connections(icmp, conns.select(*KEY, "id"))
    icmp = icmp.select(
        "frame",
        "ts",
        sender_hi="src_hi",
        sender_lo="src_lo",
        family="family",
        ttl="ttl",
        mtu="mtu",
        quoted_len="q_ip_len",
        connection=quoted["id"],
    )
    return ConnectionTable(
        capture=p.capture,
        conns=conns,
        icmp=icmp,
        frames=p.frames,
        first_ts=p.first_ts,
        last_ts=p.last_ts,
    )
