"""drive(): real engines against real transports in our lab, and the loop's bounds."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest

from mtuscope.active.engine import Limits
from mtuscope.active.hop_trace import HopTrace
from mtuscope.active.path_mtu import PathMtuSearch
from mtuscope.active.probe import Datagram, IPAddress, Layer, Probe, ProbeKind, SearchStop
from mtuscope.active.transport import DriveStop, RawTransport, UdpTransport, drive
from mtuscope.wire.builders import build_icmp_echo

from ..fakepath import FakePath, FakeTransport
from .netlab import (
    BOTTLENECK,
    ROUTER_C4,
    ROUTER_C6,
    SERVER4,
    SERVER6,
    Lab,
    run_in_netns,
)

TARGET: dict[int, IPAddress] = {4: SERVER4, 6: SERVER6}
ROUTER: dict[int, IPAddress] = {4: ROUTER_C4, 6: ROUTER_C6}
Summary = tuple[DriveStop, int | None, SearchStop | None, int, float]


def _search(
    family: int,
    *,
    udp: bool = False,
    limits: Limits | None = None,
    max_seconds: float = 10.0,
    max_probes: int = 200,
) -> Summary:
    kind, dport = (ProbeKind.UDP, 33434) if udp else (ProbeKind.ECHO, None)
    engine = PathMtuSearch(
        dst=TARGET[family], kind=kind, dport=dport, limits=limits or Limits(timeout=0.5)
    )
    transport = UdpTransport(family) if udp else RawTransport(family)
    with transport:
        run = drive(
            engine,
            transport,
            max_seconds=max_seconds,
            max_probes=max_probes,
        )
    result = run.result
    return (
        run.stop,
        None if result is None else result.path_mtu,
        None if result is None else result.stop_reason,
        run.sent,
        run.seconds,
    )


@pytest.mark.raw_socket
@pytest.mark.parametrize("family", [4, 6])
def test_path_mtu_search_over_raw_sockets_finds_the_bottleneck(lab: Lab, family: int) -> None:
    stop, pmtu, reason, sent, seconds = run_in_netns(lab.client, _search, family)
    assert (stop, pmtu, reason) == (DriveStop.FINISHED, BOTTLENECK, SearchStop.CONVERGED)
    assert 0 < sent <= 200 and seconds < 10


@pytest.mark.raw_socket
@pytest.mark.parametrize("family", [4, 6])
def test_path_mtu_search_unprivileged_over_udp_finds_the_bottleneck(lab: Lab, family: int) -> None:
    stop, pmtu, reason, _, _ = run_in_netns(lab.client, _search, family, udp=True, as_nobody=True)
    assert (stop, pmtu, reason) == (DriveStop.FINISHED, BOTTLENECK, SearchStop.CONVERGED)


def _trace(family: int) -> tuple[list[str | None], int | None, str | None, int | None]:
    with RawTransport(family) as transport:
        search = drive(PathMtuSearch(dst=TARGET[family], limits=Limits(timeout=0.5)), transport)
        assert search.result is not None
        trace = drive(
            HopTrace(dst=TARGET[family], pmtu=search.result, max_ttl=4, limits=Limits(timeout=0.5)),
            transport,
            max_seconds=10,
        )
    assert trace.result is not None
    drop = trace.result.mtu_drop
    return (
        [None if h.address is None else str(h.address) for h in trace.result.hops],
        None if drop is None else drop.after_hop,
        None if drop is None or drop.address is None else str(drop.address),
        None if drop is None else drop.to_mtu,
    )


@pytest.mark.raw_socket
@pytest.mark.parametrize("family", [4, 6])
def test_hop_trace_finds_the_router_and_the_drop_after_it(lab: Lab, family: int) -> None:
    hops, after_hop, address, to_mtu = run_in_netns(lab.client, _trace, family)
    assert hops[:2] == [str(ROUTER[family]), str(TARGET[family])]
    assert (after_hop, address, to_mtu) == (1, str(ROUTER[family]), BOTTLENECK)


@pytest.mark.raw_socket
@pytest.mark.parametrize("family", [4, 6])
def test_with_icmp_dropped_the_search_reports_a_black_hole(
    lab: Lab, icmp_errors_dropped: None, family: int
) -> None:
    stop, pmtu, reason, _, seconds = run_in_netns(
        lab.client, _search, family, limits=Limits(timeout=0.3, attempts=2)
    )
    assert (stop, pmtu, reason) == (DriveStop.FINISHED, BOTTLENECK, SearchStop.BLACKHOLE)
    assert seconds < 10


@pytest.mark.raw_socket
def test_the_wall_clock_cap_stops_a_waiting_engine(lab: Lab, icmp_errors_dropped: None) -> None:
    stop, pmtu, reason, sent, seconds = run_in_netns(
        lab.client, _search, 4, limits=Limits(timeout=5.0), max_seconds=0.3
    )
    assert (stop, pmtu, reason) == (DriveStop.WALL_CLOCK, None, None)
    assert sent > 0 and 0.3 <= seconds < 0.6


@pytest.mark.raw_socket
def test_the_probe_budget_stops_the_run(lab: Lab) -> None:
    stop, pmtu, _, sent, _ = run_in_netns(lab.client, _search, 4, max_probes=3)
    assert (stop, pmtu, sent) == (DriveStop.PROBE_BUDGET, None, 3)


@pytest.mark.raw_socket
def test_the_engines_rate_limit_paces_the_probes(lab: Lab) -> None:
    # The engine would send its 13-size first round at once; its bucket lets 20/s out.
    slow = Limits(timeout=2.0, rate=20.0, burst=1)
    stop, pmtu, _, sent, seconds = run_in_netns(lab.client, _search, 4, limits=slow)
    assert (stop, pmtu) == (DriveStop.FINISHED, BOTTLENECK)
    assert seconds >= (sent - 1) / 20 - 0.02


def test_one_driver_on_a_simulated_clock_paces_by_the_engines_bucket() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500])
    net = FakeTransport(path)
    engine = PathMtuSearch(dst=path.dst, limits=Limits(rate=10.0, burst=2))
    run = drive(engine, net, max_seconds=60, max_probes=200, clock=net.clock)
    assert run.stop is DriveStop.FINISHED and run.result is not None
    assert run.result.path_mtu == 1400
    sends = [r.sent_at for r in run.result.probes]
    # A token bucket: any window of T seconds holds at most burst + rate * T probes.
    assert sends[2] - sends[0] == pytest.approx(0.1)
    for i in range(len(sends)):
        for j in range(i, len(sends)):
            assert j - i + 1 <= 2 + 10.0 * (sends[j] - sends[i]) + 1e-6
    assert run.sent == len(sends) and run.seconds == pytest.approx(net.now - 100.0)


def test_a_run_over_the_probe_cap_sends_exactly_the_cap() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500])
    net = FakeTransport(path)
    run = drive(PathMtuSearch(dst=path.dst), net, max_probes=3, clock=net.clock)
    assert (run.stop, run.result, run.sent) == (DriveStop.PROBE_BUDGET, None, 3)
    assert len(path.sent) == 3


def test_the_wall_clock_cap_on_a_simulated_clock() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    net = FakeTransport(path)
    run = drive(PathMtuSearch(dst=path.dst), net, max_seconds=0.5, clock=net.clock)
    assert run.stop is DriveStop.WALL_CLOCK and run.result is None
    assert run.seconds == pytest.approx(0.5) and run.ended_at == pytest.approx(100.5)


class _StampingLoopback:
    """A transport that answers every echo probe itself (an echo reply from the
    destination), with kernel-like stamps 40 us apart, while the driver's clock
    crawls 5 ms per reading: the records must carry the stamps' rtt."""

    def __init__(self) -> None:
        self.clock_now = 0.0
        self._pending: list[Datagram] = []
        self.kernel = 1_700_000_000.0

    def clock(self) -> float:
        self.clock_now += 0.005
        return self.clock_now

    def source(self, dst: IPAddress) -> IPAddress:
        return IPv4Address("192.0.2.1")

    def send(self, probe: Probe, packet: bytes | None, now: float) -> float | None:
        assert packet is not None
        self.kernel += 0.001
        ident, seq = struct.unpack_from("!HH", packet, 24)
        reply = build_icmp_echo(
            src=probe.dst, dst=IPv4Address("192.0.2.1"), ident=ident, seq=seq, reply=True
        )
        self._pending.append(Datagram(layer=Layer.IPV4, data=reply, stamp=self.kernel + 40e-6))
        return self.kernel

    def receive(self, timeout: float) -> Datagram | None:
        return self._pending.pop(0) if self._pending else None


def test_the_driver_hands_kernel_stamps_to_the_engine() -> None:
    transport = _StampingLoopback()
    engine = PathMtuSearch(dst=IPv4Address("198.51.100.7"), ceiling=1500)
    done = drive(engine, transport, clock=transport.clock)
    assert done.stop is DriveStop.FINISHED
    rtts = [r.rtt for r in engine.result().probes if r.reply is not None]
    assert rtts and all(rtt == pytest.approx(40e-6, abs=1e-7) for rtt in rtts)
