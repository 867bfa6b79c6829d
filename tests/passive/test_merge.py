"""merge() is associative, and chunked analysis equals one-chunk analysis exactly."""

from __future__ import annotations

from functools import reduce
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mtuscope.capture import walk as walk_mod
from mtuscope.capture.table import PacketTable
from mtuscope.capture.walk import HAVE_C, chains_py, flows_py, sizes_py
from mtuscope.errors import UsageError
from mtuscope.passive import CapturePartial, analyse, finish, merge
from passive import scenarios as sc
from passive.tables import packet_table, tcp, too_big

HOSTS4 = ["192.0.2.1", "192.0.2.2", "198.51.100.7"]
HOSTS6 = ["2001:db8::1", "2001:db8::2"]
SIZES = [1, 100, 536, 1000, 1400, 1460, 2896]
ISNS = st.one_of(st.integers(0, 2**32 - 1), st.integers(2**32 - 5000, 2**32 - 1))


@st.composite
def packet_sequences(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Random TCP conversations (with retransmissions, wraps, RST/FIN, ICMP, fragments)."""
    conns: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 3))):
        v6 = draw(st.booleans())
        hosts = HOSTS6 if v6 else HOSTS4
        client, server = draw(st.permutations(hosts))[:2]
        sport = draw(st.sampled_from([443, 25, 40000 + i]))
        cport = draw(st.sampled_from([443, 50000 + i, 1024]))
        conns.append(
            {
                "ends": ((client, cport), (server, sport)),
                "nxt": [draw(ISNS), draw(ISNS)],
                "sent": [[], []],
            }
        )
    packets: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 40))):
        conn = draw(st.sampled_from(conns))
        d = draw(st.integers(0, 1))
        src: str
        dst: str
        sp: int
        dp: int
        (src, sp), (dst, dp) = conn["ends"][d], conn["ends"][1 - d]
        peer_nxt = conn["nxt"][1 - d]
        action = draw(
            st.sampled_from(
                [
                    "syn",
                    "data",
                    "data",
                    "data",
                    "retx",
                    "ack",
                    "end",
                    "icmp",
                    "frag",
                    "skip",
                    "keepalive",
                ]  # fmt: skip
            )
        )
        if action == "syn":
            flags = "S" if d == 0 else "SA"
            mss = draw(st.sampled_from([-1, 500, 1360, 1460]))
            packets.append(
                tcp(src, sp, dst, dp, flags=flags, seq=conn["nxt"][d], ack=peer_nxt, mss=mss)
            )
            conn["nxt"][d] += 1
        elif action == "data":
            size = draw(st.sampled_from(SIZES))
            seq = conn["nxt"][d]
            ttl = draw(st.sampled_from([64, 57]))
            packets.append(
                tcp(src, sp, dst, dp, flags="PA", seq=seq, ack=peer_nxt, payload=size, ttl=ttl)
            )
            conn["sent"][d].append((seq, size))
            conn["nxt"][d] += size
        elif action == "keepalive" and conn["sent"][d]:  # one byte below the next sequence
            packets.append(
                tcp(src, sp, dst, dp, flags="A", seq=conn["nxt"][d] - 1, ack=peer_nxt, payload=1)
            )
        elif action == "skip":  # segments lost before the capture point: a sequence gap
            conn["nxt"][d] += draw(st.sampled_from([300, 1460, 20000]))
        elif action == "retx" and conn["sent"][d]:
            seq, size = draw(st.sampled_from(conn["sent"][d][-5:]))
            size = draw(st.sampled_from([size, size, max(1, size // 2)]))
            packets.append(tcp(src, sp, dst, dp, flags="PA", seq=seq, ack=peer_nxt, payload=size))
        elif action == "ack":
            acked = [s + n for s, n in conn["sent"][1 - d][-4:]] or [peer_nxt]
            packets.append(
                tcp(
                    src,
                    sp,
                    dst,
                    dp,
                    flags="A",
                    seq=conn["nxt"][d],
                    ack=draw(st.sampled_from(acked)),
                )
            )
        elif action == "end":
            flags = draw(st.sampled_from(["R", "FA", "RA"]))
            packets.append(tcp(src, sp, dst, dp, flags=flags, seq=conn["nxt"][d], ack=peer_nxt))
        elif action == "icmp":
            router = "2001:db8:ff::1" if ":" in src else "203.0.113.1"
            mtu = draw(st.sampled_from([0, 1280, 1400, 1500]))
            packets.append(too_big(router, src, mtu=mtu, quoted=(src, sp, dst, dp)))
        elif action == "frag":
            off = draw(st.sampled_from([0, 1480]))
            packets.append(
                {
                    "src": src,
                    "dst": dst,
                    "proto": 17,
                    "fragment": True,
                    "mf": off == 0,
                    "frag_off": off,
                    "ip_id": 7,
                    "payload": 1000,
                    "thl": 0,
                }
            )
    return packets


def _chunks(packets: list[dict[str, Any]], cuts: list[int]) -> list[PacketTable]:
    bounds = [0, *sorted(set(cuts)), len(packets)]
    return [
        packet_table(packets[a:b], first_frame=a + 1)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        if b > a
    ]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(packets=packet_sequences(), data=st.data())
def test_chunked_analysis_equals_whole(packets: list[dict[str, Any]], data: st.DataObject) -> None:
    assume(packets)
    cuts = data.draw(st.lists(st.integers(1, max(1, len(packets) - 1)), max_size=4))
    whole = finish(analyse(packet_table(packets), capture="c.pcap"))
    parts = [analyse(t, capture="c.pcap") for t in _chunks(packets, cuts)]
    left = reduce(merge, parts)
    right = reduce(lambda acc, p: merge(p, acc), reversed(parts))
    assert finish(left) == whole
    assert finish(right) == whole
    state = _gap_state(analyse(packet_table(packets), capture="c.pcap"))
    assert _gap_state(left) == state and _gap_state(right) == state


GAP_COLUMNS = (
    *("ip_max", "reach", "ev_first_start", "ev_first_frame", "ev_last_frame", "jump_start"),
    *("jump_gap", "jump_frame", "jump_prev_frame", "tail_raw", "tail_frame", "ack_max"),
)


def _gap_state(p: CapturePartial) -> list[tuple[Any, ...]]:
    """The receiving-side gap state of every direction, in key order."""
    from mtuscope.passive.flows import FD

    return sorted(p.directions.select(*FD, *GAP_COLUMNS).rows(), key=lambda r: r[:7])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=packet_sequences(), data=st.data())
def test_merge_is_associative_three_ways(
    packets: list[dict[str, Any]], data: st.DataObject
) -> None:
    n = len(packets)
    i = data.draw(st.integers(0, n))
    j = data.draw(st.integers(i, n))
    a, b, c = (
        analyse(packet_table(packets[x:y], first_frame=x + 1), capture="c.pcap")
        for x, y in ((0, i), (i, j), (j, n))
    )
    assert finish(merge(merge(a, b), c)) == finish(merge(a, merge(b, c)))


def test_retransmission_at_chunk_start_is_counted() -> None:
    c, s = "192.0.2.1", "198.51.100.2"
    packets = [
        tcp(s, 443, c, 40000, flags="PA", seq=2**32 - 700, payload=1000),  # wraps
        tcp(s, 443, c, 40000, flags="PA", seq=300, payload=1000),
        tcp(s, 443, c, 40000, flags="PA", seq=2**32 - 700, payload=1000),  # retransmissions
        tcp(s, 443, c, 40000, flags="PA", seq=300, payload=500),
        tcp(s, 443, c, 40000, flags="PA", seq=1300, payload=1000),  # new
    ]
    whole = finish(analyse(packet_table(packets), capture="x"))
    assert whole.connections[0].server.retransmissions == 2
    for cut in range(1, len(packets)):
        a, b = _chunks(packets, [cut])
        merged: CapturePartial = merge(analyse(a, capture="x"), analyse(b, capture="x"))
        assert finish(merged) == whole


def test_keep_alive_is_no_retransmission_at_any_cut() -> None:
    """A keep-alive (one byte below the next sequence, RFC 9293 §3.8.4) resends nothing that
    was lost, as tshark counts it; a one-byte resend further down still is one."""
    c, s = "192.0.2.1", "198.51.100.2"
    packets = [
        tcp(s, 443, c, 40000, flags="PA", seq=2**32 - 700, payload=1000),  # wraps
        tcp(s, 443, c, 40000, flags="A", seq=299, payload=1),  # keep-alive
        tcp(s, 443, c, 40000, flags="A", seq=299, payload=1),  # and again
        tcp(s, 443, c, 40000, flags="A", seq=298, payload=1),  # a resend of one byte
        tcp(s, 443, c, 40000, flags="PA", seq=300, payload=1000),  # new
    ]
    whole = finish(analyse(packet_table(packets), capture="x"))
    assert whole.connections[0].server.retransmissions == 1
    for cut in range(1, len(packets)):
        a, b = _chunks(packets, [cut])
        merged: CapturePartial = merge(analyse(a, capture="x"), analyse(b, capture="x"))
        assert finish(merged) == whole


def test_merge_refuses_partials_of_different_captures() -> None:
    one = analyse(packet_table([]), capture="a")
    with pytest.raises(UsageError):
        merge(one, analyse(packet_table([]), capture="b"))


def test_records_are_bounded_per_direction() -> None:
    from mtuscope.passive.partial import MAX_RECORDS

    srv = sc.Server()
    packets = [srv.send(100) for _ in range(MAX_RECORDS + 500)]
    first = analyse(packet_table(packets), capture="x")
    assert first.records.height == MAX_RECORDS
    again = merge(first, analyse(packet_table(packets, first_frame=len(packets) + 1), capture="x"))
    assert again.records.height == MAX_RECORDS
    # The second half re-sends all 4596 segments; only the first MAX_RECORDS of them can
    # be recognised across the boundary (the documented cap; a whole-file run sees 4596).
    assert finish(again).connections[0].server.retransmissions == MAX_RECORDS


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(packets=packet_sequences(), data=st.data())
def test_a_capture_start_keeps_no_records_and_stays_exact(
    packets: list[dict[str, Any]], data: st.DataObject
) -> None:
    assume(packets)
    cuts = data.draw(st.lists(st.integers(1, max(1, len(packets) - 1)), max_size=4))
    whole = finish(analyse(packet_table(packets), capture="c.pcap", at_start=True))
    tables = _chunks(packets, cuts)
    parts = [analyse(t, capture="c.pcap", at_start=i == 0) for i, t in enumerate(tables)]
    assert parts[0].records.height == 0
    left = reduce(merge, parts)
    assert left.at_start and left.records.height == 0
    assert finish(left) == whole
    if len(parts) >= 3:  # pairs first, as jobs/captures.py merges
        assert finish(merge(merge(parts[0], parts[1]), reduce(merge, parts[2:]))) == whole


def test_nothing_merges_in_front_of_a_capture_start() -> None:
    start = analyse(packet_table(sc.healthy()), capture="a", at_start=True)
    later = analyse(packet_table(sc.healthy()), capture="a")
    with pytest.raises(UsageError):
        merge(later, start)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(packets=packet_sequences(), data=st.data())
def test_many_chunks_regroup_the_aggregates_on_the_way(
    packets: list[dict[str, Any]], data: st.DataObject
) -> None:
    """More merges than REGROUP_EVERY: the aggregate tables are regrouped mid-way (and by
    `finish`), and the result still equals the one-chunk analysis."""
    from mtuscope.passive.flows import FD
    from mtuscope.passive.merge import regroup
    from mtuscope.passive.partial import REGROUP_EVERY

    assume(len(packets) > REGROUP_EVERY + 2)
    cuts = data.draw(
        st.lists(
            st.integers(1, len(packets) - 1),
            min_size=REGROUP_EVERY + 1,
            max_size=REGROUP_EVERY + 6,
            unique=True,
        )
    )
    whole = finish(analyse(packet_table(packets), capture="c.pcap", at_start=True))
    tables = _chunks(packets, cuts)
    parts = [analyse(t, capture="c.pcap", at_start=i == 0) for i, t in enumerate(tables)]
    left = reduce(merge, parts)
    assert left.unmerged < REGROUP_EVERY < len(parts)
    grouped = regroup(left)
    assert grouped.unmerged == 0
    keys = [*FD, "payload"]
    assert not grouped.sizes.select(keys).is_duplicated().any()
    assert finish(left) == whole
    pairs = [merge(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
    pairs += [parts[-1]] if len(parts) % 2 else []
    assert finish(reduce(merge, pairs)) == whole


def test_sequence_jumps_merge_exactly_at_every_cut() -> None:
    """Gaps (lost segments) on both sides of every chunk boundary, and a bare-ACK tail."""
    srv = sc.Server()
    packets = [*sc.handshake(), srv.send(100)]
    srv.nxt += 5000
    packets += [srv.send(100), srv.send(100, seq=srv.nxt - 5300), srv.ack(sc.ISN_S + 101)]
    srv.nxt += 300
    packets += [srv.send(200), srv.send(50, seq=srv.nxt - 5000)]
    srv.nxt += 9000
    packets.append(tcp(sc.S4, sc.SPORT, sc.C4, sc.CPORT, flags="A", seq=srv.nxt))
    whole_p = analyse(packet_table(packets), capture="x")
    whole = finish(whole_p)
    state = _gap_state(whole_p)
    server = dict(zip(GAP_COLUMNS, state[1][7:], strict=True))
    assert (server["jump_frame"], server["jump_prev_frame"], server["tail_frame"]) == (8, 6, 10)
    assert server["jump_start"] - server["jump_gap"] == 300
    for cuts in [[c] for c in range(1, len(packets))] + [[2, 5, 8], [4, 6, 7]]:
        parts = [analyse(t, capture="x") for t in _chunks(packets, cuts)]
        merged = reduce(merge, parts)
        assert _gap_state(merged) == state, cuts
        assert finish(merged) == whole


@pytest.mark.skipif(not HAVE_C, reason="the C extension (_walker.c) is not built")
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(packets=packet_sequences())
def test_analyse_gives_identical_partials_with_either_keyer(packets: list[dict[str, Any]]) -> None:
    """The compiled flow keyer, size histogram and chain pass, and their pure-Python
    twins, inside `analyse`: the same partial."""
    table = packet_table(packets)
    saved = walk_mod.flows, walk_mod.sizes, walk_mod.chains
    try:
        walk_mod.flows, walk_mod.sizes, walk_mod.chains = flows_py, sizes_py, chains_py
        py = analyse(table, capture="t.pcap")
    finally:
        walk_mod.flows, walk_mod.sizes, walk_mod.chains = saved
    c = analyse(table, capture="t.pcap")
    for name in ("directions", "sizes", "encaps", "syns", "ends", "records", "retrans", "icmp"):
        # row order is polars' group-by order, which is not defined: compare as row sets
        x, y = getattr(py, name), getattr(c, name)
        assert x.sort(x.columns).equals(y.sort(y.columns)), name
    assert (py.frames, py.tcp_packets, py.ip_packets) == (c.frames, c.tcp_packets, c.ip_packets)
