"""Two capture points: matching through NAT and clocks, and each change kind firing or silent."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.capture.table import PacketTable
from mtuscope.errors import UsageError
from mtuscope.passive.compare import (
    Change,
    CompareResult,
    compare_captures,
    pair_captures,
    segments_needed,
)
from mtuscope.passive.compare_connections import (
    finish_connections,
    merge_summaries,
    summarise_chunk,
)
from mtuscope.passive.compare_summary import (
    CaptureSummary,
    finish_summary,
    merge_segments,
    segment_chunk,
)
from passive.compare_flows import MS, Flow, full, summarise, table

DATA = full(1, [1448] * 6) + full(0, [300])


def run(a: list[dict[str, Any]], b: list[dict[str, Any]], **kw: object) -> CompareResult:
    sa = summarise([table(a)], capture="a.pcap")
    sb = summarise([table(b)], capture="b.pcap")
    return compare_captures(sa, sb, **kw)  # type: ignore[arg-type]


def only(result: CompareResult, kind: str) -> list[Change]:
    assert len(result.matches) == 1
    return [c for c in result.matches[0].changes if c.kind == kind]


def test_identical_points_change_nothing() -> None:
    f = Flow(segments=DATA)
    r = run(f.at(), f.at(delay_ms=0.2))
    assert [(m.a.id, m.b.id) for m in r.matches] == [(1, 1)]
    assert r.matches[0].changes == ()
    assert r.matches[0].nat == ()
    assert r.only_a == () and r.only_b == ()


def test_mss_rewritten_both_directions() -> None:
    f = Flow(segments=DATA)
    r = run(f.at(ttl_s=62), f.at(syn={"mss": 1300}, ttl_c=62, delay_ms=0.2))
    (c,) = only(r, "mss-rewritten")
    assert (c.direction, c.a, c.b, c.delta) == ("client->server", 1460, 1300, -160)
    assert c.frames_a == (1,) and c.frames_b == (1,)
    assert r.matches[0].client_side == "a"  # the SYN's TTL is higher at A


def test_mss_stripped_is_a_rewrite_with_none() -> None:
    f = Flow(segments=DATA)
    r = run(f.at(), f.at(synack={"mss": -1}, delay_ms=0.2))
    (c,) = only(r, "mss-rewritten")
    assert (c.direction, c.a, c.b) == ("server->client", 1460, None)


def test_nat_and_isn_rewritten_across_the_wrap() -> None:
    # A: the client's side. B: behind a NAT that also randomises the client's ISN;
    # the data segments cross 2**32 at B but not at A.
    f = Flow(isn_c=5000, segments=full(0, [1000] * 5) + full(1, [500]))
    a = f.at()
    b = f.at(client="198.51.100.1", cport=61000, isn_c=2**32 - 2500, delay_ms=0.2)
    r = run(a, b)
    (m,) = r.matches
    assert set(m.nat) == {"client address", "client port"}
    (c,) = only(r, "isn-rewritten")
    assert c.direction == "client->server"
    assert c.delta == (2**32 - 2500 - 5000) % 2**32
    assert m.lost == (0, 0) and m.offloaded == (0, 0)
    assert not only(r, "lost-between-points")


def test_isn_silent_when_equal() -> None:
    f = Flow(segments=DATA)
    r = run(f.at(), f.at(client="198.51.100.1", delay_ms=0.2))
    assert not only(r, "isn-rewritten")
    assert r.matches[0].nat == ("client address",)


def test_clock_offset_of_several_seconds_and_many_connections() -> None:
    flows = [
        Flow(cport=40000 + i, start_ms=i * 7.0, segments=full(1, [1448] * (i + 1)))
        for i in range(6)
    ]
    a = [p for f in flows for p in f.at()]
    # B is behind a NAT (every client port changes) and its clock is 5.3 s ahead;
    # packets take 2 ms between the points.
    b = [p for i, f in enumerate(flows) for p in f.at(cport=50000 + i, clock_ms=5300, delay_ms=2)]
    r = run(a, b)
    assert r.offset.method == "handshake"
    assert r.offset.offset_ns == pytest.approx(5300 * MS, abs=10_000)
    assert r.offset.transit_ns == pytest.approx(2 * MS, abs=10_000)
    assert [(m.a.id, m.b.id) for m in r.matches] == [(i, i) for i in range(1, 7)]
    assert all(m.nat == ("client port",) for m in r.matches)


def test_one_lost_segment() -> None:
    f = Flow(segments=DATA)
    a = f.at()
    r = run(a, f.at(drop={2}, delay_ms=0.2))
    (c,) = only(r, "lost-between-points")
    lost_frame = next(p for p in a if p.get("payload") == 1448 and p["seq"] == 900_001 + 2 * 1448)
    assert c.seen_at == "a" and c.a == 1448 and c.b is None
    assert c.frames_a == (sorted(a, key=lambda p: p["ts_ns"]).index(lost_frame) + 1,)
    assert r.matches[0].lost == (0, 1)


def test_lost_then_retransmitted_names_the_first_transmission() -> None:
    segs = DATA + ((1, 1448, 1448),)  # segment 1 sent again (index 7)
    f = Flow(segments=segs)
    r = run(f.at(), f.at(drop={1}, delay_ms=0.2))
    (c,) = only(r, "lost-between-points")
    assert c.seen_at == "a"
    assert c.note.startswith("relative seq 1448,")
    # The retransmission (sent last) got through: the lost one is the earlier frame.
    retrans = Flow(segments=segs).at()
    assert c.frames_a[0] < len(retrans)


def test_offload_is_not_loss() -> None:
    # A was captured on the sending client: one 2896-byte "segment" (TSO) that the
    # wire, and B, carried as two 1448-byte segments.
    f = Flow(segments=full(0, [2896, 300]) + full(1, [100]))
    r = run(f.at(), f.at(split={0: 2}, delay_ms=0.2))
    assert not only(r, "lost-between-points")
    (c,) = only(r, "offload-artifact")
    assert (c.seen_at, c.direction, c.a, c.b, c.delta) == ("a", "client->server", 2896, 2, 2)
    assert len(c.frames_b) == 2
    assert "sending host" in c.note
    assert r.matches[0].offloaded == (1, 0)


def test_offload_silent_when_segments_equal() -> None:
    f = Flow(segments=full(0, [1448, 1448]))
    r = run(f.at(), f.at(delay_ms=0.2))
    assert not only(r, "offload-artifact")


def test_tcp_options_added_stripped_changed() -> None:
    f = Flow(segments=DATA)
    b = f.at(syn={"wscale": 2, "sack_perm": False}, synack={"tsopt": False}, delay_ms=0.2)
    r = run(f.at(), b)
    got = {(c.direction, c.field, c.a, c.b, c.note) for c in only(r, "tcp-option-changed")}
    assert got == {
        ("client->server", "tcp.options.wscale.shift", 7, 2, "changed"),
        ("client->server", "tcp.options.sack_perm", "present", "absent", "stripped"),
        ("server->client", "tcp.options.timestamp", "present", "absent", "stripped"),
    }
    r2 = run(b, f.at(delay_ms=0.2))
    assert {c.note for c in only(r2, "tcp-option-changed")} == {"changed", "added"}


def test_connections_at_one_point_only() -> None:
    f = Flow(segments=DATA)
    g = Flow(cport=41000, start_ms=50, segments=full(1, [10]))
    h = Flow(cport=42000, server="203.0.113.9", start_ms=90, segments=full(1, [20, 20]))
    r = run(f.at() + g.at(), f.at(delay_ms=0.2) + h.at(delay_ms=0.2))
    assert [(m.a.id, m.b.id) for m in r.matches] == [(1, 1)]
    assert [(x.id, x.client_port) for x in r.only_a] == [(2, 41000)]
    assert [(x.id, x.server) for x in r.only_b] == [(2, "203.0.113.9")]


def test_icmp_too_big_with_initial_ttl_guess() -> None:
    f = Flow(segments=DATA)
    icmp = {
        "src": "198.51.100.254", "dst": "203.0.113.5", "proto": 1, "icmp_type": 3,
        "icmp_code": 4, "icmp_mtu": 1433, "ttl": 250, "thl": 8, "q_src": "203.0.113.5",
        "q_dst": "192.0.2.10", "q_proto": 6, "q_sport": 443, "q_dport": 40000, "q_seq": 1,
        "q_ip_len": 1500, "ts_ns": f.at()[4]["ts_ns"] + 1,
    }  # fmt: skip
    r = run(f.at(), [*f.at(delay_ms=0.2), icmp])
    (i,) = r.icmp
    assert (i.point, i.sender, i.mtu, i.ttl, i.initial_ttl_guess) == (
        "b", "198.51.100.254", 1433, 250, 255,
    )  # fmt: skip
    assert i.connection == 1
    silent = run(f.at(), f.at(delay_ms=0.2))
    assert silent.icmp == ()


def test_chunked_summary_equals_one_chunk() -> None:
    flows = [Flow(cport=40000 + i, start_ms=i * 3.0, segments=DATA) for i in range(4)]
    t = table(*(f.at() for f in flows))
    n = len(t)
    fr = t["frame"].astype(np.int64)
    parts = [t.select((fr > lo) & (fr <= lo + 7)) for lo in range(0, n, 7)]
    whole = summarise([t], capture="x")
    chunked = summarise(parts, capture="x")
    assert whole.conns.equals(chunked.conns)
    assert whole.segs.equals(chunked.segs)
    assert whole.conns.height == 4
    assert whole.segs.filter(pl.col("cdir") == 1)["len"].sum() == 4 * 6 * 1448


def test_other_ip_version_never_matches() -> None:
    f = Flow(segments=DATA)
    g = Flow(client="2001:db8::10", server="2001:db8::5", segments=DATA)
    r = run(f.at(), g.at(delay_ms=0.2))
    assert r.matches == ()
    assert len(r.only_a) == 1 and len(r.only_b) == 1
    # Nothing matched: no clock offset is claimed (the rank pairing related nothing).
    assert r.offset.method == "none" and r.offset.pairs == 0


def _two_pass(t: PacketTable, keep: frozenset[int] | None, capture: str) -> CaptureSummary:
    conns = finish_connections(summarise_chunk(t, capture=capture))
    return finish_summary(conns, segment_chunk(t, conns, keep=keep), keep=keep)


def test_only_differing_directions_need_their_segments() -> None:
    flows = [Flow(cport=40000 + i, start_ms=i * 3.0, segments=DATA) for i in range(3)]
    ta = table(*(f.at() for f in flows))
    # Connection 2 loses a server->client segment between the points; the others do not.
    tb = table(*(f.at(drop={2} if i == 1 else set(), delay_ms=0.2) for i, f in enumerate(flows)))
    full_a, full_b = summarise([ta], capture="a"), summarise([tb], capture="b")
    none: frozenset[int] = frozenset()
    sa, sb = _two_pass(ta, none, "a"), _two_pass(tb, none, "b")
    assert sa.segs.height == 0 and sa.conns.equals(full_a.conns) and sa.dirs.equals(full_a.dirs)
    pairing = pair_captures(sa, sb)
    need_a, need_b = segments_needed(sa, sb, pairing)
    assert need_a == need_b == {2 * 2 + 1}
    with pytest.raises(UsageError, match="segments of 1 directions missing"):
        compare_captures(sa, sb, pairing=pairing)
    ka, kb = _two_pass(ta, need_a, "a"), _two_pass(tb, need_b, "b")
    assert set(ka.segs["id"].to_list()) == {2}
    assert compare_captures(ka, kb, pairing=pairing) == compare_captures(full_a, full_b)
    assert [m.lost for m in compare_captures(ka, kb).matches] == [(0, 0), (0, 1), (0, 0)]


_FLOWS = [
    Flow(cport=40000 + i, start_ms=i * 2.0, isn_s=(1 << 32) - 3000 * i, segments=DATA)
    for i in range(3)
]
# The third connection is seen without its handshake: its offsets start at its first data.
_TABLE = table(
    _FLOWS[0].at(),
    _FLOWS[1].at(split={3: 2}),
    [p for p in _FLOWS[2].at() if not p["tcp_flags"] & 2],
)


@settings(max_examples=25, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=len(_TABLE) - 1), max_size=6, unique=True),
    split=st.integers(min_value=1, max_value=6),
)
def test_partials_merge_associatively_at_any_cuts(cuts: list[int], split: int) -> None:
    fr = _TABLE["frame"].astype(np.int64)
    bounds = [0, *sorted(cuts), len(_TABLE)]
    parts = [
        _TABLE.select((fr > lo) & (fr <= hi))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    k = min(split, len(parts) - 1) if len(parts) > 1 else 0
    # The same chunks merged left to right, and as (left part) + (right part).
    left = [summarise_chunk(t, capture="x") for t in parts]
    seq = left[0]
    for p in left[1:]:
        seq = merge_summaries(seq, p)
    if k:
        lhs, rhs = left[0], left[k]
        for p in left[1:k]:
            lhs = merge_summaries(lhs, p)
        for p in left[k + 1 :]:
            rhs = merge_summaries(rhs, p)
        tree = merge_summaries(lhs, rhs)
    else:
        tree = seq
    whole = summarise([_TABLE], capture="x")
    # Every direction's offsets start at 0, handshake or not, across the ISN wrap.
    starts = whole.segs.group_by("id", "cdir").agg(pl.col("rel").min())["rel"]
    assert starts.to_list() == [0] * 6
    assert whole.dirs["n"].to_list() == [1, 6, 1, 7, 1, 6]
    for acc in (seq, tree):
        conns = finish_connections(acc)
        segs = [segment_chunk(t, conns) for t in parts]
        s_acc = segs[-1]
        for sp in reversed(segs[:-1]):
            s_acc = merge_segments(sp, s_acc)  # right to left this time
        got = finish_summary(conns, s_acc)
        assert got.conns.select(sorted(got.conns.columns)).equals(
            whole.conns.select(sorted(whole.conns.columns))
        )
        assert got.dirs.equals(whole.dirs)
        assert got.segs.equals(whole.segs)
        assert got.icmp.equals(whole.icmp)
