"""Merge the partial states of consecutive parts of one capture.

Layer: passive/. Polars over partial-state tables; no I/O. Associative, and exact
(see `mtuscope.passive.partial` for the retransmission records and their cap).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import polars as pl

from mtuscope.errors import UsageError
from mtuscope.passive.flows import FD, KEY
from mtuscope.passive.fragments import regroup_fragments
from mtuscope.passive.partial import (
    DIRS_SCHEMA,
    ENCAPS_SCHEMA,
    MAX_RECORDS,
    REGROUP_EVERY,
    SEGS_SCHEMA,
    SIZES_SCHEMA,
    SPAN,
    CapturePartial,
    Schema,
    conform,
    group,
    pick,
)


def merge(a: CapturePartial, b: CapturePartial) -> CapturePartial:
    """Combine the partials of two consecutive parts of one capture.

    Args:
        a: the earlier part.
        b: the part that follows `a` in the file.

    Returns:
        The partial of both parts; `merge` is associative.

    Raises:
        UsageError: the partials come from different captures, or `b` begins the
            capture (`at_start`) so nothing can precede it.
    """
    if a.capture != b.capture:
        raise UsageError(f"cannot merge partials of {a.capture!r} and {b.capture!r}")
    if b.at_start:
        raise UsageError(f"{b.capture!r}: the partial that begins the capture must come first")
    fd = list(FD)
    # Place b's sequence chains on a's line and bring a's ends along.
    a_state = a.directions.select(
        *fd,
        a_last_raw="last_raw",
        a_last_abs="last_abs",
        a_high="high",
        a_ack="ack_max",
        a_first_start="first_start",
        a_reach="reach",
        a_ev_last_frame="ev_last_frame",
    ).filter(pl.col("a_last_raw").is_not_null())
    link = b.directions.select(*fd, "first_raw").join(a_state, on=fd, how="inner")
    link = link.select(
        *fd,
        "a_high",
        "a_ack",
        "a_first_start",
        "a_reach",
        "a_ev_last_frame",
        offset=pl.col("a_last_abs")
        + ((pl.col("first_raw") - pl.col("a_last_raw") + (1 << 31)) % (1 << 32))
        - (1 << 31)
        - pl.col("first_raw"),
    ).filter(pl.col("offset").is_not_null())

    def shifted(df: pl.DataFrame, cols: Sequence[str]) -> pl.DataFrame:
        j = df.join(link, on=fd, how="left")
        off = pl.col("offset").fill_null(0)
        return j.with_columns([pl.col(x) + off for x in cols])

    b_records = shifted(b.records, ("seq_start", "seq_end", "ack_max"))
    # As in `chunk`: a keep-alive just below a's highest sequence stays no retransmission.
    keepalive = (pl.col("payload") == 1) & (pl.col("seq_end") == pl.col("a_high"))
    lifted = (pl.col("seq_end") <= pl.col("a_high")) & ~keepalive
    with_a_ack = pl.max_horizontal("ack_max", "a_ack").alias("ack_max")
    new_retx = b_records.filter(lifted.fill_null(False)).with_columns(with_a_ack)
    kept = b_records.filter(
        ~lifted.fill_null(False)
        & (
            pl.col("a_first_start").is_null()
            | (pl.col("seq_end") <= pl.col("a_first_start") + SPAN)
        )
    )
    b_retrans = shifted(b.retrans, ("seq_start", "seq_end", "ack_max")).with_columns(with_a_ack)
    extra = new_retx.group_by(fd).agg(extra=pl.len().cast(pl.Int64))
    b_dirs = (
        shifted(
            b.directions,
            ("last_abs", "high", "first_start", "ack_max", "reach", "ev_first_start")
            + ("jump_start", "jump_gap"),
        )
        .join(extra, on=fd, how="left")
        .with_columns(retrans=pl.col("retrans") + pl.col("extra").fill_null(0))
        .pipe(_boundary_jumps)
    )
    directions = _regroup(
        a.directions,
        conform(b_dirs, DIRS_SCHEMA),
        fd,
        DIRS_SCHEMA,
        family=pl.col("family").drop_nulls().first(),
        packets=pl.col("packets").sum(),
        bytes=pl.col("bytes").sum(),
        first_frame=pl.col("first_frame").min(),
        last_frame=pl.col("last_frame").max(),
        first_ts=pl.col("first_ts").min(),
        last_ts=pl.col("last_ts").max(),
        syns=pl.col("syns").sum(),
        rsts=pl.col("rsts").sum(),
        fins=pl.col("fins").sum(),
        retrans=pl.col("retrans").sum(),
        iplen0=pl.col("iplen0").sum(),
        first_raw=pl.col("first_raw").drop_nulls().first(),
        last_raw=pl.col("last_raw").drop_nulls().last(),
        last_abs=pl.col("last_abs").drop_nulls().last(),
        high=pl.col("high").max(),
        first_start=pl.col("first_start").drop_nulls().first(),
        ack_max=pl.col("ack_max").max(),
        ip_max=pl.col("ip_max").max(),
        reach=pl.col("reach").max(),
        ev_first_start=pl.col("ev_first_start").drop_nulls().first(),
        ev_first_frame=pl.col("ev_first_frame").drop_nulls().first(),
        ev_last_frame=pl.col("ev_last_frame").drop_nulls().last(),
        **{
            x: pl.col(x).filter(pl.col("jump_start").is_not_null()).last()
            for x in ("jump_start", "jump_gap", "jump_frame", "jump_prev_frame")
        },
        **{
            x: pl.col(x).filter(pl.col("tail_raw").is_not_null()).last()
            for x in ("tail_raw", "tail_frame")
        },
    )
    # Sizes, encapsulations and fragment flows are plain aggregates: they are
    # concatenated, and regrouped only every `REGROUP_EVERY` merges (and by `finish`).
    unmerged = a.unmerged + b.unmerged + 1
    sizes = pl.concat(
        [a.sizes, conform(shifted(b.sizes, ("first_seq_end",)), SIZES_SCHEMA)], rechunk=False
    )
    encaps = pl.concat([a.encaps, b.encaps], rechunk=False)
    fragments = pl.concat([a.fragments, b.fragments], rechunk=False)
    if unmerged >= REGROUP_EVERY:
        sizes, encaps, fragments = (
            _regroup_sizes(sizes),
            _regroup_encaps(encaps),
            regroup_fragments(fragments),
        )
        unmerged = 0
    return CapturePartial(
        capture=a.capture,
        frames=a.frames + b.frames,
        ip_packets=a.ip_packets + b.ip_packets,
        tcp_packets=a.tcp_packets + b.tcp_packets,
        first_frame=pick(min, a.first_frame, b.first_frame),
        last_frame=pick(max, a.last_frame, b.last_frame),
        decode_issues=a.decode_issues + b.decode_issues,
        directions=directions,
        sizes=sizes,
        encaps=encaps,
        syns=pl.concat([a.syns, b.syns], rechunk=False),
        ends=pl.concat([a.ends, b.ends], rechunk=False),
        records=a.records
        if a.at_start
        else pl.concat([a.records, conform(kept, SEGS_SCHEMA)]).filter(
            pl.int_range(pl.len()).over(fd) < MAX_RECORDS
        ),
        retrans=pl.concat(
            [a.retrans, conform(new_retx, SEGS_SCHEMA), conform(b_retrans, SEGS_SCHEMA)],
            rechunk=False,
        ),
        icmp=pl.concat([a.icmp, b.icmp], rechunk=False),
        fragments=fragments,
        at_start=a.at_start,
        unmerged=unmerged,
    )


def _boundary_jumps(b: pl.DataFrame) -> pl.DataFrame:
    """b's last jump seen from the whole capture, given a's reach (`a_reach`, shifted
    onto one line): b's own last jump if it starts beyond a's reach (its gap is then
    the larger reach), else b's first event if that does, else none (a's stands)."""
    a_reach = pl.col("a_reach")
    own = pl.col("jump_start").is_not_null() & (
        a_reach.is_null() | (pl.col("jump_start") > a_reach)
    )
    edge = ~own & a_reach.is_not_null() & (pl.col("ev_first_start") > a_reach).fill_null(False)
    return b.with_columns(
        jump_start=pl.when(own)
        .then(pl.col("jump_start"))
        .when(edge)
        .then(pl.col("ev_first_start")),
        jump_gap=pl.when(own).then(pl.max_horizontal("jump_gap", a_reach)).when(edge).then(a_reach),
        jump_frame=pl.when(own)
        .then(pl.col("jump_frame"))
        .when(edge)
        .then(pl.col("ev_first_frame")),
        jump_prev_frame=pl.when(own)
        .then(pl.col("jump_prev_frame"))
        .when(edge)
        .then(pl.col("a_ev_last_frame")),
    )


def regroup(p: CapturePartial) -> CapturePartial:
    """`p` with one row per key in its sizes, encapsulation and fragment tables.

    `merge` concatenates those tables and regroups them only now and then;
    `finish` calls this first.

    Args:
        p: a partial.

    Returns:
        The same partial state, its aggregate tables grouped (`unmerged` 0).
    """
    if not p.unmerged:
        return p
    return dataclasses.replace(
        p,
        sizes=_regroup_sizes(p.sizes),
        encaps=_regroup_encaps(p.encaps),
        fragments=regroup_fragments(p.fragments),
        unmerged=0,
    )


def _regroup_sizes(df: pl.DataFrame) -> pl.DataFrame:
    return group(
        df,
        [*FD, "payload"],
        SIZES_SCHEMA,
        count=pl.col("count").sum(),
        first_frame=pl.col("first_frame").min(),
        last_frame=pl.col("last_frame").max(),
        first_seq_end=pl.col("first_seq_end").sort_by("first_frame").first(),
        ttl_min=pl.col("ttl_min").min(),
        ttl_max=pl.col("ttl_max").max(),
        iplen0=pl.col("iplen0").sum(),
        ip_len_max=pl.col("ip_len_max").max(),
        wire_max=pl.col("wire_max").max(),
        hdr=pl.col("hdr").sort_by("first_frame").first(),
    )


def _regroup_encaps(df: pl.DataFrame) -> pl.DataFrame:
    return group(
        df,
        [*KEY, "encap", "overhead"],
        ENCAPS_SCHEMA,
        count=pl.col("count").sum(),
        first_frame=pl.col("first_frame").min(),
    )


def _regroup(
    a: pl.DataFrame, b: pl.DataFrame, keys: list[str], schema: Schema, **aggs: pl.Expr
) -> pl.DataFrame:
    """Combine two tables whose `keys` are unique within each: only the keys present
    in both go through the group-by (a's row before b's), the others are concatenated.
    A merge so costs the rows it shares, not the whole accumulated state (for tables
    of similar size one group-by over both is cheaper)."""
    if a.height <= 4 * b.height:
        both_all = pl.concat([a, b], rechunk=False).group_by(keys, maintain_order=True)
        return conform(both_all.agg(**aggs), schema)
    both = a.select(keys).join(b.select(keys), on=keys, how="inner")
    if both.height == 0:
        return pl.concat([a, b], rechunk=False)
    hit = (
        pl.concat([a.join(both, on=keys, how="semi"), b.join(both, on=keys, how="semi")])
        .group_by(keys, maintain_order=True)
        .agg(**aggs)
    )
    return pl.concat(
        [
            a.join(both, on=keys, how="anti"),
            conform(hit, schema),
            b.join(both, on=keys, how="anti"),
        ],
        rechunk=False,
    )
