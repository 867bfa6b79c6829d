"""Turn a merged `CapturePartial` into the frozen `CaptureAnalysis`.

Layer: passive/. Pure; no I/O. Columnar: one polars row per connection, built by
joins and group-bys over the partial's tables. The rare rows that need Python
loops are elsewhere: ICMP messages (`passive.icmp`), and the sides whose segment
sizes exceed the peer's limit or whose retransmissions could be a black hole
(`passive.details`). Python `Connection` objects are built only for the
connections findings are about (`CaptureAnalysis.notable`), or on demand
(`CaptureAnalysis.connections`).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mtuscope.capture.table import address_text
from mtuscope.passive.details import HEADERS, by_family, receiver_gaps, side_details
from mtuscope.passive.flows import FD, KEY, client_dir, number_connections
from mtuscope.passive.fragments import fragment_flow_results
from mtuscope.passive.handshakes import syn_option_changes
from mtuscope.passive.icmp import icmp_messages
from mtuscope.passive.merge import regroup
from mtuscope.passive.partial import ACK, SYN, CapturePartial
from mtuscope.passive.results import (
    LARGE_SEGMENT,
    CaptureAnalysis,
    encap_names,
)
from mtuscope.wire.sizes import TCP_DEFAULT_MSS, TCP_DEFAULT_MSS_IPV4

Row = dict[str, Any]

DEFAULT_MSS = TCP_DEFAULT_MSS
"""MSS assumed when the handshake carried no option, by family (`wire.sizes`)."""
FLOOR = TCP_DEFAULT_MSS_IPV4
"""The MSS some senders use whatever smaller MSS the peer announced (Windows Vista and
later): the IPv4 default, 536."""

_I64 = pl.Int64


def finish(p: CapturePartial, *, first_id: int = 1) -> CaptureAnalysis:
    """Freeze the analysis of a whole capture.

    Args:
        p: the partial of the whole capture (every chunk merged in file order).
        first_id: the id of its first connection (later captures of one report
            continue the numbering of the earlier ones).

    Returns:
        Connections (ordered by first frame, ids from `first_id`), ICMP too-big
        messages (by frame) and fragment flows.
    """
    p = regroup(p)
    key = list(KEY)
    dirs = p.directions
    live = dirs.filter(pl.col("first_frame").is_not_null())
    conns = number_connections(
        live.group_by(key)
        .agg(
            first_frame=pl.col("first_frame").min(),
            last_frame=pl.col("last_frame").max(),
            first_ts_ns=pl.col("first_ts").min(),
            last_ts_ns=pl.col("last_ts").max(),
            first_dir=pl.col("dir").sort_by("first_frame", "dir").first(),
        )
        .join(
            dirs.group_by(key).agg(family=pl.col("family").drop_nulls().first()),
            on=key,
            how="left",
        ),
        first_id=first_id,
    )
    syns = p.syns.sort("frame")
    flag = pl.col("flags") & (SYN | ACK)
    syn_rows = syns.filter(flag == SYN)
    synack_rows = syns.filter(flag == SYN | ACK)
    conns = (
        conns.join(syn_rows.group_by(key).agg(syn_dir=pl.col("dir").first()), on=key, how="left")
        .join(synack_rows.group_by(key).agg(sa_dir=pl.col("dir").first()), on=key, how="left")
        .with_columns(
            cd=client_dir("syn_dir", "sa_dir", "first_dir"),
            client_rule=pl.when(pl.col("syn_dir").is_not_null())
            .then(pl.lit("syn"))
            .when(pl.col("sa_dir").is_not_null())
            .then(pl.lit("syn-ack"))
            .otherwise(pl.lit("port")),
        )
    )

    icmps, matched = icmp_messages(p, conns.select(*key, "id", "cd"))
    usable = matched.filter(pl.col("problem_free"))
    pmtu = usable.group_by("id", "dir").agg(path_mtu=pl.col("mtu").min())
    too_big = matched.group_by("id").agg(too_big_frames=pl.col("frame").sort())

    sides = _sides(p, conns, syn_rows, synack_rows, pmtu)
    details = dict(side_details(p, conns, sides, too_big))
    for at, gap in receiver_gaps(p, conns, sides, too_big).items():
        over, holes = details.get(at, (None, ()))
        details[at] = (over, (*holes, gap))
    table = _table(p, conns, sides, too_big)
    flagged = set(sides.filter(_notable_side()).get_column("id").to_list())
    flagged |= set(too_big.get_column("id").to_list())
    flagged |= {cid for cid, _ in details}
    ids = sorted(flagged)
    notable_rows = table.filter(pl.col("id").is_in(ids)).to_dicts() if ids else []
    return CaptureAnalysis(
        capture=p.capture,
        frames=p.frames,
        ip_packets=p.ip_packets,
        tcp_packets=p.tcp_packets,
        decode_issues=p.decode_issues,
        first_id=first_id,
        table=table,
        details=details,
        notable=tuple(CaptureAnalysis.connection_from_row(r, details) for r in notable_rows),
        icmp_too_big=tuple(icmps),
        fragments=fragment_flow_results(p.fragments),
        syn_changes=syn_option_changes(syns, conns.select(*key, "id", "cd")),
    )


def _notable_side() -> pl.Expr:
    """Sides a finding may be about (besides black holes, offload and ICMP, see `finish`)."""
    return pl.col("path_mtu").is_not_null() | (pl.col("floor_segments") > 0)


def _sides(
    p: CapturePartial,
    conns: pl.DataFrame,
    syn_rows: pl.DataFrame,
    synack_rows: pl.DataFrame,
    pmtu: pl.DataFrame,
) -> pl.DataFrame:
    """One row per connection and role with every scalar `Endpoint` field."""
    key, fd = list(KEY), list(FD)
    base = conns.select("id", *key, "family", "cd")
    sides = pl.concat(
        [
            base.with_columns(role=pl.lit("client"), dir=pl.col("cd")),
            base.with_columns(role=pl.lit("server"), dir=(1 - pl.col("cd")).cast(pl.UInt8)),
        ]
    ).drop("cd")
    hs_cols = ("frame", "ttl", "mss", "wscale", "sack", "tsopt")

    def first_hs(rows: pl.DataFrame, role: str) -> pl.DataFrame:
        return (
            rows.group_by(fd)
            .agg(*(pl.col(c).first().alias(f"hs_{c}") for c in hs_cols))
            .with_columns(role=pl.lit(role), hs=pl.lit(True))
        )

    hs = pl.concat([first_hs(syn_rows, "client"), first_hs(synack_rows, "server")])
    sides = sides.join(hs, on=[*fd, "role"], how="left")
    peer = sides.select(
        "id",
        role=pl.when(pl.col("role") == "client").then(pl.lit("server")).otherwise(pl.lit("client")),
        peer_hs=pl.col("hs"),
        peer_mss=pl.when(pl.col("hs_mss") >= 0).then(pl.col("hs_mss")),
    )
    mine = p.directions.select(
        *fd, "packets", "bytes", "retrans", "rsts", "fins", "iplen0", peer_ack="ack_max"
    )
    sizes = p.sizes.sort("payload")
    biggest = sizes.group_by(fd).agg(
        max_segment=pl.col("payload").last(), max_segment_frame=pl.col("first_frame").last()
    )
    large = (
        sizes.filter(pl.col("payload") >= LARGE_SEGMENT)
        .group_by(fd)
        .agg(large_sizes=pl.struct("payload", "count", "first_frame", "last_frame"))
    )
    floor = sizes.filter(pl.col("payload") == FLOOR).select(
        *fd, floor_count="count", floor_first="first_frame"
    )
    sides = (
        sides.join(peer, on=["id", "role"], how="left")
        .join(mine, on=fd, how="left")
        .join(pmtu.with_columns(pl.col("dir").cast(pl.UInt8)), on=["id", "dir"], how="left")
        .join(biggest, on=fd, how="left")
        .join(large, on=fd, how="left")
        .join(floor, on=fd, how="left")
    )
    has_hs = pl.col("hs").fill_null(False)
    peer_limit = pl.when(pl.col("peer_hs").fill_null(False)).then(
        pl.coalesce(pl.col("peer_mss"), by_family(DEFAULT_MSS))
    )
    by_path = pl.col("path_mtu") - by_family(HEADERS)
    floor_on = pl.col("peer_mss").is_not_null() & (pl.col("peer_mss") < FLOOR)
    return sides.with_columns(
        peer_limit=peer_limit,
        effective_mss=pl.when(pl.col("path_mtu").is_null())
        .then(peer_limit)
        .when(peer_limit.is_null())
        .then(by_path)
        .otherwise(pl.min_horizontal(peer_limit, by_path)),
        mss=pl.when(has_hs & (pl.col("hs_mss") >= 0)).then(pl.col("hs_mss")),
        wscale=pl.when(has_hs & (pl.col("hs_wscale") >= 0)).then(pl.col("hs_wscale")),
        sack_perm=pl.col("hs_sack").fill_null(False) & has_hs,
        timestamps=pl.col("hs_tsopt").fill_null(False) & has_hs,
        floor_segments=pl.when(floor_on).then(pl.col("floor_count")).fill_null(0),
        floor_first_frame=pl.when(floor_on).then(pl.col("floor_first")),
        large_sizes=pl.col("large_sizes").fill_null(
            pl.lit(
                [],
                dtype=pl.List(
                    pl.Struct(
                        dict.fromkeys(("payload", "count", "first_frame", "last_frame"), _I64)
                    )
                ),
            )
        ),
        **{c: pl.col(c).fill_null(0) for c in ("packets", "bytes", "max_segment", "iplen0")},
        **{c: pl.col(c).fill_null(0) for c in ("retrans", "rsts", "fins")},
    )


def _addresses(sides: pl.DataFrame) -> pl.Series:
    """Each side's address text (distinct addresses converted once)."""
    hi = pl.when(pl.col("dir") == 0).then(pl.col("a_hi")).otherwise(pl.col("b_hi"))
    lo = pl.when(pl.col("dir") == 0).then(pl.col("a_lo")).otherwise(pl.col("b_lo"))
    addr = sides.select(hi=hi, lo=lo, family=pl.col("family"))
    uniq = addr.unique()
    text = [
        address_text(h, low, f)
        for h, low, f in zip(
            uniq["hi"].to_list(), uniq["lo"].to_list(), uniq["family"].to_list(), strict=True
        )
    ]
    names = uniq.with_columns(address=pl.Series(text, dtype=pl.String))
    return addr.join(names, on=["hi", "lo", "family"], how="left", maintain_order="left")["address"]


def _table(
    p: CapturePartial, conns: pl.DataFrame, sides: pl.DataFrame, too_big: pl.DataFrame
) -> pl.DataFrame:
    """One row per connection, in id order, shaped like the `connections[]` JSON items."""
    key = list(KEY)
    ep = sides.with_columns(address=_addresses(sides)).select(
        "id",
        "role",
        pl.struct(
            address="address",
            port=pl.when(pl.col("dir") == 0)
            .then(pl.col("a_port"))
            .otherwise(pl.col("b_port"))
            .cast(_I64),
            mss=pl.col("mss").cast(_I64),
            handshake_frame=pl.col("hs_frame").cast(_I64),
            handshake_ttl=pl.col("hs_ttl").cast(_I64),
            wscale=pl.col("wscale").cast(_I64),
            sack_perm="sack_perm",
            timestamps="timestamps",
            effective_mss=pl.col("effective_mss").cast(_I64),
            max_segment=pl.col("max_segment").cast(_I64),
            max_segment_frame=pl.col("max_segment_frame").cast(_I64),
            packets="packets",
            bytes="bytes",
            retransmissions="retrans",
            resets="rsts",
            fins="fins",
            path_mtu=pl.col("path_mtu").cast(_I64),
            oversized=pl.lit(None),
            large_sizes="large_sizes",
            floor_segments=pl.col("floor_segments").cast(_I64),
            floor_first_frame=pl.col("floor_first_frame").cast(_I64),
            black_holes=pl.lit(None),
        ).alias("ep"),
    )
    encaps = p.encaps.group_by(key).agg(
        bits=pl.col("encap").bitwise_or(), encap_overhead=pl.col("overhead").unique().sort()
    )
    bits = sorted({int(b) for b in encaps["bits"].to_list()} | {0})
    names = pl.DataFrame(
        {"bits": bits, "encapsulation": [list(encap_names(b)) for b in bits]},
        schema={"bits": _I64, "encapsulation": pl.List(pl.String)},
    )
    client = ep.filter(pl.col("role") == "client").select("id", client="ep")
    server = ep.filter(pl.col("role") == "server").select("id", server="ep")
    return (
        conns.join(client, on="id", how="left")
        .join(server, on="id", how="left")
        .join(encaps, on=key, how="left")
        .with_columns(pl.col("bits").fill_null(0))
        .join(names, on="bits", how="left")
        .join(too_big, on="id", how="left")
        .sort("id")
        .select(
            "id",
            pl.col("family").cast(_I64),
            "client",
            "server",
            "client_rule",
            "encapsulation",
            pl.col("encap_overhead").fill_null(pl.lit([], dtype=pl.List(_I64))),
            *(pl.col(c).cast(_I64) for c in ("first_frame", "last_frame")),
            *(pl.col(c).cast(_I64) for c in ("first_ts_ns", "last_ts_ns")),
            pl.col("too_big_frames").fill_null(pl.lit([], dtype=pl.List(_I64))),
            retransmissions=pl.col("client").struct.field("retransmissions")
            + pl.col("server").struct.field("retransmissions"),
            resets=pl.col("client").struct.field("resets")
            + pl.col("server").struct.field("resets"),
            path_mtu=pl.min_horizontal(
                pl.col("client").struct.field("path_mtu"),
                pl.col("server").struct.field("path_mtu"),
            ),
        )
    )
