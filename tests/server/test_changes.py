"""The event logic alone: which rounds vote, X of Y debounce, findings raised and cleared."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mtuscope.server.changes import Tracker
from mtuscope.store.figures import Figures

BASE = Figures(
    exact=True,
    pmtu=1500,
    pmtu_lo=1500,
    pmtu_hi=1500,
    pmtu_reverse=None,
    mss_announced=1460,
    mss_effective=1448,
    mss_combined=1448,
    drop_address=None,
    drop_ttl=None,
    drop_from_mtu=None,
    drop_to_mtu=None,
    drop_encapsulation=None,
    clamp_hop=None,
    finding_kinds=(),
    worst="ok",
    probes_sent=9,
    seconds=0.1,
    stop_reason="converged",
    family=4,
)


def _run(
    rounds: list[Figures], *, confirm: int = 3, window: int = 4
) -> list[tuple[str, object, object]]:
    t = Tracker(confirm, window)
    out = []
    for fig in rounds:
        out += [(c.kind, c.before, c.after) for c in t.observe(fig, where="a -> t")]
    return out


def _pmtu(*values: int) -> list[Figures]:
    return [replace(BASE, pmtu=v, pmtu_lo=v, pmtu_hi=v) for v in values]


def test_a_first_value_is_quiet_and_a_change_needs_three_of_four() -> None:
    assert _run(_pmtu(1500, 1500, 1500)) == []
    assert _run(_pmtu(1500, 1500, 1500, 1400, 1400)) == []
    assert _run(_pmtu(1500, 1500, 1500, 1400, 1400, 1400)) == [("pmtu-changed", 1500, 1400)]


def test_a_flap_never_storms() -> None:
    assert _run(_pmtu(*([1500, 1400] * 20))) == []
    # With 2 of 3 the same flap would raise an event every round: the default is not that.
    assert len(_run(_pmtu(*([1500, 1400] * 5)), confirm=2, window=3)) >= 5


@pytest.mark.parametrize("stop", ["budget", "time", "interrupted", "error", "icmp-filtered"])
def test_a_search_that_did_not_finish_never_moves_the_pmtu(stop: str) -> None:
    cut = replace(BASE, exact=False, pmtu=None, pmtu_lo=1280, pmtu_hi=1500, stop_reason=stop)
    assert _run(_pmtu(1500, 1500, 1500) + [cut] * 6) == []


def test_cut_short_rounds_do_not_clear_a_finding() -> None:
    hole = replace(BASE, pmtu=1400, finding_kinds=("pmtud-blackhole",), stop_reason="blackhole")
    cut = replace(BASE, exact=False, pmtu=None, stop_reason="budget")
    got = _run([hole] * 3 + [cut] * 5)
    assert got == [("finding-raised", None, "pmtud-blackhole")]
    got = _run([hole] * 3 + [replace(BASE, pmtu=1400)] * 3)
    assert got == [
        ("finding-raised", None, "pmtud-blackhole"),
        ("finding-cleared", "pmtud-blackhole", None),
    ]


def test_mss_and_the_drop() -> None:
    clamp = replace(BASE, mss_announced=1300)
    assert _run([BASE] * 3 + [clamp] * 3) == [("mss-changed", 1460, 1300)]
    near = replace(BASE, pmtu=1400, drop_address="198.51.100.1", drop_ttl=2, drop_to_mtu=1400)
    far = replace(near, drop_address="198.51.100.130", drop_ttl=3)
    got = _run([near] * 3 + [far] * 3)
    assert got == [
        (
            "mtu-drop-moved",
            {"address": "198.51.100.1", "hop": 2, "to_mtu": 1400},
            {"address": "198.51.100.130", "hop": 3, "to_mtu": 1400},
        )
    ]


def test_state_survives_a_dump_and_load() -> None:
    t = Tracker(3, 4)
    for fig in _pmtu(1500, 1500, 1500, 1400, 1400):
        t.observe(fig, where="x")
    confirmed, window = t.dump()
    again = Tracker.load(confirmed, window, confirm=3, window=4)
    [change] = again.observe(_pmtu(1400)[0], where="x")
    assert (change.kind, change.before, change.after) == ("pmtu-changed", 1500, 1400)
