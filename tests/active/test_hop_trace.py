"""HopTrace against FakePath: addresses, per-hop MTUs, the drop and its link."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.active.engine import Limits
from mtuscope.active.hop_trace import TRACE_BUDGET, HopTrace, HopTraceResult, hops_guess
from mtuscope.active.path_mtu import PathMtuResult, PathMtuSearch
from mtuscope.active.probe import ProbeKind, ProbeOutcome, Reply, ReplyKind, SearchStop
from mtuscope.active.rtt import RttEstimator
from mtuscope.errors import UsageError

from .fakepath import FakePath, destination, router, run


def measure(
    path: FakePath, *, with_pmtu: bool = True, **kw: object
) -> tuple[PathMtuResult | None, HopTraceResult, int, float]:
    """The `path` verb's order: the search, then the trace that builds on it, sharing
    one RTT estimate (their timeouts adapt to the path, as in `probe`)."""
    assert path.local_mtu is not None
    probes, seconds, pmtu = 0, 0.0, None
    rtt = RttEstimator()
    if with_pmtu:
        search = PathMtuSearch(dst=path.dst, ceiling=path.local_mtu, rtt=rtt, **kw)  # type: ignore[arg-type]
        stats = run(search, path)
        pmtu = search.result()
        probes, seconds = stats.probes, stats.seconds
    trace = HopTrace(dst=path.dst, ceiling=path.local_mtu, pmtu=pmtu, rtt=rtt, **kw)  # type: ignore[arg-type]
    stats = run(trace, path, start=200.0)
    return pmtu, trace.result(), probes + stats.probes, seconds + stats.seconds


def assert_true_hops(path: FakePath, trace: HopTraceResult) -> None:
    n = len(path.hop_mtus)
    assert trace.reached
    assert [h.ttl for h in trace.hops] == list(range(1, n + 1))
    for hop in trace.hops:
        if hop.ttl in path.mute:
            assert hop.address is None and hop.mtu is None
            continue
        want = destination(path.family) if hop.ttl == n else router(path.family, hop.ttl)
        assert hop.address == want
        assert hop.mtu == path.hop_mtu(hop.ttl), hop
        assert hop.rtt_ms is not None and hop.rtt_ms > 0


def test_clean_path_has_no_drop() -> None:
    path = FakePath(hop_mtus=[1500, 1500, 1500])
    _, trace, probes, _ = measure(path)
    assert_true_hops(path, trace)
    assert trace.drops == () and trace.mtu_drop is None
    assert trace.stop_reason is SearchStop.CONVERGED
    assert probes < 25


def test_one_drop_with_icmp_is_named_to_the_link() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500])
    _, trace, _, seconds = measure(path)
    assert_true_hops(path, trace)
    drop = trace.mtu_drop
    assert drop is not None
    assert (drop.after_hop, drop.at_hop, drop.from_mtu, drop.to_mtu) == (1, 2, 1500, 1400)
    assert drop.address == router(4, 1) and drop.at_address == router(4, 2)
    assert not drop.silent
    assert seconds < 1.0


def test_black_hole_located_to_byte_and_link_under_40_probes_and_2_seconds() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    pmtu, trace, probes, seconds = measure(path)
    assert pmtu is not None and pmtu.path_mtu == 1400
    drop = trace.mtu_drop
    assert drop is not None
    assert (drop.after_hop, drop.at_hop, drop.from_mtu, drop.to_mtu) == (1, 2, 1500, 1400)
    assert drop.silent
    assert probes < 40
    assert seconds < 2.0
    # the evidence: TTL-limited large probes reached hop 1 but not hop 2
    by_id = {r.probe.id: r for r in trace.probes}
    assert drop.reached_probe is not None
    shown = by_id[drop.reached_probe]
    assert shown.probe.ttl == 1 and shown.probe.size > 1400
    assert shown.outcome is ProbeOutcome.TIME_EXCEEDED
    first = by_id[drop.refused_probes[0]]
    assert first.probe.ttl == 2 and first.probe.size == 1401
    assert first.outcome is ProbeOutcome.LOST


def test_black_hole_without_a_path_result_still_converges() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    _, trace, probes, _ = measure(path, with_pmtu=False)
    assert_true_hops(path, trace)
    assert trace.mtu_drop is not None and trace.mtu_drop.at_hop == 2
    assert probes <= Limits().budget


@pytest.mark.parametrize("icmp", ["sent", "blocked"])
def test_two_drops(icmp: str) -> None:
    path = FakePath(hop_mtus=[1500, 1450, 1400, 1500], icmp=icmp)
    _, trace, probes, _ = measure(path)
    assert_true_hops(path, trace)
    got = [(d.after_hop, d.at_hop, d.from_mtu, d.to_mtu, d.silent) for d in trace.drops]
    silent = icmp == "blocked"
    assert got == [(1, 2, 1500, 1450, silent), (2, 3, 1450, 1400, silent)]
    assert trace.mtu_drop is trace.drops[-1]
    assert probes < 100


def test_bogus_mtu_too_big_messages() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="bogus-mtu")
    _, trace, _, _ = measure(path)
    assert_true_hops(path, trace)
    drop = trace.mtu_drop
    assert drop is not None and (drop.after_hop, drop.to_mtu) == (1, 1400)
    assert not drop.silent  # the router did answer, with a useless MTU


def test_first_link_mismatch_is_after_hop_zero() -> None:
    path = FakePath(hop_mtus=[1400, 1500, 1500], local_mtu=1500)
    _, trace, probes, seconds = measure(path)
    assert_true_hops(path, trace)
    drop = trace.mtu_drop
    assert drop is not None
    assert (drop.after_hop, drop.at_hop, drop.from_mtu, drop.to_mtu) == (0, 1, 1500, 1400)
    assert drop.address is None and drop.silent
    assert probes < 60 and seconds < 5.0


@pytest.mark.parametrize("seed", range(4))
def test_loss_is_retried(seed: int) -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked", loss=0.1, seed=seed)
    _, trace, probes, _ = measure(path)
    assert trace.reached
    for hop in trace.hops:
        # never more than what got through to that hop
        assert hop.mtu is None or hop.mtu <= path.hop_mtu(hop.ttl)
    assert probes <= Limits().budget + TRACE_BUDGET


def test_ipv6() -> None:
    path = FakePath(hop_mtus=[1500, 1280, 1500], family=6, icmp="blocked")
    pmtu, trace, probes, _ = measure(path)
    assert pmtu is not None and pmtu.path_mtu == 1280
    assert_true_hops(path, trace)
    drop = trace.mtu_drop
    assert drop is not None and (drop.after_hop, drop.to_mtu) == (1, 1280)
    assert str(drop.address) == "2001:db8:1::1"
    assert probes < 60


def test_destination_answering_only_tcp() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], answers=frozenset({ProbeKind.TCP_SYN}))
    _, trace, _, _ = measure(path, kind=ProbeKind.TCP_SYN, dport=443)
    assert_true_hops(path, trace)
    # echo probes never reach it: the trace ends on the hop limit, routers still named
    _, echo, _, _ = measure(path)
    assert not echo.reached
    assert echo.stop_reason is SearchStop.HOP_LIMIT
    assert [h.address for h in echo.hops] == [router(4, 1), router(4, 2)]


def test_mute_router_leaves_a_gap_but_not_a_wrong_mtu() -> None:
    path = FakePath(hop_mtus=[1500, 1500, 1400, 1500], mute=frozenset({2}))
    _, trace, _, _ = measure(path)
    assert_true_hops(path, trace)
    drop = trace.mtu_drop
    assert drop is not None and (drop.after_hop, drop.at_hop) == (1, 3)


def test_mismatched_result_is_refused() -> None:
    path = FakePath(hop_mtus=[1500])
    search = PathMtuSearch(dst=path.dst)
    run(search, path)
    with pytest.raises(UsageError):
        HopTrace(dst=ip_address("192.0.2.9"), pmtu=search.result())
    with pytest.raises(UsageError):
        HopTrace(dst=path.dst).result()


LIKELY = [1280, 1400, 1420, 1450, 1476, 1492, 1500, 4470, 9000]


@settings(max_examples=60, deadline=None)
@given(
    hops=st.lists(st.sampled_from(LIKELY), min_size=1, max_size=6),
    icmp=st.sampled_from(["sent", "blocked", "bogus-mtu"]),
    family=st.sampled_from([4, 6]),
    local=st.sampled_from([1500, 9000]),
)
def test_every_hop_mtu_is_exact(hops: list[int], icmp: str, family: int, local: int) -> None:
    path = FakePath(hop_mtus=hops, icmp=icmp, family=family, local_mtu=local)
    pmtu, trace, probes, _ = measure(path)
    assert pmtu is not None and pmtu.path_mtu == path.true_pmtu
    assert_true_hops(path, trace)
    mtus = [local] + [path.hop_mtu(k) for k in range(1, len(hops) + 1)]
    want = [(k, k + 1, mtus[k], mtus[k + 1]) for k in range(len(hops)) if mtus[k + 1] < mtus[k]]
    assert [(d.after_hop, d.at_hop, d.from_mtu, d.to_mtu) for d in trace.drops] == want
    assert probes <= Limits().budget + TRACE_BUDGET


def test_max_ttl_is_a_hop_limit() -> None:
    path = FakePath(hop_mtus=[1500] * 6)
    trace = HopTrace(dst=path.dst, max_ttl=3)
    stats = run(trace, path)
    result = trace.result()
    assert result.stop_reason is SearchStop.HOP_LIMIT and not result.reached
    assert [h.ttl for h in result.hops] == [1, 2, 3]
    assert max(r.probe.ttl for r in result.probes) == 3
    assert stats.probes <= TRACE_BUDGET


def test_local_error_stops_the_trace() -> None:
    path = FakePath(hop_mtus=[1500, 1500])
    trace = HopTrace(dst=path.dst)
    probes = trace.probes_due(now=0.0)
    trace.on_reply(Reply(probe_id=probes[0].id, kind=ReplyKind.LOCAL_ERROR, from_addr=None), 0.0)
    assert trace.result().stop_reason is SearchStop.ERROR


def test_trace_arguments_are_checked() -> None:
    dst = ip_address("192.0.2.1")
    for kw in ({"max_ttl": 0}, {"window": 0}, {"gap_limit": 0}, {"width": 0}, {"ceiling": 40}):
        with pytest.raises(UsageError):
            HopTrace(dst=dst, **kw)  # type: ignore[arg-type]


def test_an_unreachable_ends_search_and_trace_where_the_path_ends() -> None:
    """Router 2 answers !H (after its 3 s of neighbour discovery): the search stops at the
    first one, and the trace after it ends at router 2 at once, without another 3 s."""
    path = FakePath(hop_mtus=[1500, 1500, 1500], unreachable_at=2)
    search = PathMtuSearch(dst=path.dst, ceiling=1500)
    stats = run(search, path)
    pmtu = search.result()
    assert pmtu.stop_reason is SearchStop.UNREACHABLE and pmtu.path_mtu is None
    assert 3.0 < stats.seconds < 3.1
    assert pmtu.unreachable is not None and pmtu.unreachable.reply is not None
    assert pmtu.unreachable.reply.from_addr == router(4, 2)
    trace = HopTrace(dst=path.dst, ceiling=1500, pmtu=pmtu)
    tstats = run(trace, path, start=200.0)
    result = trace.result()
    assert result.stop_reason is SearchStop.UNREACHABLE and not result.reached
    assert [(h.ttl, h.address, h.mtu) for h in result.hops] == [
        (1, router(4, 1), 1500),
        (2, router(4, 2), 1500),
    ]
    assert tstats.seconds < 0.5


def test_a_trace_alone_ends_at_the_unreachable_not_the_hop_limit() -> None:
    path = FakePath(hop_mtus=[1500, 1500, 1500], unreachable_at=2)
    trace = HopTrace(dst=path.dst, ceiling=1500)
    stats = run(trace, path)
    result = trace.result()
    assert result.stop_reason is SearchStop.UNREACHABLE
    assert result.unreachable is not None and result.unreachable.probe.ttl == 3
    assert [h.ttl for h in result.hops] == [1, 2]
    assert stats.seconds < 3.5
    assert max(r.probe.ttl for r in result.probes) < 30


def test_a_silent_destination_ends_the_trace_after_the_gap_not_at_max_ttl() -> None:
    """Past the last hop that answered, only `gap_limit` TTLs are tried (twice each)."""
    path = FakePath(hop_mtus=[1500, 1500, 1500], answers=frozenset())
    trace = HopTrace(dst=path.dst, ceiling=1500, gap_limit=5)
    stats = run(trace, path)
    result = trace.result()
    assert result.stop_reason is SearchStop.HOP_LIMIT
    trace_ttls = {r.probe.ttl for r in result.probes}
    assert max(trace_ttls) == 2 + 5  # two routers answer, then five silent TTLs
    assert stats.seconds < 4.5  # the old loop went on to TTL 30: 8 s


def test_after_a_filtered_search_one_silent_try_ends_the_trace() -> None:
    path = FakePath(hop_mtus=[1500, 1500, 1500], answers=frozenset())
    search = PathMtuSearch(dst=path.dst, ceiling=1500)
    stats = run(search, path)
    pmtu = search.result()
    assert pmtu.stop_reason is SearchStop.ICMP_FILTERED
    assert stats.seconds == pytest.approx(3.2, abs=0.01)
    assert stats.probes == 14
    trace = HopTrace(dst=path.dst, ceiling=1500, pmtu=pmtu)
    tstats = run(trace, path, start=200.0)
    result = trace.result()
    assert result.stop_reason is SearchStop.HOP_LIMIT and len(result.hops) == 2
    assert tstats.seconds < 1.5


def test_the_trace_after_a_search_probes_only_the_hops_needed() -> None:
    """The lab's black hole (client, r1, r2, server; r1-r2 silent at 1400): the TTLs up
    to the destination the search's answers suggest, one round at hop 2 (1500 and 1401
    twice: silent), then the ceiling alone at hop 1 (it gets through)."""
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    pmtu, trace, probes, seconds = measure(path)
    assert pmtu is not None and len(pmtu.probes) == 17
    sent = [(r.probe.size, r.probe.ttl) for r in trace.probes]
    small = trace.probes[0].probe.size
    assert sent == [(small, 1), (small, 2), (small, 3), (1500, 2), (1401, 2), (1401, 2), (1500, 1)]
    assert probes == 24 and seconds < 1.0


@pytest.mark.parametrize(("hops", "drop_after"), [(12, 3), (6, 3), (6, 1), (4, 0)])
def test_long_paths_black_hole_in_2_seconds(hops: int, drop_after: int) -> None:
    mtus = [1500] * hops
    mtus[drop_after] = 1400
    path = FakePath(hop_mtus=mtus, icmp="blocked", local_mtu=1500)
    pmtu, trace, probes, seconds = measure(path)
    assert pmtu is not None and pmtu.path_mtu == 1400
    assert_true_hops(path, trace)
    drop = trace.mtu_drop
    assert drop is not None and (drop.after_hop, drop.to_mtu) == (drop_after, 1400)
    # the search (17), one small probe per hop, a binary search over the hops (<= 14)
    assert probes <= 17 + hops + 14 and seconds < 2.0


def test_hops_guess_reads_the_ttl_of_the_destinations_answers() -> None:
    path = FakePath(hop_mtus=[1500] * 5)
    search = PathMtuSearch(dst=path.dst)
    run(search, path)
    assert hops_guess(search.result().probes) == 5  # 64 - 4 routers: 60
    assert hops_guess(()) is None
    answered = search.result().probes[0]
    assert answered.reply is not None
    for ttl, want in ((128 - 9, 10), (255 - 1, 2), (64, 1), (30, 3)):
        reply = dataclasses.replace(answered.reply, ttl=ttl)
        assert hops_guess((dataclasses.replace(answered, reply=reply),)) == want
