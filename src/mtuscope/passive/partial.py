"""The mergeable partial state of a capture analysis: `CapturePartial` and its tables.

Layer: passive/. Pure data (polars tables and counters); no I/O, no clock, no
Python object per packet. `mtuscope.passive.chunk.analyse` fills it from one
chunk, `mtuscope.passive.merge.merge` combines two, `finish` freezes the result.

`analyse(chunk)` gives a partial state; `merge(a, b)` combines two partials of
consecutive parts of one capture (b follows a in the file). `merge` is
associative, and analysing chunks one by one then merging gives exactly the
same final analysis as analysing the whole capture at once (tested with
hypothesis). What makes that exact while staying bounded:

- Sums, counts, minima and maxima (packets, bytes, frames, TTLs, segment-size
  histograms) merge by concatenation and a group-by.
- Sequence numbers are unwrapped per chain (see `mtuscope.passive.sequence`);
  the later chunk is shifted onto the earlier chunk's line at merge time.
- A data segment is a *retransmission* when its sequence end does not pass the
  highest sequence end its direction has sent before it (so it carries no new
  byte), unless it is a keep-alive (one byte ending exactly there). Inside a
  chunk this is a running maximum. Across a boundary only the segments of the later chunk that
  were "new highs" inside it can turn into retransmissions, and they form a
  prefix of the chunk's increasing new-high *records*. A partial therefore keeps
  its records, but only the first `MAX_RECORDS` per direction and only those
  ending within `SPAN` bytes of the direction's first data segment. Caps: the
  result is exact as long as, at every chunk boundary, no segment is retransmitted
  more than `SPAN` (16 MiB) below the highest sequence its direction had sent, and
  fewer than `MAX_RECORDS` (4096) increasing segments of the next chunk resend
  data sent before the boundary (a recovery burst longer than 4096 segments).
  Real TCP flights at a chunk boundary are far smaller. Memory: a partial holds
  at most `MAX_RECORDS` records per connection direction, whatever the packets.
  A partial that begins the capture (`at_start`: the reader's first chunk, or any
  merge whose left part is one) is never merged behind another, so it keeps no
  records at all: folding a file's chunks left to right holds one chunk's records
  at a time, and the state grows with connections, not packets.
- Retransmitted segments (rare) are kept as rows with the peer's highest ack
  before them, for the black-hole analysis; SYNs, RST/FIN segments and ICMP
  too-big messages are kept as rows too.

TCP rows exclude IP fragments and truncated rows (their TCP fields are not
complete); fragments are summarised per flow instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

MAX_RECORDS = 4096
"""New-high records kept per direction (see the module docstring)."""
SPAN = 1 << 24
"""Bytes of new-high records kept per direction and chunk (see the module docstring)."""
REGROUP_EVERY = 8
"""Merges after which `merge` regroups the sizes, encapsulation and fragment tables."""

FIN, SYN, RST, ACK = 1, 2, 4, 16
NONE = np.iinfo(np.int64).min
"""Stands for "no value" in int64 columns before they become polars nulls."""

_U64, _U16, _U8, _I64 = pl.UInt64, pl.UInt16, pl.UInt8, pl.Int64
_KEY_SCHEMA: Schema = {
    "a_hi": _U64,
    "a_lo": _U64,
    "a_port": _U16,
    "b_hi": _U64,
    "b_lo": _U64,
    "b_port": _U16,
}
_FD_SCHEMA: Schema = {**_KEY_SCHEMA, "dir": _U8}


Schema = Mapping[str, Any]
"""Column name -> polars dtype."""


def _ints(*names: str) -> dict[str, Any]:
    return dict.fromkeys(names, _I64)


DIRS_SCHEMA: Schema = {
    **_FD_SCHEMA,
    "family": _U8,
    **_ints("packets", "bytes", "first_frame", "last_frame", "first_ts", "last_ts"),
    **_ints("syns", "rsts", "fins", "retrans", "iplen0"),
    **_ints("first_raw", "last_raw", "last_abs", "high", "first_start", "ack_max"),
    **_ints("ip_max", "reach", "ev_first_start", "ev_first_frame", "ev_last_frame"),
    **_ints("jump_start", "jump_gap", "jump_frame", "jump_prev_frame", "tail_raw", "tail_frame"),
}
"""Per direction: counters, and the sequence chain's state (`high`: highest sequence end).

Gap state (the receiving side's view of a black hole): `ip_max` the largest IP length
sent; `reach` the highest sequence end of any sequence event (data, SYN, FIN); the
first event's start and frame and the last event's frame; the last *jump* (an event
starting beyond the `reach` of every event before it: `jump_start`, `jump_gap` that
reach, its frame and the previous event's frame); and the raw `tcp.seq` and frame of
the direction's last non-RST packet (`tail_*`, bare ACKs included). Jump starts
increase along a chain, so the last jump of a later part supersedes an earlier one
whenever it starts beyond the earlier part's reach (see `mtuscope.passive.merge`)."""

SIZES_SCHEMA: Schema = {
    **_FD_SCHEMA,
    **_ints("payload", "count", "first_frame", "last_frame", "first_seq_end"),
    **_ints("ttl_min", "ttl_max", "iplen0", "ip_len_max", "wire_max", "hdr"),
}
"""Per direction and TCP payload size: how many, where first and last, and header facts."""

ENCAPS_SCHEMA: Schema = {**_KEY_SCHEMA, **_ints("encap", "overhead", "count", "first_frame")}
SYNS_SCHEMA: Schema = {
    **_FD_SCHEMA,
    **_ints("frame", "ts", "flags", "mss", "wscale"),
    "sack": pl.Boolean,
    "tsopt": pl.Boolean,
    **_ints("ttl", "seq", "ip_id"),
}
"""SYN and SYN/ACK rows: options, TTL, raw sequence number (the ISN) and IP id
(the same rows for `analyze` and `compare`)."""
ENDS_SCHEMA: Schema = {**_FD_SCHEMA, **_ints("frame", "flags")}
SEGS_SCHEMA: Schema = {
    **_FD_SCHEMA,
    **_ints("frame", "ts", "seq_start", "seq_end", "payload", "ack_max"),
}
"""Data segments (records and retransmissions); `ack_max`: the peer's highest ack before it."""

ICMP_SCHEMA: Schema = {
    **_ints("frame", "ts"),
    "family": _U8,
    "src_hi": _U64,
    "src_lo": _U64,
    **_ints("ttl", "icmp_type", "icmp_code", "mtu", "ip_len", "q_family"),
    "q_src_hi": _U64,
    "q_src_lo": _U64,
    "q_dst_hi": _U64,
    "q_dst_lo": _U64,
    **_ints("q_proto", "q_sport", "q_dport", "q_seq", "q_ip_len"),
}
FRAG_KEY = ("family", "src_hi", "src_lo", "dst_hi", "dst_lo", "proto")
FRAGS_SCHEMA: Schema = {
    "family": _U8,
    "src_hi": _U64,
    "src_lo": _U64,
    "dst_hi": _U64,
    "dst_lo": _U64,
    "proto": _I64,
    **_ints("fragments", "datagrams", "df", "min_len", "max_len", "first_frame", "last_frame"),
}


def conform(df: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """`df` with exactly `schema`'s columns, in order and cast (missing ones null)."""
    return df.select(
        [
            (pl.col(n) if n in df.columns else pl.lit(None)).cast(t).alias(n)
            for n, t in schema.items()
        ]
    )


def nulls(df: pl.DataFrame, *cols: str) -> pl.DataFrame:
    """`NONE` sentinels of `cols` as polars nulls."""
    return df.with_columns(
        [pl.when(pl.col(x) == NONE).then(None).otherwise(pl.col(x)).alias(x) for x in cols]
    )


def empty(schema: Schema) -> pl.DataFrame:
    """A table of `schema` without rows."""
    return pl.DataFrame(schema=schema)


def group(df: pl.DataFrame, keys: list[str], schema: Schema, /, **aggs: pl.Expr) -> pl.DataFrame:
    """`df` grouped by `keys` (groups in order of appearance), aggregated, conformed."""
    return conform(df.group_by(keys, maintain_order=True).agg(**aggs), schema)


def pick(fn: Callable[[int, int], int], x: int | None, y: int | None) -> int | None:
    """`fn(x, y)` of two optional counters (either may be None: the other wins)."""
    if x is None:
        return y
    if y is None:
        return x
    return int(fn(x, y))


@dataclass(frozen=True, slots=True, kw_only=True)
class CapturePartial:
    """The mergeable state of a contiguous part of one capture.

    Polars tables and counters only: nothing here grows with the number of packets
    except the bounded records (see the module docstring)."""

    capture: str
    """Name of the capture (as given to `analyse`)."""
    frames: int
    """Rows (frames) analysed."""
    ip_packets: int
    tcp_packets: int
    first_frame: int | None
    last_frame: int | None
    decode_issues: int
    directions: pl.DataFrame
    """`DIRS_SCHEMA`: one row per connection direction."""
    sizes: pl.DataFrame
    """`SIZES_SCHEMA`: TCP payload-size histogram per direction."""
    encaps: pl.DataFrame
    syns: pl.DataFrame
    ends: pl.DataFrame
    records: pl.DataFrame
    """The first `MAX_RECORDS` new-high data segments of each direction, within `SPAN`."""
    retrans: pl.DataFrame
    """Retransmitted data segments."""
    icmp: pl.DataFrame
    """ICMP fragmentation-needed and ICMPv6 packet-too-big messages."""
    fragments: pl.DataFrame
    at_start: bool = False
    """This part begins the capture: nothing is merged in front of it, so it keeps no
    `records` (see the module docstring)."""
    unmerged: int = 0
    """Merges since `sizes`, `encaps` and `fragments` were last grouped: while non-zero
    those tables may hold several rows of one key, still to be summed
    (`mtuscope.passive.merge.regroup`, which `finish` applies)."""
