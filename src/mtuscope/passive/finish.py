"""Turn a merged `CapturePartial` into the frozen `CaptureAnalysis`.

Layer: passive/. Pure; no I/O. Columnar: one polars row per connection, built by
joins and group-bys over the partial's tables. Python loops here run only over
rare rows: ICMP messages, and the connection directions whose segment sizes
exceed the peer's limit or whose retransmissions could be a black hole. Python
`Connection` objects are built only for the connections findings are about
(`CaptureAnalysis.notable`), or on demand (`CaptureAnalysis.connections`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
import polars as pl

from mtuscope.passive.flows import FD, KEY, address_text, canonical_keys
from mtuscope.passive.merge import regroup
from mtuscope.passive.partial import ACK, RST, SYN, CapturePartial
from mtuscope.passive.results import (
    LARGE_SEGMENT,
    BlackHole,
    CaptureAnalysis,
    Details,
    FragmentFlow,
    IcmpTooBig,
    OversizedSegments,
    ReceiverBlackHole,
    encap_names,
)
from mtuscope.passive.ttl import initial_ttl_guess, sender_hint

Key = tuple[int, int, int, int, int, int]
Row = dict[str, Any]

DEFAULT_MSS = {4: 536, 6: 1220}
"""MSS assumed when the handshake carried no option: RFC 9293 §3.7.1 (IPv4, 576 - 40) and
RFC 8200 §5 / RFC 9293 §3.7.1 (IPv6: 1280 - 60)."""
HEADERS = {4: 40, 6: 60}
"""IP plus TCP header bytes without options."""
MIN_MTU = {4: 576, 6: 1280}
"""Packets up to this size cross any real path (RFC 1122 §3.3.3 reassembly minimum for
IPv4, RFC 8200 §5 for IPv6): a stall of such a packet is loss, not a black hole."""
LINK_MTU = 1500
"""Link MTU assumed when no MSS is known (Ethernet)."""
SENDER_TTLS = (64, 128, 255)
"""TTLs still at an initial value: the packet was captured before its first router."""
MAX_BLACKHOLE_FRAMES = 16
MAX_BLACKHOLES = 16
FLOOR = 536
"""The MSS some senders use whatever smaller MSS the peer announced (Windows Vista and later)."""

_I64 = pl.Int64


def _by_family(table: dict[int, int]) -> pl.Expr:
    return pl.when(pl.col("family") == 4).then(table[4]).otherwise(table[6])


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
    conns = (
        live.group_by(key)
        .agg(
            first_frame=pl.col("first_frame").min(),
            last_frame=pl.col("last_frame").max(),
            first_ts_ns=pl.col("first_ts").min(),
            last_ts_ns=pl.col("last_ts").max(),
            first_dir=pl.col("dir").sort_by("first_frame", "dir").first(),
        )
        .sort(["first_frame", *key])
        .with_row_index("id", offset=first_id)
        .with_columns(pl.col("id").cast(_I64))
        .join(
            dirs.group_by(key).agg(family=pl.col("family").drop_nulls().first()),
            on=key,
            how="left",
        )
    )
    syns = p.syns.sort("frame")
    flag = pl.col("flags") & (SYN | ACK)
    syn_rows = syns.filter(flag == SYN)
    synack_rows = syns.filter(flag == SYN | ACK)
    conns = (
        conns.join(syn_rows.group_by(key).agg(syn_dir=pl.col("dir").first()), on=key, how="left")
        .join(synack_rows.group_by(key).agg(sa_dir=pl.col("dir").first()), on=key, how="left")
        .with_columns(
            cd=pl.coalesce(
                pl.col("syn_dir").cast(_I64),
                1 - pl.col("sa_dir").cast(_I64),
                pl.when(pl.col("a_port") != pl.col("b_port"))
                .then(pl.when(pl.col("a_port") < pl.col("b_port")).then(1).otherwise(0))
                .otherwise(pl.col("first_dir").cast(_I64)),
            ).cast(pl.UInt8),
            client_rule=pl.when(pl.col("syn_dir").is_not_null())
            .then(pl.lit("syn"))
            .when(pl.col("sa_dir").is_not_null())
            .then(pl.lit("syn-ack"))
            .otherwise(pl.lit("port")),
        )
    )

    icmps, matched = _icmp_messages(p, conns.select(*key, "id", "cd"))
    usable = matched.filter(pl.col("problem_free"))
    pmtu = usable.group_by("id", "dir").agg(path_mtu=pl.col("mtu").min())
    too_big = matched.group_by("id").agg(too_big_frames=pl.col("frame").sort())

    sides = _sides(p, conns, syn_rows, synack_rows, pmtu)
    details = dict(_details(p, conns, sides, too_big))
    for at, gap in _receiver_gaps(p, conns, sides, too_big).items():
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
        fragments=_fragments(p.fragments),
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
        pl.coalesce(pl.col("peer_mss"), _by_family(DEFAULT_MSS))
    )
    by_path = pl.col("path_mtu") - _by_family(HEADERS)
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


def _details(
    p: CapturePartial, conns: pl.DataFrame, sides: pl.DataFrame, too_big: pl.DataFrame
) -> Details:
    """Oversized segments and black holes of the (rare) sides that have candidates."""
    fd = list(FD)
    info = sides.select(*fd, "id", "role", "family", "peer_limit", "peer_ack", "iplen0")
    sizes = p.sizes.join(info, on=fd, how="inner")
    over = sizes.filter(
        pl.when(pl.col("peer_limit").is_not_null())
        .then(pl.col("payload") > pl.col("peer_limit"))
        .otherwise(pl.col("payload") + pl.col("hdr") > LINK_MTU)
    )
    out: dict[
        tuple[int, str], tuple[OversizedSegments | None, tuple[BlackHole | ReceiverBlackHole, ...]]
    ] = {}
    over_rows: dict[tuple[int, str], list[Row]] = defaultdict(list)
    for r in over.sort("payload").iter_rows(named=True):
        over_rows[(r["id"], r["role"])].append(r)
    for at, rows in over_rows.items():
        r0 = rows[0]
        out[at] = (
            _oversized(rows, r0["peer_limit"], int(r0["family"]), r0["peer_ack"], r0["iplen0"]),
            (),
        )
    retrans = p.retrans.join(info.select(*fd, "id", "role"), on=fd, how="inner")
    stalled = (
        retrans.filter(pl.len().over("id", "role", "seq_start", "payload") >= 2)
        .select("id", "role")
        .unique()
    )
    if stalled.height == 0:
        return out
    cand = stalled.join(info, on=["id", "role"], how="inner")
    seen = set(too_big.get_column("id").to_list())
    by_side: dict[tuple[int, str], list[Row]] = defaultdict(list)
    for r in retrans.join(stalled, on=["id", "role"]).sort("frame").iter_rows(named=True):
        by_side[(r["id"], r["role"])].append(r)
    size_rows: dict[tuple[int, str], list[Row]] = defaultdict(list)
    for r in sizes.join(stalled, on=["id", "role"]).sort("payload").iter_rows(named=True):
        size_rows[(r["id"], r["role"])].append(r)
    ends_of: dict[int, list[Row]] = defaultdict(list)
    keyed = conns.select(*KEY, "id").join(stalled.select("id").unique(), on="id")
    for r in p.ends.join(keyed, on=list(KEY)).sort("frame").iter_rows(named=True):
        ends_of[r["id"]].append(r)
    for r in cand.iter_rows(named=True):
        at = (r["id"], r["role"])
        holes = _black_holes(
            int(r["family"]),
            size_rows.get(at, []),
            by_side[at],
            ends_of.get(r["id"], []),
            r["peer_ack"],
            r["id"] in seen,
        )
        if holes:
            out[at] = (out.get(at, (None, ()))[0], holes)
    return out


def _receiver_gaps(
    p: CapturePartial, conns: pl.DataFrame, sides: pl.DataFrame, too_big: pl.DataFrame
) -> dict[tuple[int, str], ReceiverBlackHole]:
    """Black holes seen from the receiving side (rule: `ReceiverBlackHole`).

    The last jump of a direction is its last event starting beyond the reach of the
    events before it, or its last packet (a bare ACK) when that starts beyond the reach
    of every event; if it is unrepaired, so is every earlier one."""
    fd = list(FD)
    half = 1 << 31
    d = p.directions
    tail_abs = (
        pl.col("last_abs")
        + (pl.col("tail_raw") - pl.col("last_raw") + half + (1 << 32)) % (1 << 32)
        - half
    )
    use_tail = (tail_abs > pl.col("reach")).fill_null(False)
    state = d.select(
        *fd,
        "ip_max",
        gap_end=pl.when(use_tail).then(tail_abs).otherwise(pl.col("jump_start")),
        gap_start=pl.when(use_tail).then(pl.col("reach")).otherwise(pl.col("jump_gap")),
        jump_frame=pl.when(use_tail).then(pl.col("tail_frame")).otherwise(pl.col("jump_frame")),
        prev_frame=pl.when(use_tail)
        .then(pl.col("ev_last_frame"))
        .otherwise(pl.col("jump_prev_frame")),
    ).filter(pl.col("gap_end").is_not_null())
    if state.height == 0:
        return {}
    receiver = d.select(
        *KEY, dir=(1 - pl.col("dir").cast(_I64)).cast(pl.UInt8), receiver_frame="last_frame"
    )
    segment = pl.coalesce(pl.col("peer_limit"), _by_family(DEFAULT_MSS))
    seen = too_big.get_column("id").to_list()
    cand = (
        sides.select(*fd, "id", "role", "family", "peer_limit", "peer_ack", "max_segment")
        .join(state, on=fd, how="inner")
        .join(receiver, on=fd, how="left")
        .with_columns(segment=segment, hdr=_by_family(HEADERS))
        .filter(
            (pl.col("gap_end") - pl.col("gap_start") >= pl.col("segment"))
            & pl.col("peer_ack").is_not_null()
            & (pl.col("peer_ack") <= pl.col("gap_start"))
            & ~pl.col("id").is_in(seen)
            & (pl.col("max_segment") < pl.col("segment"))
            & (pl.col("segment") + pl.col("hdr") > _by_family(MIN_MTU))
        )
    )
    if cand.height == 0:
        return {}
    ends_of: dict[int, list[Row]] = defaultdict(list)
    keyed = conns.select(*KEY, "id").join(cand.select("id").unique(), on="id")
    for r in p.ends.join(keyed, on=list(KEY)).sort("frame").iter_rows(named=True):
        ends_of[r["id"]].append(r)
    out: dict[tuple[int, str], ReceiverBlackHole] = {}
    for r in cand.sort("id", "role").iter_rows(named=True):
        end = next((e for e in ends_of[r["id"]] if e["frame"] > r["jump_frame"]), None)
        size = int(r["segment"]) + int(r["hdr"])
        arrived = int(r["ip_max"] or 0)
        out[(r["id"], r["role"])] = ReceiverBlackHole(
            seen_from="receiver",
            gap_start_raw=int(r["gap_start"]) % (1 << 32),
            seq_raw=int(r["gap_end"]) % (1 << 32),
            missing=int(r["gap_end"] - r["gap_start"]),
            segment=int(r["segment"]),
            packet_size=size,
            largest_arrived=arrived,
            mtu_low=arrived,
            mtu_high=size - 1,
            last_in_order_frame=_opt(r["prev_frame"]),
            jump_frame=int(r["jump_frame"]),
            receiver_frame=_opt(r["receiver_frame"]),
            receiver_ack_raw=int(r["peer_ack"]) % (1 << 32),
            end_frame=int(end["frame"]) if end else None,
            end=None if end is None else ("rst" if end["flags"] & RST else "fin"),
            too_big_seen=False,
        )
    return out


def _oversized(
    sizes: list[Row], peer_limit: int | None, family: int, peer_ack: int | None, ip_len_zero: int
) -> OversizedSegments | None:
    if peer_limit is not None:
        over = [s for s in sizes if s["payload"] > peer_limit]
        source = "peer-mss"
    else:
        over = [s for s in sizes if s["payload"] + s["hdr"] > LINK_MTU]
        source = "link-mtu"
    if not over:
        return None
    hdr = int(over[0]["hdr"])
    limit = peer_limit if peer_limit is not None else LINK_MTU - hdr
    biggest = over[-1]
    first = min(over, key=lambda s: int(s["first_frame"]))
    ttl_min = min(int(s["ttl_min"]) for s in over)
    ttl_max = max(int(s["ttl_max"]) for s in over)
    acked = peer_ack is not None and all(peer_ack >= s["first_seq_end"] for s in over)
    sender_side = ttl_min == ttl_max and ttl_max in SENDER_TTLS
    coalesced = int(biggest["payload"]) >= 2 * limit
    # Bigger than both an Ethernet MTU and the MTU the receiver implied by its MSS:
    # such a packet could not have reached the receiver's interface in one piece.
    beyond_link = int(biggest["payload"]) + hdr > max(LINK_MTU, limit + HEADERS[family])
    artifact = ip_len_zero > 0 or beyond_link or (acked and (sender_side or coalesced))
    mechanism = None
    if artifact:
        mechanism = "TSO/GSO" if ip_len_zero > 0 or sender_side else "GRO/LRO"
    return OversizedSegments(
        limit=limit,
        limit_source=source,
        count=sum(int(s["count"]) for s in over),
        first_frame=int(first["first_frame"]),
        first_size=int(first["payload"]),
        largest=int(biggest["payload"]),
        largest_frame=int(biggest["first_frame"]),
        largest_ip_len=int(biggest["ip_len_max"]),
        largest_wirelen=int(biggest["wire_max"]),
        ip_len_zero=ip_len_zero,
        ttl_min=ttl_min,
        ttl_max=ttl_max,
        acked=acked,
        sender_side=sender_side,
        coalesced=coalesced,
        artifact=artifact,
        mechanism=mechanism,
    )


def _black_holes(
    family: int,
    sizes: list[Row],
    retrans: list[Row],
    ends: list[Row],
    peer_ack: int | None,
    too_big_seen: bool,
) -> tuple[BlackHole, ...]:
    """Stalls: one (seq, size) retransmitted at least twice, never acked by the last copy,
    while a smaller size of the same direction was acked (the handshake counts, as size
    0); larger than `MIN_MTU`; and either followed by a smaller retransmission of the
    range, or never acked at all."""
    groups: dict[tuple[int, int], list[Row]] = defaultdict(list)
    for r in retrans:
        groups[(int(r["seq_start"]), int(r["payload"]))].append(r)
    hdr_of = {int(s["payload"]): int(s["hdr"]) for s in sizes}
    out: list[BlackHole] = []
    for (seq, size), copies in sorted(groups.items(), key=lambda kv: kv[1][0]["frame"]):
        if len(copies) < 2:
            continue
        last = copies[-1]
        if last["ack_max"] is not None and last["ack_max"] >= last["seq_end"]:
            continue
        hdr = hdr_of.get(size, HEADERS[family])
        if size + hdr <= MIN_MTU[family]:
            continue  # every path carries this much: loss, not an MTU problem
        acked = [
            int(s["payload"])
            for s in sizes
            if s["payload"] < size and peer_ack is not None and peer_ack >= s["first_seq_end"]
        ]
        if not acked:
            if peer_ack is None:
                continue
            # No smaller data segment, but the peer acknowledged the handshake: small
            # packets pass and the first full-size ones vanish ("the session hangs after
            # the handshake"), the classic black hole.
            acked = [0]
        recovery = next(
            (
                r
                for r in retrans
                if r["frame"] > last["frame"]
                and seq <= r["seq_start"] < seq + size
                and r["payload"] < size
            ),
            None,
        )
        if recovery is None and peer_ack is not None and peer_ack >= last["seq_end"]:
            continue  # the full-size segment got through in the end: loss, not a black hole
        end = next((e for e in ends if e["frame"] > copies[0]["frame"]), None)
        low = max(acked)
        if recovery is not None and peer_ack is not None and peer_ack >= recovery["seq_end"]:
            low = max(low, int(recovery["payload"]))
        out.append(
            BlackHole(
                seq_raw=seq % (1 << 32),
                size=size,
                packet_size=size + hdr,
                frames=tuple(int(r["frame"]) for r in copies[:MAX_BLACKHOLE_FRAMES]),
                retransmissions=len(copies),
                acked_size=max(acked),
                mtu_low=low + hdr,
                mtu_high=size + hdr - 1,
                recovery_frame=int(recovery["frame"]) if recovery else None,
                recovery_size=int(recovery["payload"]) if recovery else None,
                end_frame=int(end["frame"]) if end else None,
                end=None if end is None else ("rst" if end["flags"] & RST else "fin"),
                too_big_seen=too_big_seen,
            )
        )
        if len(out) >= MAX_BLACKHOLES:
            break
    return tuple(out)


def _icmp_messages(p: CapturePartial, conns: pl.DataFrame) -> tuple[list[IcmpTooBig], pl.DataFrame]:
    """Each too-big message, matched to the connection (and direction) it quotes.

    Returns:
        The messages by frame, and (id, dir, mtu, frame, problem_free) of the matched ones.
    """
    matched_schema = {
        "id": _I64,
        "dir": _I64,
        "mtu": _I64,
        "frame": _I64,
        "problem_free": pl.Boolean,
    }
    df = p.icmp.sort("frame")
    if df.height == 0:
        return [], pl.DataFrame(schema=matched_schema)
    quoted = (df["q_family"].to_numpy() > 0) & (df["q_proto"].to_numpy() == 6)
    keys = canonical_keys(
        df["q_src_hi"].to_numpy(),
        df["q_src_lo"].to_numpy(),
        np.clip(df["q_sport"].to_numpy(), 0, 65535),
        df["q_dst_hi"].to_numpy(),
        df["q_dst_lo"].to_numpy(),
        np.clip(df["q_dport"].to_numpy(), 0, 65535),
    )
    found = (
        pl.DataFrame({c: getattr(keys, c) for c in KEY})
        .with_columns(pl.col(c).cast(conns.schema[c]) for c in KEY)
        .join(conns, on=list(KEY), how="left", maintain_order="left")
    )
    ids, cds = found["id"].to_list(), found["cd"].to_list()
    out: list[IcmpTooBig] = []
    matched: list[tuple[int, int, int, int, bool]] = []
    for i, r in enumerate(df.iter_rows(named=True)):
        cid = ids[i] if quoted[i] and r["q_sport"] >= 0 else None
        d = int(keys.dir[i]) if cid is not None else None
        role = None if d is None else ("client" if d == cds[i] else "server")
        qf = int(r["q_family"])
        family = int(r["family"])
        ttl = int(r["ttl"])
        guess = initial_ttl_guess(ttl)
        msg = IcmpTooBig(
            capture=p.capture,
            frame=int(r["frame"]),
            ts_ns=int(r["ts"]),
            family=family,
            sender=address_text(r["src_hi"], r["src_lo"], family),
            mtu=int(r["mtu"]),
            ttl=ttl,
            initial_ttl_guess=guess,
            sender_hint=sender_hint(guess),
            quoted_src=address_text(r["q_src_hi"], r["q_src_lo"], qf) if qf else None,
            quoted_dst=address_text(r["q_dst_hi"], r["q_dst_lo"], qf) if qf else None,
            quoted_proto=_opt(r["q_proto"]),
            quoted_sport=_opt(r["q_sport"]),
            quoted_dport=_opt(r["q_dport"]),
            quoted_len=_opt(r["q_ip_len"]),
            connection=cid,
            direction=role,
            problem=_mtu_problem(family, int(r["mtu"]), _opt(r["q_ip_len"])),
        )
        out.append(msg)
        if cid is not None and d is not None:
            matched.append((cid, d, msg.mtu, msg.frame, msg.problem is None))
    return out, pl.DataFrame(matched, schema=matched_schema, orient="row")


def _opt(v: int | None) -> int | None:
    return None if v is None or v < 0 else int(v)


def _mtu_problem(family: int, mtu: int, quoted_len: int | None) -> str | None:
    """Why a too-big message cannot be acted on, or None.

    IPv4: MTU 0 comes from pre-RFC 1191 routers (RFC 1191 §5); below 68 is under
    the IPv4 minimum (RFC 791). IPv6: below 1280 (RFC 8200 §5). Either: an MTU not
    smaller than the quoted packet would not have stopped it.
    """
    if mtu <= 0:
        return "zero"
    if mtu < (68 if family == 4 else 1280):
        return "below-minimum"
    if quoted_len is not None and quoted_len > 0 and mtu >= quoted_len:
        return "not-smaller"
    return None


def _fragments(df: pl.DataFrame) -> tuple[FragmentFlow, ...]:
    rows: Iterable[Row] = df.sort("first_frame").iter_rows(named=True)
    return tuple(
        FragmentFlow(
            family=int(r["family"]),
            src=address_text(r["src_hi"], r["src_lo"], int(r["family"])),
            dst=address_text(r["dst_hi"], r["dst_lo"], int(r["family"])),
            proto=int(r["proto"]),
            fragments=int(r["fragments"]),
            datagrams=int(r["datagrams"]),
            df_fragments=int(r["df"]),
            min_len=int(r["min_len"]),
            max_len=int(r["max_len"]),
            first_frame=int(r["first_frame"]),
            last_frame=int(r["last_frame"]),
        )
        for r in rows
    )
