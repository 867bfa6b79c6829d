"""DfSweep: a per-size table like a router's extended ping."""

from __future__ import annotations

import pytest

from mtuscope.active.engine import Limits
from mtuscope.active.probe import SearchStop
from mtuscope.active.sweep import DfSweep
from mtuscope.errors import UsageError

from .fakepath import FakePath, run


def test_sweep_across_a_drop_with_icmp() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500])
    sweep = DfSweep(dst=path.dst, start=1396, stop=1404, step=2, count=2)
    run(sweep, path)
    result = sweep.result()
    assert result.stop_reason is SearchStop.CONVERGED
    assert [r.size for r in result.rows] == [1396, 1398, 1400, 1402, 1404]
    assert [(r.sent, r.reached, r.too_big, r.lost) for r in result.rows] == [
        (2, 2, 0, 0),
        (2, 2, 0, 0),
        (2, 2, 0, 0),
        (2, 0, 2, 0),
        (2, 0, 2, 0),
    ]
    assert result.rows[-1].mtus == (1400,)
    assert result.rows[0].min_rtt_ms is not None and result.rows[-1].min_rtt_ms is None
    assert result.largest_reached == 1400


def test_sweep_through_a_black_hole() -> None:
    path = FakePath(hop_mtus=[1500, 1400, 1500], icmp="blocked")
    sweep = DfSweep(dst=path.dst, start=1399, stop=1401)
    stats = run(sweep, path)
    result = sweep.result()
    assert [(r.size, r.reached, r.lost) for r in result.rows] == [
        (1399, 1, 0),
        (1400, 1, 0),
        (1401, 0, 3),
    ]
    # The first silent size above the answers is probed twice more before it stands.
    assert stats.probes == 5


def test_sweep_larger_than_the_budget_is_refused() -> None:
    path = FakePath(hop_mtus=[1500])
    with pytest.raises(UsageError):
        DfSweep(dst=path.dst, start=1000, stop=1500, limits=Limits(budget=100))
    with pytest.raises(UsageError):
        DfSweep(dst=path.dst, start=1500, stop=1400)
    with pytest.raises(UsageError):
        DfSweep(dst=path.dst, start=1400, stop=1500).result()


def test_sweep_with_a_short_ttl_counts_time_exceeded_as_other() -> None:
    path = FakePath(hop_mtus=[1500, 1500, 1500])
    sweep = DfSweep(dst=path.dst, start=1000, stop=1001, ttl=1)
    run(sweep, path)
    assert [(r.reached, r.other) for r in sweep.result().rows] == [(0, 1), (0, 1)]
    assert sweep.result().largest_reached is None
