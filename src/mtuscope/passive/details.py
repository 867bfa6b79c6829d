"""The rare nested parts of a connection side: oversized segments and black holes.

Layer: passive/. Pure; no I/O. Called by `finish` with its per-side table; Python
loops here run only over the (rare) sides whose segment sizes exceed the peer's
limit or whose retransmissions or sequence jumps could be a black hole. The
results are `CaptureAnalysis.details`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl

from mtuscope.passive.flows import FD, KEY
from mtuscope.passive.icmp import optional
from mtuscope.passive.partial import RST, CapturePartial
from mtuscope.passive.results import BlackHole, Details, OversizedSegments, ReceiverBlackHole
from mtuscope.wire.ipv4 import IPV4_MIN_HEADER
from mtuscope.wire.ipv6 import IPV6_HEADER
from mtuscope.wire.sizes import MIN_REASSEMBLY, TCP_DEFAULT_MSS
from mtuscope.wire.tcp import TCP_MIN_HEADER

Row = dict[str, Any]
_I64 = pl.Int64

HEADERS = {4: IPV4_MIN_HEADER + TCP_MIN_HEADER, 6: IPV6_HEADER + TCP_MIN_HEADER}
"""IP plus TCP header bytes without options (40 IPv4, 60 IPv6)."""
LINK_MTU = 1500
"""Link MTU assumed when no MSS is known (Ethernet)."""
SENDER_TTLS = (64, 128, 255)
"""TTLs still at an initial value: the packet was captured before its first router."""
MAX_BLACKHOLE_FRAMES = 16
MAX_BLACKHOLES = 16


def by_family(table: dict[int, int]) -> pl.Expr:
    """`table[family]` of each row's `family` column."""
    return pl.when(pl.col("family") == 4).then(table[4]).otherwise(table[6])


def side_details(
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
            r["peer_limit"],
            r["id"] in seen,
        )
        if holes:
            out[at] = (out.get(at, (None, ()))[0], holes)
    return out


def receiver_gaps(
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
    segment = pl.coalesce(pl.col("peer_limit"), by_family(TCP_DEFAULT_MSS))
    seen = too_big.get_column("id").to_list()
    cand = (
        sides.select(*fd, "id", "role", "family", "peer_limit", "peer_ack", "max_segment")
        .join(state, on=fd, how="inner")
        .join(receiver, on=fd, how="left")
        .with_columns(segment=segment, hdr=by_family(HEADERS))
        .filter(
            (pl.col("gap_end") - pl.col("gap_start") >= pl.col("segment"))
            & pl.col("peer_ack").is_not_null()
            & (pl.col("peer_ack") <= pl.col("gap_start"))
            & ~pl.col("id").is_in(seen)
            & (pl.col("max_segment") < pl.col("segment"))
            & (pl.col("segment") + pl.col("hdr") > by_family(MIN_REASSEMBLY))
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
            last_in_order_frame=optional(r["prev_frame"]),
            jump_frame=int(r["jump_frame"]),
            receiver_frame=optional(r["receiver_frame"]),
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
    peer_limit: int | None,
    too_big_seen: bool,
) -> tuple[BlackHole, ...]:
    """Stalls: one (seq, size) retransmitted at least twice, never acked by the last copy,
    while a smaller size of the same direction was acked (the handshake counts, as size
    0); larger than `MIN_REASSEMBLY` or than the peer's MSS; and either followed by a smaller
    retransmission of the range, or never acked at all. `passed_frame` names an earlier,
    acknowledged segment at least as big (an outage, not an MTU problem)."""
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
        # Every path carries the minimum reassembly size: loss, not an MTU problem, unless
        # the segment exceeds the peer's MSS (a sender's MSS floor, kept for its rule).
        within_minimum = size + hdr <= MIN_REASSEMBLY[family]
        if within_minimum and (peer_limit is None or size <= peer_limit):
            continue
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
        # A packet at least this big got through and was acknowledged before: an outage.
        passed = min(
            (
                s
                for s in sizes
                if s["payload"] + s["hdr"] >= size + hdr
                and s["first_frame"] < copies[0]["frame"]
                and peer_ack is not None
                and peer_ack >= s["first_seq_end"]
            ),
            key=lambda s: int(s["first_frame"]),
            default=None,
        )
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
                passed_frame=int(passed["first_frame"]) if passed else None,
                passed_size=int(passed["payload"] + passed["hdr"]) if passed else None,
                within_minimum=within_minimum,
            )
        )
        if len(out) >= MAX_BLACKHOLES:
            break
    return tuple(out)
