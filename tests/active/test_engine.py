"""The shared engine machinery: rate limit, timeouts, budget, late and stray replies."""

from __future__ import annotations

import pytest

from mtuscope.active.engine import Limits, TokenBucket
from mtuscope.active.path_mtu import PathMtuSearch
from mtuscope.active.probe import ProbeOutcome, Reply, ReplyKind, SearchStop
from mtuscope.active.rtt import RttEstimator
from mtuscope.errors import UsageError

from .fakepath import FakePath, router, run


def test_token_bucket_bursts_then_paces() -> None:
    bucket = TokenBucket(rate=10.0, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.ready_at() == pytest.approx(0.1)
    assert not bucket.take(0.05)
    assert bucket.take(0.1)
    assert bucket.take(10.0) and bucket.take(10.0) and bucket.take(10.0)
    assert not bucket.take(10.0)  # refills never beyond the burst


@pytest.mark.parametrize(
    "kw",
    [
        {"timeout": 0},
        {"min_timeout": 0},
        {"rate": -1},
        {"burst": 0},
        {"budget": 0},
        {"attempts": 0},
    ],
)
def test_limits_are_checked(kw: dict[str, float]) -> None:
    with pytest.raises(UsageError):
        Limits(**kw)  # type: ignore[arg-type]


def test_rate_limit_spaces_the_probes() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    engine = PathMtuSearch(dst=path.dst, limits=Limits(rate=5.0, burst=2))
    run(engine, path)
    times = sorted(r.sent_at for r in engine.result().probes)
    # at most `burst` probes in any window shorter than one refill interval
    for i in range(len(times) - 2):
        assert times[i + 2] - times[i] >= 0.2 - 1e-9
    assert engine.result().path_mtu == 1400


def test_driver_protocol_by_hand() -> None:
    path = FakePath(hop_mtus=[1500, 1500])
    engine = PathMtuSearch(dst=path.dst, limits=Limits(timeout=2.0), first_id=100)
    assert not engine.finished
    first = engine.probes_due(now=10.0)
    assert [p.id for p in first] == list(range(100, 114))  # two floor probes, the table
    assert engine.probes_due(now=10.0) == []  # the round is out; nothing more yet
    assert engine.deadline() == pytest.approx(12.0)
    # a stray reply (unknown id) changes nothing
    engine.on_reply(Reply(probe_id=7, kind=ReplyKind.ECHO_REPLY, from_addr=path.dst), now=10.1)
    assert engine.sent == 14 and not engine.finished
    # the deadline passes with no replies: every probe is lost, and the next round is planned
    engine.on_timeout(now=12.0)
    assert all(r.outcome is ProbeOutcome.LOST for r in engine.records)
    # a late reply to a lost probe still counts: the 1500-byte probe did get through
    late = next(r for r in engine.records if r.probe.size == 1500)
    engine.on_reply(
        Reply(probe_id=late.probe.id, kind=ReplyKind.ECHO_REPLY, from_addr=path.dst), now=12.5
    )
    assert engine.finished
    result = engine.result()
    assert result.path_mtu == 1500 and result.stop_reason is SearchStop.CONVERGED
    assert result.started_at == 10.0 and result.ended_at == 12.5
    assert engine.deadline() is None and engine.probes_due(now=13.0) == []


def test_queued_probes_wait_for_a_token() -> None:
    path = FakePath(hop_mtus=[1500, 1500])
    engine = PathMtuSearch(dst=path.dst, table=(1400,), limits=Limits(burst=1, rate=1000.0))
    sent = engine.probes_due(now=0.0)
    assert [p.size for p in sent] == [68]  # the floor leaves first
    engine.on_reply(Reply(probe_id=sent[0].id, kind=ReplyKind.ECHO_REPLY, from_addr=path.dst), 0.0)
    sent = engine.probes_due(now=0.001)
    assert [p.size for p in sent] == [68]
    engine.on_reply(Reply(probe_id=sent[0].id, kind=ReplyKind.ECHO_REPLY, from_addr=path.dst), 0.0)
    sent = engine.probes_due(now=0.002)
    assert [p.size for p in sent] == [1400]
    # 1500 (the ceiling) is still queued; 1400's reply alone cannot finish the search
    engine.on_reply(Reply(probe_id=sent[0].id, kind=ReplyKind.ECHO_REPLY, from_addr=path.dst), 0.01)
    nxt = engine.probes_due(now=0.01)
    assert [p.size for p in nxt] == [1500]
    engine.on_reply(Reply(probe_id=nxt[0].id, kind=ReplyKind.ECHO_REPLY, from_addr=path.dst), 0.02)
    assert engine.finished and engine.result().path_mtu == 1500


def test_local_error_stops_with_error() -> None:
    path = FakePath(hop_mtus=[1500])
    engine = PathMtuSearch(dst=path.dst)
    probes = engine.probes_due(now=0.0)
    engine.on_reply(Reply(probe_id=probes[0].id, kind=ReplyKind.LOCAL_ERROR, from_addr=None), 0.0)
    result = engine.result()
    assert result.stop_reason is SearchStop.ERROR
    assert result.path_mtu is None
    assert sum(r.outcome is ProbeOutcome.CANCELLED for r in result.probes) == len(probes) - 1


def test_time_exceeded_means_hop_limit() -> None:
    path = FakePath(hop_mtus=[1500, 1500, 1500])
    engine = PathMtuSearch(dst=path.dst, ttl=2)
    run(engine, path)
    assert engine.result().stop_reason is SearchStop.HOP_LIMIT


def test_halt_gives_a_partial_result_with_the_reason_given() -> None:
    # What the jobs do when --max-seconds runs out: the engine's answer so far, and why.
    from mtuscope.active.transport import DriveStop, drive

    from .fakepath import FakeTransport

    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    net = FakeTransport(path)
    engine = PathMtuSearch(dst=path.dst, limits=Limits(timeout=1.0))
    done = drive(engine, net, max_seconds=0.5, clock=net.clock)
    assert done.stop is DriveStop.WALL_CLOCK and not engine.finished
    engine.halt(done.ended_at, SearchStop.TIME)
    result = engine.result()
    assert result.stop_reason is SearchStop.TIME and result.ended_at == done.ended_at
    assert result.path_mtu is not None and result.path_mtu <= 1400  # a lower bound
    assert any(r.outcome is ProbeOutcome.CANCELLED for r in result.probes)
    engine.halt(done.ended_at + 1, SearchStop.BUDGET)  # a finished engine stays as it is
    assert engine.result().stop_reason is SearchStop.TIME


def test_an_engine_halted_before_it_started_still_has_a_result() -> None:
    path = FakePath(hop_mtus=[1500])
    engine = PathMtuSearch(dst=path.dst)
    engine.halt(5.0, SearchStop.BUDGET)
    result = engine.result()
    assert (result.stop_reason, result.probes, result.seconds) == (SearchStop.BUDGET, (), 0.0)
    assert result.path_mtu is None


def test_the_stops_table_ends_an_engine_at_once() -> None:
    # A time-exceeded is in the search's STOPS table (HOP_LIMIT): the first one ends
    # the search on the spot, with the rest of its round still in flight.
    path = FakePath(hop_mtus=[1500, 1400, 1500])
    engine = PathMtuSearch(dst=path.dst, ttl=1)
    probes = engine.probes_due(now=0.0)
    assert len(probes) > 1
    answered = path.send(probes[0])
    assert answered is not None and answered[1].kind is ReplyKind.TIME_EXCEEDED
    engine.on_reply(answered[1], 0.01)
    assert engine.finished
    result = engine.result()
    assert result.stop_reason is SearchStop.HOP_LIMIT and result.ended_at == 0.01
    assert sum(r.outcome is ProbeOutcome.CANCELLED for r in result.probes) == len(probes) - 1


def test_an_engine_builds_its_packets_and_matches_the_bytes_that_come_back() -> None:
    # Sans-IO end to end: bytes out, bytes in, `now` given; no socket, no clock.
    from ipaddress import IPv4Address

    from mtuscope.active.probe import Datagram, Layer
    from mtuscope.wire.builders import build_icmp_echo
    from mtuscope.wire.icmp import decode_icmp_echo
    from mtuscope.wire.ipv4 import decode_ipv4

    src, dst = IPv4Address("192.0.2.1"), IPv4Address("203.0.113.9")
    engine = PathMtuSearch(dst=dst, ceiling=1500, limits=Limits(burst=20))
    probes = engine.probes_due(1.0)
    packets = {p.id: engine.packet(p, src=src, now=1.0) for p in probes}
    assert all(len(packets[p.id]) == p.size for p in probes)
    first = probes[0]
    ip = decode_ipv4(packets[first.id])
    echo = decode_icmp_echo(packets[first.id][ip.header_len :], family=4)
    answer = build_icmp_echo(src=dst, dst=src, ident=echo.ident, seq=echo.seq, reply=True)
    stray = build_icmp_echo(src=dst, dst=src, ident=echo.ident ^ 1, seq=echo.seq, reply=True)
    engine.on_datagram(Datagram(layer=Layer.IPV4, data=stray), 1.01)
    engine.on_datagram(Datagram(layer=Layer.IPV4, data=answer), 1.02)
    reached = [r for r in engine.records if r.outcome is ProbeOutcome.REACHED]
    assert [r.probe.id for r in reached] == [first.id]
    assert reached[0].rtt == pytest.approx(0.02)  # the driver's clock: 1.02 - 1.0


def test_without_an_rtt_estimate_every_probe_waits_the_timeout() -> None:
    path = FakePath(hop_mtus=[1500, 1500])
    engine = PathMtuSearch(dst=path.dst, limits=Limits(timeout=2.0))
    engine.probes_due(now=10.0)
    engine.on_reply(Reply(probe_id=1, kind=ReplyKind.ECHO_REPLY, from_addr=path.dst), now=10.001)
    assert engine.timeout == 2.0
    assert engine.deadline() == pytest.approx(12.0)


def test_the_first_answers_shorten_the_wait_of_the_probes_sent_with_them() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    rtt = RttEstimator()
    engine = PathMtuSearch(dst=path.dst, limits=Limits(timeout=2.0, min_timeout=0.2), rtt=rtt)
    sent = engine.probes_due(now=10.0)
    assert engine.timeout == 2.0 and engine.deadline() == pytest.approx(12.0)
    # a router's answer is no sample: it comes from nearer than the destination
    engine.on_reply(
        Reply(probe_id=sent[-1].id, kind=ReplyKind.TOO_BIG, from_addr=router(4, 1), mtu=1400),
        now=10.001,
    )
    assert rtt.samples == 0 and engine.deadline() == pytest.approx(12.0)
    # the destination's answer after 1 ms: the silent probes now wait the floor
    engine.on_reply(
        Reply(probe_id=sent[0].id, kind=ReplyKind.ECHO_REPLY, from_addr=path.dst), now=10.001
    )
    assert rtt.samples == 1 and engine.timeout == pytest.approx(0.2)
    assert engine.deadline() == pytest.approx(10.2)
    engine.on_timeout(now=10.2)
    lost = [r for r in engine.records if r.outcome is ProbeOutcome.LOST]
    assert lost and all(r.sent_at == 10.0 for r in lost)


def test_engines_sharing_an_estimate_share_the_timeout() -> None:
    path = FakePath(hop_mtus=[1500, 1500])
    rtt = RttEstimator()
    rtt.sample(0.1)
    engine = PathMtuSearch(dst=path.dst, limits=Limits(timeout=5.0, min_timeout=0.05), rtt=rtt)
    assert engine.timeout == pytest.approx(0.3)  # 3 round trips: learnt before it started
    engine.probes_due(now=0.0)
    assert engine.deadline() == pytest.approx(0.3)
