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
from mtuscope.capture.walk import (
    CHAIN_STATE,
    FLOW_STATS,
    SEGMENT_COLUMNS,
    chunk_chains,
    chunk_flows,
    chunk_sizes,
)
from mtuscope.passive.flows import KEY, CanonicalKeys, tcp_rows
from mtuscope.passive.fragments import fragment_flows
from mtuscope.passive.icmp import too_big_table
from mtuscope.passive.partial import (
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

FLOW_COLUMNS: tuple[str, ...] = ("src_hi", "src_lo", "sport", "dst_hi", "dst_lo", "dport")
FLOW_COLUMNS += ("tcp_flags", "payload", "frame", "ts_ns", "ip_len", "family", "seq")
"""The TCP rows' columns `capture.walk.chunk_flows` reads."""
CHAIN_COLUMNS: tuple[str, ...] = ("tcp_flags", "payload", "seq", "ack", "frame", "ts_ns")
"""The TCP rows' columns `capture.walk.chunk_chains` reads (besides conn and dir)."""
_COUNTERS = frozenset(("packets", "bytes", "syns", "rsts", "fins", "iplen0"))
"""Direction counters: 0, not null, for a chain seen only through its peer's acks."""
_CHAIN_KEPT = frozenset(CHAIN_STATE) - {"events", "nrec"}
"""The chain state columns a partial's directions table keeps."""


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
    tcp = _analyse_tcp(c, tcp_idx, at_start=at_start)
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
    c: Mapping[str, npt.NDArray[Any]], tcp_rows: npt.NDArray[np.intp], *, at_start: bool
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
    frame = col("frame")

    # Sequence chains (chain 2*conn+dir: one direction's sequence space), unwrapped,
    # with retransmissions, new-high records and jumps, in one compiled pass
    # (capture.walk.chains). RST segments stay out: a RST answering a SYN carries
    # sequence 0, not a position.
    chn = chunk_chains(
        {"conn": conn, "dir": fl.dir, **{k: c[k][idx] for k in CHAIN_COLUMNS}},
        len(fl.first),
        span=SPAN,
        max_records=MAX_RECORDS,
        keep_records=not at_start,
    )
    stats = fl.stats
    state = chn.state
    live = np.flatnonzero((stats[FLOW_STATS.index("packets")] > 0) | (state[0] > 0))
    packets = stats[FLOW_STATS.index("packets")][live]
    has_rows = packets > 0
    cols: dict[str, npt.NDArray[Any]] = {"chain": live}
    for i, name in enumerate(FLOW_STATS):
        v = stats[i][live]
        # a chain seen only through its peer's acks has no rows of its own
        cols[name] = v if name in _COUNTERS else np.where(has_rows, v, NONE)
    has_data = state[CHAIN_STATE.index("high")][live] != NONE
    for i, name in enumerate(CHAIN_STATE):
        if name in _CHAIN_KEPT:
            cols[name] = state[i][live]
    cols["retrans"] = np.where(has_data, cols["retrans"], 0)
    directions = pl.DataFrame(cols).pipe(nulls, *(k for k in cols if k not in _COUNTERS))

    # The payload-size histogram of the data segments, in chain order, in one
    # compiled pass (capture.walk.sizes).
    is_data = chn.seg_end != NONE
    data_rows = np.flatnonzero(is_data)
    d_chain = (conn * 2 + direction)[data_rows]
    order = np.argsort(d_chain, kind="stable")
    d_row = data_rows[order]
    d_abs = tcp_rows[d_row]
    sizes = pl.DataFrame(
        chunk_sizes(
            {
                "chain": d_chain[order],
                "payload": c["payload"][d_abs],
                "frame": frame[d_row],
                "seq_end": chn.seg_end[d_row],
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

    def segments(a: npt.NDArray[np.int64]) -> pl.DataFrame:
        # in chain order, file order within a chain, as the partial's tables were
        order = np.argsort(a[0], kind="stable")
        return pl.DataFrame({name: a[i][order] for i, name in enumerate(SEGMENT_COLUMNS)}).pipe(
            nulls, "ack_max"
        )

    def with_fd(df: pl.DataFrame, schema: Schema) -> pl.DataFrame:
        cn = (df["chain"].to_numpy() >> 1).astype(np.int64)
        extra = {k: key_of_conn[k][cn] for k in KEY}
        extra["dir"] = (df["chain"].to_numpy() & 1).astype(np.uint8)
        return conform(df.with_columns(**{k: pl.Series(v) for k, v in extra.items()}), schema)

    def with_key(df: pl.DataFrame, schema: Schema) -> pl.DataFrame:
        cn = df["conn"].to_numpy().astype(np.int64)
        extra = {k: pl.Series(key_of_conn[k][cn]) for k in KEY}
        return conform(df.with_columns(**extra), schema)

    return {
        "directions": with_fd(directions, DIRS_SCHEMA),
        "sizes": with_fd(sizes, SIZES_SCHEMA),
        "encaps": with_key(encaps, ENCAPS_SCHEMA),
        "syns": syn_table(
            c, idx, CanonicalKeys(**{k: key_of_conn[k][conn] for k in KEY}, dir=fl.dir)
        ),
        "ends": with_fd(ends, ENDS_SCHEMA),
        "records": with_fd(segments(chn.records), SEGS_SCHEMA),
        "retrans": with_fd(segments(chn.retrans), SEGS_SCHEMA),
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
