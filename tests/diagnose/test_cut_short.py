"""Issue 9 points 3 and 4 on the real engines against FakePath: a search cut short is
never exact (bounds, no path MTU, no size findings); a sweep's table concludes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mtuscope.active.engine import Limits
from mtuscope.active.path_mtu import PathMtuSearch
from mtuscope.active.probe import SearchStop
from mtuscope.active.sweep import DfSweep
from mtuscope.diagnose.observations import PathObservations
from mtuscope.diagnose.path import diagnose_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from active.fakepath import FakePath, run  # noqa: E402  (tests/ is not a package)


@pytest.mark.parametrize("budget", [5, 6, 15])
@pytest.mark.parametrize("mtu", [1372, 1404])
def test_a_search_cut_short_by_its_budget_gives_bounds_not_a_path_mtu(
    budget: int, mtu: int
) -> None:
    path = FakePath(hop_mtus=[1500, mtu, 1500], icmp="blocked")
    engine = PathMtuSearch(dst=path.dst, ceiling=1500, limits=Limits(budget=budget))
    run(engine, path)
    result = engine.result()
    assert result.stop_reason is SearchStop.BUDGET and not result.exact
    lo, hi = result.bounds
    assert lo is not None and lo <= mtu <= hi
    obs = PathObservations(dst=path.dst, search=result)
    assert obs.path_mtu is None and obs.exact is None and obs.cut_short
    assert obs.pmtu_bounds == (lo, hi)
    # A lower bound is no verdict: no size finding from it, and no black hole either.
    assert diagnose_path(obs) == ()


def test_a_search_halted_from_outside_keeps_its_bounds() -> None:
    path = FakePath(hop_mtus=[1500, 1404, 1500], icmp="blocked")
    engine = PathMtuSearch(dst=path.dst, ceiling=1500)
    # Round one leaves, then SIGINT before any reply: the run halts the engine.
    assert engine.probes_due(100.0)
    engine.halt(100.5, SearchStop.INTERRUPTED)
    result = engine.result()
    assert result.stop_reason is SearchStop.INTERRUPTED and not result.exact
    assert result.path_mtu is None and result.bounds == (None, 1500)
    assert PathObservations(dst=path.dst, search=result).cut_short


def test_a_finished_search_is_exact_and_its_bounds_are_the_answer() -> None:
    path = FakePath(hop_mtus=[1500, 1404, 1500], icmp="blocked")
    engine = PathMtuSearch(dst=path.dst, ceiling=1500)
    run(engine, path)
    result = engine.result()
    assert result.exact and result.path_mtu == 1404 and result.bounds == (1404, 1404)


def sweep(path: FakePath, start: int, stop: int, step: int, **kw: object) -> PathObservations:
    engine = DfSweep(dst=path.dst, start=start, stop=stop, step=step, ceiling=1500, **kw)  # type: ignore[arg-type]
    run(engine, path)
    return PathObservations(dst=path.dst, sweep=engine.result())


def test_the_readme_sweep_is_pinned_by_the_too_big_mtu() -> None:
    # mtu-drop: 1400 came back, 1404 drew a too-big saying 1400.
    obs = sweep(FakePath(hop_mtus=[1500, 1400, 1500]), 1380, 1500, 4)
    assert obs.sweep is not None
    c = obs.sweep.conclusion
    assert (c.lo, c.hi, c.exact, c.verdict) == (1400, 1400, True, SearchStop.CONVERGED)
    assert obs.path_mtu == 1400 and obs.pmtu_bounds == (1400, 1400)
    assert obs.exact is not None and obs.exact.probe.size == 1400


def test_a_sweep_through_a_black_hole_finds_it_with_bounds() -> None:
    # l2-mismatch: sizes above 1404 vanish silently; step 4 leaves 1405..1407 open.
    obs = sweep(FakePath(hop_mtus=[1500, 1404, 1500], icmp="blocked"), 1380, 1500, 4)
    assert obs.sweep is not None
    c = obs.sweep.conclusion
    assert (c.lo, c.hi, c.exact, c.verdict) == (1404, 1407, False, SearchStop.BLACKHOLE)
    assert obs.path_mtu is None and obs.exact is None and obs.pmtu_bounds == (1404, 1407)
    (found,) = diagnose_path(obs)
    assert found.kind == "pmtud-blackhole" and found.severity.value == "error"
    assert "between 1404 and 1407" in found.summary
    assert found.facts["mtu_low"] == 1404 and found.facts["mtu_high"] == 1407


def test_a_sweep_with_step_one_pins_a_black_hole_to_the_byte() -> None:
    obs = sweep(FakePath(hop_mtus=[1500, 1404, 1500], icmp="blocked"), 1400, 1410, 1)
    assert obs.path_mtu == 1404 and obs.stop_reason is SearchStop.BLACKHOLE
    (found,) = diagnose_path(obs)
    assert found.kind == "pmtud-blackhole" and "above 1404 bytes vanish" in found.summary


def test_a_lost_probe_above_the_answers_is_confirmed_before_it_is_a_black_hole() -> None:
    # The last size vanished: the sweep probes it again before concluding; three silent
    # probes of 1405 right above an answered 1404 make the black hole exact.
    path = FakePath(hop_mtus=[1500, 1404, 1500], icmp="blocked")
    obs = sweep(path, 1400, 1405, 1)
    assert obs.sweep is not None
    (edge,) = [r for r in obs.sweep.rows if r.size == 1405]
    assert (edge.sent, edge.lost) == (3, 3)
    c = obs.sweep.conclusion
    assert (c.lo, c.exact, c.verdict) == (1404, True, SearchStop.BLACKHOLE)
    assert [f.kind for f in diagnose_path(obs)] == ["pmtud-blackhole"]


def test_a_sweep_where_everything_passes_is_bounded_by_the_interface() -> None:
    obs = sweep(FakePath(hop_mtus=[1500, 1500, 1500]), 1400, 1500, 20)
    assert obs.path_mtu == 1500 and obs.stop_reason is SearchStop.CONVERGED


def test_a_sweep_cut_short_is_inconclusive() -> None:
    path = FakePath(hop_mtus=[1500, 1404, 1500], icmp="blocked")
    engine = DfSweep(dst=path.dst, start=1380, stop=1500, step=4, ceiling=1500)
    assert engine.probes_due(100.0)
    engine.halt(100.1, SearchStop.TIME)
    obs = PathObservations(dst=path.dst, sweep=engine.result())
    assert obs.stop_reason is SearchStop.TIME and obs.cut_short and obs.path_mtu is None
    assert diagnose_path(obs) == ()
