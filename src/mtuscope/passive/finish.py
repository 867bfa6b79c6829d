"""Turn a merged `CapturePartial` into the frozen `CaptureAnalysis`.

Layer: passive/. Pure; no I/O. Python loops here run over connections, SYNs,
ICMP messages and retransmissions (rare rows), never over all packets.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
import polars as pl

from mtuscope.passive.flows import FD, KEY, address_text, canonical_keys
from mtuscope.passive.partial import ACK, RST, SYN, CapturePartial
from mtuscope.passive.results import (
    LARGE_SEGMENT,
    BlackHole,
    CaptureAnalysis,
    Connection,
    Endpoint,
    FragmentFlow,
    IcmpTooBig,
    OversizedSegments,
    SegmentSize,
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


def finish(p: CapturePartial) -> CaptureAnalysis:
    """Freeze the analysis of a whole capture.

    Args:
        p: the partial of the whole capture (every chunk merged in file order).

    Returns:
        Connections (ordered by first frame, ids from 1), ICMP too-big messages
        (by frame) and fragment flows.
    """
    dirs: dict[Key, dict[int, Row]] = defaultdict(dict)
    for r in p.directions.iter_rows(named=True):
        dirs[_key(r)][r["dir"]] = r
    first_frame = {
        k: min(r["first_frame"] for r in d.values() if r["first_frame"] is not None)
        for k, d in dirs.items()
        if any(r["first_frame"] is not None for r in d.values())
    }
    order = sorted(first_frame, key=lambda k: (first_frame[k], k))
    conn_id = {k: i + 1 for i, k in enumerate(order)}

    syns = _by_key(p.syns.sort("frame"))
    client_dir = {k: _client_dir(k, dirs[k], syns.get(k, [])) for k in order}
    icmps = _icmp_messages(p, conn_id, client_dir)
    pmtu: dict[tuple[Key, int], int] = {}
    too_big: dict[Key, list[int]] = defaultdict(list)
    key_of = {v: k for k, v in conn_id.items()}
    for msg, quoted_dir in icmps:
        if msg.connection is None or quoted_dir is None:
            continue
        k = key_of[msg.connection]
        too_big[k].append(msg.frame)
        if msg.problem is None:
            at = (k, quoted_dir)
            pmtu[at] = min(pmtu.get(at, msg.mtu), msg.mtu)

    sizes = _by_fd(p.sizes.sort("payload"))
    retrans = _by_fd(p.retrans.sort("frame"))
    ends = _by_key(p.ends.sort("frame"))
    encaps = _by_key(p.encaps.sort("first_frame"))
    connections = []
    for k in order:
        d = dirs[k]
        cd = client_dir[k]
        family = next(int(r["family"]) for r in d.values() if r["family"] is not None)
        hs = _handshakes(syns.get(k, []), cd)
        ends_k = ends.get(k, [])
        sides = {}
        for role_dir in (cd, 1 - cd):
            peer = 1 - role_dir
            sides[role_dir] = _endpoint(
                k,
                role_dir,
                family,
                mine=d.get(role_dir),
                hs=hs.get(role_dir),
                peer_hs=hs.get(peer),
                sizes=sizes.get((*k, role_dir), []),
                retrans=retrans.get((*k, role_dir), []),
                ends=ends_k,
                pmtu=pmtu.get((k, role_dir)),
                too_big_seen=bool(too_big.get(k)),
            )
        rows = [r for r in d.values() if r["first_frame"] is not None]
        enc = encaps.get(k, [])
        bits = 0
        for e in enc:
            bits |= int(e["encap"])
        connections.append(
            Connection(
                id=conn_id[k],
                family=family,
                client=sides[cd],
                server=sides[1 - cd],
                client_rule=_client_rule(syns.get(k, [])),
                encapsulation=encap_names(bits),
                encap_overhead=tuple(sorted({int(e["overhead"]) for e in enc})),
                first_frame=first_frame[k],
                last_frame=max(int(r["last_frame"]) for r in rows),
                first_ts_ns=min(int(r["first_ts"]) for r in rows),
                last_ts_ns=max(int(r["last_ts"]) for r in rows),
                too_big_frames=tuple(sorted(too_big.get(k, []))),
            )
        )
    return CaptureAnalysis(
        capture=p.capture,
        frames=p.frames,
        ip_packets=p.ip_packets,
        tcp_packets=p.tcp_packets,
        decode_issues=p.decode_issues,
        connections=tuple(connections),
        icmp_too_big=tuple(m for m, _ in icmps),
        fragments=_fragments(p.fragments),
    )


def _key(r: Row) -> Key:
    return (r["a_hi"], r["a_lo"], r["a_port"], r["b_hi"], r["b_lo"], r["b_port"])


def _by_key(df: pl.DataFrame) -> dict[Key, list[Row]]:
    out: dict[Key, list[Row]] = defaultdict(list)
    for r in df.iter_rows(named=True):
        out[_key(r)].append(r)
    return out


def _by_fd(df: pl.DataFrame) -> dict[tuple[int, ...], list[Row]]:
    out: dict[tuple[int, ...], list[Row]] = defaultdict(list)
    for r in df.iter_rows(named=True):
        out[tuple(r[c] for c in FD)].append(r)
    return out


def _is_syn(r: Row) -> bool:
    return bool((r["flags"] & (SYN | ACK)) == SYN)


def _is_synack(r: Row) -> bool:
    return bool((r["flags"] & (SYN | ACK)) == SYN | ACK)


def _client_rule(syns: list[Row]) -> str:
    if any(_is_syn(r) for r in syns):
        return "syn"
    if any(_is_synack(r) for r in syns):
        return "syn-ack"
    return "port"


def _client_dir(k: Key, d: dict[int, Row], syns: list[Row]) -> int:
    """Direction (0: A->B) in which the client sends; see `Connection.client_rule`."""
    for r in syns:
        if _is_syn(r):
            return int(r["dir"])
    for r in syns:
        if _is_synack(r):
            return 1 - int(r["dir"])
    a_port, b_port = k[2], k[5]
    if a_port != b_port:
        # The lower port is the server; the client sends towards it.
        return 1 if a_port < b_port else 0
    firsts = {dr: r["first_frame"] for dr, r in d.items() if r["first_frame"] is not None}
    return min(firsts, key=lambda dr: (firsts[dr], dr))


def _handshakes(syns: list[Row], cd: int) -> dict[int, Row]:
    """The client's first SYN and the server's first SYN/ACK, by direction."""
    out: dict[int, Row] = {}
    for r in syns:
        dr = int(r["dir"])
        want = _is_syn(r) if dr == cd else _is_synack(r)
        if want and dr not in out:
            out[dr] = r
    return out


def _endpoint(
    k: Key,
    d: int,
    family: int,
    *,
    mine: Row | None,
    hs: Row | None,
    peer_hs: Row | None,
    sizes: list[Row],
    retrans: list[Row],
    ends: list[Row],
    pmtu: int | None,
    too_big_seen: bool,
) -> Endpoint:
    hi, lo, port = (k[0], k[1], k[2]) if d == 0 else (k[3], k[4], k[5])
    mss = _mss(hs)
    peer_mss = _mss(peer_hs)
    # What the peer allows: its option, or the default when its handshake had none.
    peer_limit = (peer_mss if peer_mss is not None else DEFAULT_MSS[family]) if peer_hs else None
    effective = peer_limit
    if pmtu is not None:
        by_path = pmtu - HEADERS[family]
        effective = by_path if effective is None else min(effective, by_path)
    biggest = sizes[-1] if sizes else None
    # The chain of direction d holds the peer's acks about d's bytes.
    peer_ack = mine["ack_max"] if mine is not None else None
    floor = (
        [s for s in sizes if s["payload"] == 536] if peer_mss is not None and peer_mss < 536 else []
    )
    return Endpoint(
        address=address_text(hi, lo, family),
        port=int(port),
        mss=mss,
        handshake_frame=int(hs["frame"]) if hs else None,
        handshake_ttl=int(hs["ttl"]) if hs else None,
        wscale=int(hs["wscale"]) if hs and hs["wscale"] >= 0 else None,
        sack_perm=bool(hs["sack"]) if hs else False,
        timestamps=bool(hs["tsopt"]) if hs else False,
        effective_mss=effective,
        max_segment=int(biggest["payload"]) if biggest else 0,
        max_segment_frame=int(biggest["first_frame"]) if biggest else None,
        packets=int(mine["packets"]) if mine else 0,
        bytes=int(mine["bytes"]) if mine else 0,
        retransmissions=int(mine["retrans"]) if mine else 0,
        resets=int(mine["rsts"]) if mine else 0,
        fins=int(mine["fins"]) if mine else 0,
        path_mtu=pmtu,
        oversized=_oversized(
            sizes, peer_limit, family, peer_ack, int(mine["iplen0"]) if mine else 0
        ),
        large_sizes=tuple(
            SegmentSize(
                payload=int(s["payload"]),
                count=int(s["count"]),
                first_frame=int(s["first_frame"]),
                last_frame=int(s["last_frame"]),
            )
            for s in sizes
            if s["payload"] >= LARGE_SEGMENT
        ),
        floor_segments=sum(int(s["count"]) for s in floor),
        floor_first_frame=min((int(s["first_frame"]) for s in floor), default=None),
        black_holes=_black_holes(family, sizes, retrans, ends, peer_ack, too_big_seen),
    )


def _mss(hs: Row | None) -> int | None:
    return int(hs["mss"]) if hs is not None and hs["mss"] >= 0 else None


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


def _icmp_messages(
    p: CapturePartial, conn_id: dict[Key, int], client_dir: dict[Key, int]
) -> list[tuple[IcmpTooBig, int | None]]:
    """Each too-big message, matched to the connection (and direction) it quotes."""
    df = p.icmp.sort("frame")
    if df.height == 0:
        return []
    quoted = (df["q_family"].to_numpy() > 0) & (df["q_proto"].to_numpy() == 6)
    keys = canonical_keys(
        df["q_src_hi"].to_numpy(),
        df["q_src_lo"].to_numpy(),
        np.clip(df["q_sport"].to_numpy(), 0, 65535),
        df["q_dst_hi"].to_numpy(),
        df["q_dst_lo"].to_numpy(),
        np.clip(df["q_dport"].to_numpy(), 0, 65535),
    )
    out: list[tuple[IcmpTooBig, int | None]] = []
    for i, r in enumerate(df.iter_rows(named=True)):
        k: Key = tuple(int(getattr(keys, c)[i]) for c in KEY)  # type: ignore[assignment]
        cid = conn_id.get(k) if quoted[i] and r["q_sport"] >= 0 else None
        d = int(keys.dir[i]) if cid is not None else None
        role = None if d is None else ("client" if d == client_dir[k] else "server")
        qf = int(r["q_family"])
        family = int(r["family"])
        ttl = int(r["ttl"])
        guess = initial_ttl_guess(ttl)
        out.append(
            (
                IcmpTooBig(
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
                ),
                d,
            )
        )
    return out


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
