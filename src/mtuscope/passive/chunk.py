"""Analyse one chunk (a `PacketTable`) into a `CapturePartial`.

Layer: passive/. Column-wise numpy and polars over the whole chunk; no I/O, no
clock, and Python loops over no rows. See `mtuscope.passive.partial` for what the
state holds and why it merges exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.capture.table import PacketTable
from mtuscope.capture.walk import FLOW_STATS, chunk_flows, chunk_sizes
from mtuscope.passive.flows import KEY, CanonicalKeys, tcp_rows
from mtuscope.passive.fragments import fragment_flows
from mtuscope.passive.icmp import too_big_table
from mtuscope.passive.partial import (
    ACK,
    DIRS_SCHEMA,
    ENCAPS_SCHEMA,
    ENDS_SCHEMA,
    FIN,
    MAX_RECORDS,
    NONE,
    RST,
    SEGS_SCHEMA,
    SIZES_SCHEMA,
    SPAN,
    SYN,
    SYNS_SCHEMA,
    CapturePartial,
    Schema,
    conform,
    empty,
    nulls,
)
from mtuscope.passive.sequence import running_max, unwrap

FLOW_COLUMNS: tuple[str, ...] = ("src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport")
FLOW_COLUMNS += ("tcp_flags", "payload", "frame", "ts_ns", "ip_len", "family", "seq")
"""The TCP rows' columns `capture.walk.chunk_flows` reads."""


def analyse(table: PacketTable, *, capture: str, at_start: bool = False) -> CapturePartial:
    """Analyse one chunk of a capture.

    Args:
        table: the chunk's rows, in file order.
        capture: the capture's name, as evidence will cite it.
        at_start: the chunk begins the capture (nothing will be merged in front of
            it), so the partial need not keep the boundary records.

    Returns:
        The chunk's partial state, to `merge` with its neighbours and `finish`.
    """
    # PacketTable types its columns as generic arrays; their dtypes are fixed by COLUMNS.
    c: Mapping[str, npt.NDArray[Any]] = table.columns
    n = len(table)
    family = c["family"]
    ip = family > 0
    tcp_idx = tcp_rows(c)
    tcp = _analyse_tcp(c, tcp_idx)
    if at_start:
        tcp["records"] = empty(SEGS_SCHEMA)
    frames = c["frame"]
    return CapturePartial(
        capture=capture,
        frames=n,
        ip_packets=int(np.count_nonzero(ip)),
        tcp_packets=len(tcp_idx),
        first_frame=int(frames.min()) if n else None,
        last_frame=int(frames.max()) if n else None,
        decode_issues=len(table.issues),
        icmp=too_big_table(c),
        fragments=fragment_flows(c),
        at_start=at_start,
        directions=tcp["directions"],
        sizes=tcp["sizes"],
        encaps=tcp["encaps"],
        syns=tcp["syns"],
        ends=tcp["ends"],
        records=tcp["records"],
        retrans=tcp["retrans"],
    )


def _analyse_tcp(
    c: Mapping[str, npt.NDArray[Any]], tcp_rows: npt.NDArray[np.intp]
) -> dict[str, pl.DataFrame]:
    m = len(tcp_rows)
    # A slice (a view, no copy) when every row is TCP, which is the common case.
    idx: npt.NDArray[np.intp] | slice = slice(None) if m == len(c["frame"]) else tcp_rows
    if m == 0:
        return {
            "directions": empty(DIRS_SCHEMA),
            "sizes": empty(SIZES_SCHEMA),
            "encaps": empty(ENCAPS_SCHEMA),
            "syns": empty(SYNS_SCHEMA),
            "ends": empty(ENDS_SCHEMA),
            "records": empty(SEGS_SCHEMA),
            "retrans": empty(SEGS_SCHEMA),
        }

    def col(name: str) -> npt.NDArray[np.int64]:
        return np.asarray(c[name][idx], dtype=np.int64)

    # Connection keys and per-direction sums in one compiled pass (capture.walk.flows).
    fl = chunk_flows({name: c[name][idx] for name in FLOW_COLUMNS})
    rows = np.arange(m, dtype=np.int64)
    conn = fl.conn
    key_of_conn: dict[str, npt.NDArray[Any]] = {
        "a_hi": fl.keys[0],
        "a_lo": fl.keys[1],
        "a_port": fl.ports[0],
        "b_hi": fl.keys[2],
        "b_lo": fl.keys[3],
        "b_port": fl.ports[1],
    }
    direction = fl.dir.astype(np.int64)

    flags = col("tcp_flags")
    payload = col("payload")
    frame = col("frame")
    ts = col("ts_ns")

    # Sequence chains: chain 2*conn+d is the sequence space of direction d. RST
    # segments stay out: a RST answering a SYN carries sequence 0, not a position.
    not_rst = (flags & RST) == 0
    seq_ev = ((payload > 0) | ((flags & (SYN | FIN)) != 0)) & not_rst
    ack_ev = ((flags & ACK) != 0) & not_rst
    chain_of_row = conn * 2 + direction
    ch = unwrap(
        chain=np.concatenate([chain_of_row[seq_ev], (conn * 2 + 1 - direction)[ack_ev]]),
        row=np.concatenate([rows[seq_ev], rows[ack_ev]]),
        kind=np.concatenate(
            [np.zeros(int(seq_ev.sum()), np.int8), np.ones(int(ack_ev.sum()), np.int8)]
        ),
        seq=col("seq"),
        ack=col("ack"),
    )
    ev_group = np.cumsum(np.r_[True, ch.chain[1:] != ch.chain[:-1]])[: len(ch.chain)] - 1
    # The peer's highest ack so far, at every event of the chain.
    ack_run, ack_seen = running_max(ch.value, ch.kind == 1, ev_group)
    chain_ends = np.r_[np.flatnonzero(np.diff(ev_group)), len(ev_group) - 1].astype(np.int64)
    if not len(ev_group):
        chain_ends = np.zeros(0, np.int64)

    is_data = (ch.kind == 0) & (payload[ch.row] > 0)
    d_row = ch.row[is_data]
    d_chain = ch.chain[is_data]
    d_start = ch.value[is_data]
    d_payload = payload[d_row]
    d_end = d_start + d_payload
    d_ack = np.where(ack_seen[is_data], ack_run[is_data], NONE)
    d_first = np.r_[True, d_chain[1:] != d_chain[:-1]] if len(d_chain) else np.zeros(0, bool)
    d_group = np.cumsum(d_first) - 1
    high_run, _ = running_max(d_end, np.ones(len(d_end), bool), d_group)
    prev_high = np.empty_like(high_run)
    prev_high[1:] = high_run[:-1]
    prev_high[d_first] = NONE
    has_prev = ~d_first
    # A keep-alive (one byte just below the highest sequence sent, RFC 9293 §3.8.4)
    # resends nothing that was lost: not a retransmission (tshark counts it apart too).
    keepalive = (d_payload == 1) & (d_end == prev_high)
    retx = has_prev & (d_end <= prev_high) & ~keepalive
    first_idx = np.flatnonzero(d_first)
    first_start = d_start[first_idx][d_group]
    record = ~retx
    seen_records = np.cumsum(record)
    before_group = (seen_records - record)[first_idx][d_group] if len(d_group) else seen_records
    keep = record & (d_end <= first_start + SPAN) & (seen_records - before_group <= MAX_RECORDS)

    chain_state = pl.DataFrame(
        {
            "chain": ch.ids,
            "first_raw": ch.first_raw,
            "last_raw": ch.last_raw,
            "last_abs": ch.last_value,
            "ack_max": np.where(ack_seen[chain_ends], ack_run[chain_ends], NONE),
        }
    ).pipe(nulls, "ack_max")
    if len(first_idx):
        chain_state = chain_state.join(
            pl.DataFrame(
                {
                    "chain": d_chain[first_idx],
                    "high": np.maximum.reduceat(d_end, first_idx),
                    "first_start": d_start[first_idx],
                    "retrans": np.add.reduceat(retx.astype(np.int64), first_idx),
                }
            ),
            on="chain",
            how="left",
        )
    chain_state = chain_state.join(
        _jumps(ch.chain, ch.row, ch.kind, ch.value, payload, flags, frame), on="chain", how="left"
    )
    d_abs = tcp_rows[d_row]
    data = pl.DataFrame(
        {
            "chain": d_chain,
            "frame": frame[d_row],
            "ts": ts[d_row],
            "seq_start": d_start,
            "seq_end": d_end,
            "payload": d_payload,
            "ack_max": d_ack,
            "retx": retx,
            "keep": keep,
        }
    ).pipe(nulls, "ack_max")

    live = np.flatnonzero(fl.stats[FLOW_STATS.index("packets")] > 0)
    per_dir = pl.DataFrame(
        {"chain": live} | {name: fl.stats[i][live] for i, name in enumerate(FLOW_STATS)}
    ).pipe(nulls, "tail_raw", "tail_frame")
    directions = per_dir.join(chain_state, on="chain", how="full", coalesce=True)
    # The payload-size histogram in one compiled pass (capture.walk.sizes).
    sizes = pl.DataFrame(
        chunk_sizes(
            {
                "chain": d_chain,
                "payload": d_payload,
                "frame": frame[d_row],
                "seq_end": d_end,
                "ttl": c["ttl"][d_abs],
                "ip_len": c["ip_len"][d_abs],
                "family": c["family"][d_abs],
                "wirelen": c["wirelen"][d_abs],
                "hdr": c["ip_hlen"][d_abs].astype(np.int64) + c["thl"][d_abs],
            }
        )
    )
    encaps = _encaps(conn, fl.first, frame, c["encap"][idx], c["encap_overhead"][idx])
    end_mask = (flags & (RST | FIN)) != 0
    ends = pl.DataFrame(
        {
            "chain": (conn * 2 + direction)[end_mask],
            "frame": frame[end_mask],
            "flags": flags[end_mask],
        }
    )
    segs = data

    def with_fd(df: pl.DataFrame, schema: Schema) -> pl.DataFrame:
        cn = (df["chain"].to_numpy() >> 1).astype(np.int64)
        extra = {k: key_of_conn[k][cn] for k in KEY}
        extra["dir"] = (df["chain"].to_numpy() & 1).astype(np.uint8)
        return conform(df.with_columns(**{k: pl.Series(v) for k, v in extra.items()}), schema)

    def with_key(df: pl.DataFrame, schema: Schema) -> pl.DataFrame:
        cn = df["conn"].to_numpy().astype(np.int64)
        extra = {k: pl.Series(key_of_conn[k][cn]) for k in KEY}
        return conform(df.with_columns(**extra), schema)

    counters = ("packets", "bytes", "syns", "rsts", "fins", "retrans", "iplen0")
    directions = conform(directions, {"chain": pl.Int64, **DIRS_SCHEMA}).with_columns(
        [pl.col(x).fill_null(0) for x in counters]
    )
    return {
        "directions": with_fd(directions, DIRS_SCHEMA),
        "sizes": with_fd(sizes, SIZES_SCHEMA),
        "encaps": with_key(encaps, ENCAPS_SCHEMA),
        "syns": syn_table(
            c, idx, CanonicalKeys(**{k: key_of_conn[k][conn] for k in KEY}, dir=fl.dir)
        ),
        "ends": with_fd(ends, ENDS_SCHEMA),
        "records": with_fd(segs.filter(pl.col("keep")), SEGS_SCHEMA),
        "retrans": with_fd(segs.filter(pl.col("retx")), SEGS_SCHEMA),
    }


def syn_table(
    c: Mapping[str, npt.NDArray[Any]], idx: npt.NDArray[np.intp] | slice, keys: CanonicalKeys
) -> pl.DataFrame:
    """The SYN and SYN/ACK rows among the TCP rows `idx` of a chunk (`SYNS_SCHEMA`).

    Args:
        c: the chunk's columns.
        idx: its TCP rows (`flows.tcp_rows`, or a slice when every row is TCP).
        keys: their canonical keys (`flows.tcp_keys(c, idx)`).
    """
    flags = np.asarray(c["tcp_flags"][idx], dtype=np.int64)
    syn = (flags & SYN) != 0

    def col(name: str) -> npt.NDArray[np.int64]:
        return np.asarray(c[name][idx][syn], dtype=np.int64)

    rows = {k: v[syn] for k, v in keys.columns().items()} | {
        "frame": col("frame"),
        "ts": col("ts_ns"),
        "flags": flags[syn],
        "mss": col("mss"),
        "wscale": col("wscale"),
        "sack": c["sack_perm"][idx][syn],
        "tsopt": c["tsopt"][idx][syn],
        "ttl": col("ttl"),
        "seq": col("seq"),
        "ip_id": col("ip_id"),
    }
    return conform(pl.DataFrame(rows), SYNS_SCHEMA)


def _jumps(
    chain: npt.NDArray[np.int64],
    row: npt.NDArray[np.int64],
    kind: npt.NDArray[np.int8],
    value: npt.NDArray[np.int64],
    payload: npt.NDArray[np.int64],
    flags: npt.NDArray[np.int64],
    frame: npt.NDArray[np.int64],
) -> pl.DataFrame:
    """Per chain: the reach of its sequence events, its first and last event, and its
    last jump (an event starting beyond every earlier event's end), from the sorted
    unwrapped events of `unwrap`."""
    sev = kind == 0
    s_chain = chain[sev]
    s_row = row[sev]
    s_start = value[sev]
    if not len(s_chain):
        return pl.DataFrame(schema={"chain": pl.Int64})
    f = flags[s_row]
    s_end = payload[s_row]
    s_end += s_start
    s_end += f & FIN
    s_end += (f >> 1) & 1  # SYN and FIN take one sequence number each
    del f

    def s_frame(i: npt.NDArray[np.intp]) -> npt.NDArray[np.int64]:
        out: npt.NDArray[np.int64] = frame[s_row[i]]
        return out

    s_first = np.empty(len(s_chain), bool)
    s_first[0] = True
    np.not_equal(s_chain[1:], s_chain[:-1], out=s_first[1:])
    first_i = np.flatnonzero(s_first)
    last_i = np.r_[first_i[1:] - 1, len(s_chain) - 1]
    run, _ = running_max(s_end, np.ones(len(s_end), bool), np.cumsum(s_first) - 1)
    del s_end
    # Event i jumps when it starts beyond the running reach of the events before it.
    jj = np.flatnonzero(~s_first[1:] & (s_start[1:] > run[:-1])) + 1
    if len(jj):
        jj = jj[np.r_[s_chain[jj][1:] != s_chain[jj][:-1], True]]
    events = pl.DataFrame(
        {
            "chain": s_chain[first_i],
            "reach": run[last_i],
            "ev_first_start": s_start[first_i],
            "ev_first_frame": s_frame(first_i),
            "ev_last_frame": s_frame(last_i),
        }
    )
    jumps = pl.DataFrame(
        {
            "chain": s_chain[jj],
            "jump_start": s_start[jj],
            "jump_gap": run[jj - 1],
            "jump_frame": s_frame(jj),
            "jump_prev_frame": s_frame(jj - 1),
        }
    )
    return events.join(jumps, on="chain", how="left")


def _encaps(
    conn: npt.NDArray[np.int64],
    first_row: npt.NDArray[np.int64],
    frame: npt.NDArray[np.int64],
    encap: npt.NDArray[np.generic],
    overhead: npt.NDArray[np.generic],
) -> pl.DataFrame:
    """(conn, encap, overhead) -> count, first frame. A connection's encapsulation
    rarely changes, so rows like the connection's first are counted with numpy and
    only the others go through a group-by."""
    nconn = len(first_row)
    enc = encap.astype(np.int64)
    ovh = overhead.astype(np.int64)
    same = (enc == enc[first_row][conn]) & (ovh == ovh[first_row][conn])
    usual = pl.DataFrame(
        {
            "conn": np.arange(nconn),
            "encap": enc[first_row],
            "overhead": ovh[first_row],
            "count": np.bincount(conn[same], minlength=nconn).astype(np.int64),
            "first_frame": frame[first_row],
        }
    )
    other = (
        pl.DataFrame({"conn": conn[~same], "encap": enc[~same], "overhead": ovh[~same]})
        .with_columns(frame=frame[~same])
        .group_by("conn", "encap", "overhead")
        .agg(count=pl.len().cast(pl.Int64), first_frame=pl.col("frame").min())
    )
    return pl.concat([usual, other.select(usual.columns)], how="vertical_relaxed")
