"""PathMtuSearch against FakePath: every scenario of the issue, plus Hypothesis."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.active.engine import Limits
from mtuscope.active.path_mtu import PathMtuResult, PathMtuSearch
from mtuscope.active.probe import (
    ProbeKind,
    ProbeOutcome,
    Reply,
    ReplyKind,
    SearchStop,
    unreachable_symbol,
    usable_too_big,
)
from mtuscope.active.rtt import RttEstimator
from mtuscope.active.size_engine import NEIGHBOUR_GRACE
from mtuscope.errors import UsageError

from .fakepath import FakePath, RunStats, run


def search(
    path: FakePath, *, adaptive: bool = False, **kw: object
) -> tuple[PathMtuResult, RunStats]:
    """Run a search over `path`; `adaptive`: with an RTT estimate (the timeout follows
    the path's RTT, as in `probe`), else the fixed timeout."""
    assert path.local_mtu is not None
    rtt = RttEstimator() if adaptive else None
    engine = PathMtuSearch(dst=path.dst, ceiling=path.local_mtu, rtt=rtt, **kw)  # type: ignore[arg-type]
    stats = run(engine, path)
    return engine.result(), stats


def reached_sizes(result: PathMtuResult) -> list[int]:
    return [r.probe.size for r in result.probes if r.outcome is ProbeOutcome.REACHED]


def assert_honest(result: PathMtuResult) -> None:
    """The path MTU is the size of a probe that got through, and the largest one."""
    sizes = reached_sizes(result)
    if result.path_mtu is None:
        assert sizes == []
    else:
        assert result.path_mtu == max(sizes)


def test_clean_path_is_the_interface_mtu_in_one_round() -> None:
    result, stats = search(FakePath(hop_mtus=[1500, 1500, 1500]))
    assert result.path_mtu == 1500
    assert result.stop_reason is SearchStop.CONVERGED
    assert stats.probes == 14  # two floor probes and the table up to 1500, nothing more
    assert stats.seconds < 0.1
    assert_honest(result)


def test_one_drop_with_too_big_messages_takes_under_a_second() -> None:
    result, stats = search(FakePath(hop_mtus=[1500, 1400, 1500]))
    assert result.path_mtu == 1400
    assert result.too_big_mtu == 1400
    assert result.stop_reason is SearchStop.CONVERGED
    assert stats.seconds < 1.0
    assert_honest(result)


def test_too_big_mtu_off_the_table_is_followed() -> None:
    result, stats = search(FakePath(hop_mtus=[1500, 1423, 1500]))
    assert result.path_mtu == 1423
    assert result.stop_reason is SearchStop.CONVERGED
    assert stats.seconds < 1.0
    assert stats.probes == 16  # floor, table, then 1423 and 1424 to check the quoted MTU


def test_black_hole_is_exact_to_the_byte_under_60_probes_and_5_seconds() -> None:
    result, stats = search(FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked"))
    assert result.path_mtu == 1400
    assert result.stop_reason is SearchStop.BLACKHOLE
    assert result.too_big_mtu is None
    assert stats.probes < 60
    assert stats.seconds < 5.0
    # the byte above was tried at least twice (attempts) before it was believed
    assert sum(1 for r in result.probes if r.probe.size == 1401) >= 2
    assert_honest(result)


def test_black_hole_at_a_table_mtu_takes_two_rounds_and_17_probes() -> None:
    """The table's round, then the byte above its largest size that got through, three
    times; with the timeout adapted to the path's RTT (0.2 s floor) each round is 0.2 s."""
    result, stats = search(FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked"), adaptive=True)
    assert result.path_mtu == 1400 and result.stop_reason is SearchStop.BLACKHOLE
    assert stats.probes == 17
    assert [r.probe.size for r in result.probes[14:]] == [1401, 1401, 1401]
    assert stats.seconds < 0.5


@pytest.mark.parametrize("mtu", [1281, 1333, 1404, 1419, 1491, 1499])
def test_black_hole_off_the_table_is_exact_under_40_probes_and_2_seconds(mtu: int) -> None:
    result, stats = search(FakePath(hop_mtus=[1500, mtu, 1500], icmp="blocked"), adaptive=True)
    assert result.path_mtu == mtu and result.stop_reason is SearchStop.BLACKHOLE
    assert stats.probes < 40 and stats.seconds < 2.0
    assert sum(1 for r in result.probes if r.probe.size == mtu + 1) >= 2
    assert_honest(result)


@pytest.mark.parametrize("mtu", [1400, 1404])
@pytest.mark.parametrize("late", [0.3, 0.9])
def test_answers_later_than_the_adaptive_timeout_still_count(mtu: int, late: float) -> None:
    """A slow link: the answer to a 1500-byte probe comes `late` seconds after the probe,
    past the timeout the small probes' answers gave but within the cap. Late answers
    still count while the search runs and lengthen the timeout: the answer is exact."""
    path = FakePath(hop_mtus=[1500, mtu, 1500], icmp="blocked", byte_delay=late / 3000)
    result, _ = search(path, adaptive=True)
    assert result.path_mtu == mtu and result.stop_reason is SearchStop.BLACKHOLE
    clean = FakePath(hop_mtus=[1500, 1500, 1500], byte_delay=late / 3000)
    result, _ = search(clean, adaptive=True)
    assert result.path_mtu == 1500 and result.stop_reason is SearchStop.CONVERGED


@pytest.mark.parametrize("seed", range(6))
def test_with_the_adaptive_timeout_loss_is_still_told_from_filtering(seed: int) -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked", loss=0.1, seed=seed)
    result, stats = search(path, adaptive=True)
    assert result.path_mtu is not None and result.path_mtu <= 1400
    assert_honest(result)
    assert result.stop_reason is SearchStop.BLACKHOLE
    assert stats.probes <= 120


def test_two_drops_with_too_big_messages() -> None:
    result, _ = search(FakePath(hop_mtus=[1500, 1450, 1400, 1500]))
    assert result.path_mtu == 1400
    assert result.stop_reason is SearchStop.CONVERGED


def test_two_silent_drops() -> None:
    path = FakePath(hop_mtus=[1500, 1437, 1500, 1391, 1500], icmp="blocked")
    result, stats = search(path)
    assert result.path_mtu == 1391
    assert result.stop_reason is SearchStop.BLACKHOLE
    assert stats.probes < 60
    assert_honest(result)


def test_bogus_mtu_too_big_messages_are_not_believed() -> None:
    for bogus in (0, 40, 1000, 1500, 9000):  # 1000: plausible, and a lie
        path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="bogus-mtu", bogus_mtu=bogus)
        result, stats = search(path)
        assert result.path_mtu == 1400, bogus
        assert result.too_big_mtu is None
        assert result.stop_reason is SearchStop.CONVERGED
        bogus_kept = [r for r in result.probes if r.outcome is ProbeOutcome.TOO_BIG_BOGUS]
        assert bogus_kept, "the useless messages are kept as evidence"
        assert stats.seconds < 1.0  # explicit refusals need no timeouts
        assert_honest(result)


def test_first_link_mismatch_is_a_black_hole_at_the_links_mtu() -> None:
    path = FakePath(hop_mtus=[1400, 1500, 1500], local_mtu=1500)
    result, stats = search(path)
    assert result.path_mtu == 1400
    assert result.stop_reason is SearchStop.BLACKHOLE
    assert stats.probes < 60


def test_sizes_over_the_interface_mtu_are_refused_locally() -> None:
    path = FakePath(hop_mtus=[1500, 1500], local_mtu=1492)
    engine = PathMtuSearch(dst=path.dst, ceiling=9000)
    run(engine, path)
    result = engine.result()
    assert result.path_mtu == 1492
    local = [r for r in result.probes if r.reply is not None and r.reply.from_addr is None]
    assert local and all(r.outcome is ProbeOutcome.TOO_BIG for r in local)


@pytest.mark.parametrize("seed", range(6))
def test_loss_is_told_from_filtering(seed: int) -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked", loss=0.1, seed=seed)
    result, stats = search(path)
    assert result.path_mtu is not None and result.path_mtu <= 1400
    assert_honest(result)
    assert result.stop_reason is SearchStop.BLACKHOLE
    assert stats.probes <= 120


def test_loss_costs_retries_not_answers() -> None:
    """With 10% loss the answer is still exact on most seeds (two losses in a row are rare)."""
    exact = 0
    for seed in range(20):
        path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked", loss=0.1, seed=seed)
        result, _ = search(path)
        exact += result.path_mtu == 1400
    assert exact >= 16


def test_every_probe_lost_is_icmp_filtered() -> None:
    path = FakePath(hop_mtus=[1500, 1500], answers=frozenset({ProbeKind.TCP_SYN}))
    result, stats = search(path)
    assert result.path_mtu is None
    assert result.stop_reason is SearchStop.ICMP_FILTERED
    floor_tries = [r for r in result.probes if r.probe.size == result.floor]
    assert len(floor_tries) >= 2  # the smallest size retried before giving up
    assert stats.probes < 60


def test_destination_answering_only_tcp() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], answers=frozenset({ProbeKind.TCP_SYN}))
    result, _ = search(path, kind=ProbeKind.TCP_SYN, dport=443)
    assert result.path_mtu == 1400
    assert all(r.probe.kind is ProbeKind.TCP_SYN and r.probe.dport == 443 for r in result.probes)
    blocked = FakePath(
        hop_mtus=[1500, 1400, 1500], icmp="blocked", answers=frozenset({ProbeKind.TCP_SYN})
    )
    result, stats = search(blocked, kind=ProbeKind.TCP_SYN, dport=443)
    assert result.path_mtu == 1400 and stats.probes < 60


def test_udp_probes() -> None:
    result, _ = search(FakePath(hop_mtus=[1500, 1420, 1500]), kind=ProbeKind.UDP, dport=33434)
    assert result.path_mtu == 1420


def test_ipv6_never_below_1280() -> None:
    path = FakePath(hop_mtus=[1500, 1280, 1500], family=6, icmp="blocked")
    result, stats = search(path)
    assert result.family == 6
    assert result.floor == 1280
    assert result.path_mtu == 1280
    assert min(r.probe.size for r in result.probes) == 1280
    assert stats.probes < 60


def test_ipv6_too_big_below_1280_is_bogus() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], family=6, icmp="bogus-mtu", bogus_mtu=1000)
    result, _ = search(path)
    assert result.path_mtu == 1400
    assert result.too_big_mtu is None
    assert usable_too_big(6, 1280, 1281) and not usable_too_big(6, 1279, 1400)
    assert usable_too_big(4, 576, 1500) and not usable_too_big(4, 1500, 1500)


def test_small_ipv4_path_below_the_table() -> None:
    result, stats = search(FakePath(hop_mtus=[1500, 576, 1500], icmp="blocked"))
    assert result.path_mtu == 576
    assert stats.probes <= 120


def test_budget_stops_with_a_lower_bound() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    result, stats = search(path, limits=Limits(budget=15))
    assert result.stop_reason is SearchStop.BUDGET
    assert stats.probes == 15
    assert result.path_mtu is not None and result.path_mtu <= 1400
    assert_honest(result)


def test_bad_arguments_raise_usage_error() -> None:
    dst = ip_address("192.0.2.1")
    with pytest.raises(UsageError):
        PathMtuSearch(dst=dst, ceiling=60)
    with pytest.raises(UsageError):
        PathMtuSearch(dst=dst, kind=ProbeKind.TCP_SYN)  # no port
    with pytest.raises(UsageError):
        PathMtuSearch(dst=ip_address("2001:db8::1"), ceiling=1000)
    engine = PathMtuSearch(dst=dst)
    with pytest.raises(UsageError):
        engine.result()


HOP = st.integers(min_value=576, max_value=9000)


@settings(max_examples=60, deadline=None)
@given(
    hops=st.lists(HOP, min_size=1, max_size=6),
    local=st.sampled_from([1500, 9000]),
    icmp=st.sampled_from(["sent", "blocked", "bogus-mtu"]),
    family=st.sampled_from([4, 6]),
    adaptive=st.booleans(),
)
def test_search_converges_to_the_smallest_link(
    hops: list[int], local: int, icmp: str, family: int, adaptive: bool
) -> None:
    if family == 6:
        hops = [max(h, 1280) for h in hops]
    path = FakePath(hop_mtus=hops, icmp=icmp, family=family, local_mtu=local)
    result, stats = search(path, adaptive=adaptive)
    assert result.path_mtu == path.true_pmtu
    assert result.stop_reason in (SearchStop.CONVERGED, SearchStop.BLACKHOLE)
    assert stats.probes <= Limits().budget
    assert_honest(result)


@settings(max_examples=40, deadline=None)
@given(
    hops=st.lists(HOP, min_size=1, max_size=5),
    icmp=st.sampled_from(["sent", "blocked", "bogus-mtu"]),
    loss=st.sampled_from([0.05, 0.2, 0.5]),
    seed=st.integers(0, 1000),
    adaptive=st.booleans(),
)
def test_never_more_than_got_through(
    hops: list[int], icmp: str, loss: float, seed: int, adaptive: bool
) -> None:
    path = FakePath(hop_mtus=hops, icmp=icmp, loss=loss, seed=seed, local_mtu=1500)
    result, stats = search(path, adaptive=adaptive)
    assert stats.probes <= Limits().budget
    assert_honest(result)
    if result.path_mtu is not None:
        assert result.path_mtu <= path.true_pmtu


def test_administratively_prohibited_ends_the_search_at_once() -> None:
    """An unreachable says nothing about size and every probe would draw the same: the first
    one ends the search (UNREACHABLE), with its code kept for the report."""
    dst = ip_address("203.0.113.10")
    engine = PathMtuSearch(dst=dst, limits=Limits(burst=200))
    probes = engine.probes_due(0.0)
    engine.on_reply(
        Reply(probe_id=probes[3].id, kind=ReplyKind.UNREACHABLE, from_addr=dst, code=13), 0.01
    )
    assert engine.finished
    result = engine.result()
    assert result.stop_reason is SearchStop.UNREACHABLE and result.path_mtu is None
    assert result.ended_at == 0.01
    record = result.unreachable
    assert record is not None and record.reply is not None and record.reply.code == 13
    assert unreachable_symbol(4, record.reply.code) == "!X"
    assert {r.outcome for r in result.probes} == {ProbeOutcome.UNREACHABLE, ProbeOutcome.CANCELLED}


def test_late_host_unreachable_beats_the_filtered_verdict() -> None:
    """Silence is not called filtered before NEIGHBOUR_GRACE: a router whose ARP fails
    answers !H only after 3 s; until then the search waits, sending nothing more."""
    dst = ip_address("203.0.113.99")
    engine = PathMtuSearch(dst=dst)
    first = engine.probes_due(0.0)
    engine.on_timeout(1.0)  # everything lost: the floor twice, so filtered... but not yet
    assert not engine.finished
    assert engine.deadline() == pytest.approx(NEIGHBOUR_GRACE)
    assert engine.probes_due(1.0) == []
    router = ip_address("198.51.100.2")
    engine.on_reply(
        Reply(probe_id=first[0].id, kind=ReplyKind.UNREACHABLE, from_addr=router, code=1), 3.05
    )
    result = engine.result()
    assert result.stop_reason is SearchStop.UNREACHABLE and len(result.probes) == len(first)
    assert result.unreachable is not None and result.unreachable.reply is not None
    assert result.unreachable.reply.from_addr == router


def test_silence_is_filtered_after_the_grace() -> None:
    dst = ip_address("203.0.113.10")
    engine = PathMtuSearch(dst=dst)
    first = engine.probes_due(0.0)
    engine.on_timeout(1.0)
    engine.on_timeout(engine.deadline() or 0.0)
    result = engine.result()
    assert result.stop_reason is SearchStop.ICMP_FILTERED
    assert len(result.probes) == len(first) and result.ended_at == pytest.approx(NEIGHBOUR_GRACE)
