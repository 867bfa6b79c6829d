"""PathObservations as diagnose/ reads it: trace and sweep need no fabricated search.

The oracle is what the `trace` and `sweep` verbs fed diagnose/ before: a
`PathMtuResult` holding the destination's MTU (a trace: the destination hop's MTU
when the trace reached it, with no probes; a sweep: its exact path MTU with its
probes). Diagnosing the observations directly must give the same findings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mtuscope.active.hop_trace import HopTrace, HopTraceResult
from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.active.probe import ProbeKind, SearchStop
from mtuscope.active.sweep import DfSweep, SweepResult
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path
from mtuscope.errors import UsageError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from active.fakepath import FakePath, run  # noqa: E402  (tests/ is not a package)


def trace_of(path: FakePath) -> HopTraceResult:
    assert path.local_mtu is not None
    engine = HopTrace(dst=path.dst, ceiling=path.local_mtu)
    run(engine, path)
    return engine.result()


def sweep_of(path: FakePath, start: int, stop: int) -> SweepResult:
    engine = DfSweep(dst=path.dst, start=start, stop=stop)
    run(engine, path)
    return engine.result()


def as_search(
    dst: object, path_mtu: int | None, stop: SearchStop, probes: tuple[object, ...], started: float
) -> PathMtuResult:
    """The search result the verbs used to fabricate for diagnose/."""
    return PathMtuResult(
        dst=dst,  # type: ignore[arg-type]
        family=4,
        kind=ProbeKind.UDP,
        dport=None,
        path_mtu=path_mtu,
        stop_reason=stop,
        too_big_mtu=None,
        ceiling=1500,
        floor=1500 if path_mtu is None else min(path_mtu, 1500),
        probes=probes,  # type: ignore[arg-type]
        started_at=started,
        ended_at=started,
    )


TRACE_PATHS = [
    FakePath(hop_mtus=[1500, 1500, 1500]),
    FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked"),
    FakePath(hop_mtus=[1500, 1450, 1500]),
    FakePath(hop_mtus=[1500, 1400, 1500], icmp="bogus-mtu"),
    FakePath(hop_mtus=[1400, 1500, 1500], local_mtu=1500),
    FakePath(hop_mtus=[1500, 552, 1500]),
]


@pytest.mark.parametrize("path", TRACE_PATHS)
def test_a_trace_is_diagnosed_as_the_fabricated_search_was(path: FakePath) -> None:
    trace = trace_of(path)
    last = trace.hops[-1] if trace.hops and trace.reached else None
    stop = trace.stop_reason if not trace.reached else SearchStop.CONVERGED
    old = as_search(path.dst, last.mtu if last else None, stop, (), trace.started_at)
    obs = PathObservations(dst=path.dst, trace=trace)
    assert obs.path_mtu == old.path_mtu and obs.stop_reason is old.stop_reason
    assert obs.mtu_probes == () and obs.records == trace.probes and obs.exact is None
    before = diagnose_path(PathObservations(dst=path.dst, search=old, trace=trace))
    found = diagnose_path(obs)
    # A trace alone whose last drop is silent reports the black hole itself.
    silent = bool(trace.drops) and trace.drops[-1].silent
    assert [f.kind for f in found].count("pmtud-blackhole") == int(silent)
    assert tuple(f for f in found if f.kind != "pmtud-blackhole") == before


@pytest.mark.parametrize(
    ("path", "start", "stop"),
    [
        (FakePath(hop_mtus=[1500, 1400, 1500]), 1396, 1404),
        (FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked"), 1399, 1402),
        (FakePath(hop_mtus=[1500, 500, 1500]), 498, 502),
        (FakePath(hop_mtus=[1500, 1400, 1500], icmp="bogus-mtu"), 1399, 1401),
    ],
)
def test_an_exact_sweep_is_diagnosed_as_the_fabricated_search_was(
    path: FakePath, start: int, stop: int
) -> None:
    sweep = sweep_of(path, start, stop)
    best = sweep.exact_path_mtu
    assert best is not None
    # The sweep's verdict (BLACKHOLE when the sizes above vanished) is the search's stop.
    obs = PathObservations(dst=path.dst, sweep=sweep)
    assert obs.stop_reason is not None
    old = as_search(path.dst, best, obs.stop_reason, sweep.probes, sweep.started_at)
    assert obs.diagnosable and obs.path_mtu == best and obs.mtu_probes == sweep.probes
    assert obs.exact is not None and obs.exact.probe.size == best
    assert diagnose_path(obs) == diagnose_path(PathObservations(dst=path.dst, search=old))


def test_a_sweep_that_is_not_exact_gives_bounds_and_no_size_findings() -> None:
    # Every size is refused but nothing pins the MTU: bounds, and no rule reads a size.
    path = FakePath(hop_mtus=[1500, 500, 1500])
    sweep = sweep_of(path, 600, 602)
    obs = PathObservations(dst=path.dst, sweep=sweep)
    assert sweep.exact_path_mtu is None
    assert obs.diagnosable and obs.path_mtu is None and obs.exact is None
    assert obs.pmtu_bounds == (None, 599) and obs.stop_reason is SearchStop.CONVERGED
    assert diagnose_path(obs) == ()


def test_undersized_sweep_is_named() -> None:
    path = FakePath(hop_mtus=[1500, 500, 1500])
    (found,) = diagnose_path(PathObservations(dst=path.dst, sweep=sweep_of(path, 498, 502)))
    assert found.kind == "undersized-pmtu" and found.facts["path_mtu"] == 500


def test_nothing_measured_is_nothing_to_say() -> None:
    obs = PathObservations(dst=FakePath(hop_mtus=[1500]).dst)
    assert not obs.diagnosable and obs.stop_reason is None and obs.path_mtu is None
    assert diagnose_path(obs) == ()


def test_parts_toward_another_destination_are_refused() -> None:
    path = FakePath(hop_mtus=[1500])
    other = FakePath(hop_mtus=[1500], family=6)
    with pytest.raises(UsageError, match="the trace is toward"):
        PathObservations(dst=path.dst, trace=trace_of(other))
