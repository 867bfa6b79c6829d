"""RttEstimator: RFC 6298's smoothing, and the timeout within its floor and cap."""

from __future__ import annotations

import pytest

from mtuscope.active.rtt import MULTIPLE, RttEstimator


def test_no_sample_waits_the_cap() -> None:
    rtt = RttEstimator()
    assert rtt.srtt is None and rtt.samples == 0
    assert rtt.timeout(floor=0.2, cap=1.0) == 1.0


def test_first_sample_gives_srtt_and_half_of_it_as_variation() -> None:
    rtt = RttEstimator()
    rtt.sample(0.1)
    assert (rtt.srtt, rtt.rttvar, rtt.samples) == (0.1, 0.05, 1)
    # SRTT + 4 RTTVAR = 0.3 = 3 SRTT
    assert rtt.timeout(floor=0.01, cap=5.0) == pytest.approx(0.3)


def test_later_samples_follow_rfc_6298() -> None:
    rtt = RttEstimator()
    rtt.sample(0.1)
    rtt.sample(0.3)
    assert rtt.rttvar == pytest.approx(0.75 * 0.05 + 0.25 * 0.2)
    srtt = 0.875 * 0.1 + 0.125 * 0.3
    assert rtt.srtt == pytest.approx(srtt)
    assert rtt.timeout(floor=0.01, cap=5.0) == pytest.approx(srtt + 4 * rtt.rttvar)


def test_a_steady_path_keeps_a_few_srtts() -> None:
    rtt = RttEstimator()
    for _ in range(200):
        rtt.sample(0.1)
    assert rtt.rttvar < 1e-6  # the variation decays to nothing ...
    # ... and the timeout stays at MULTIPLE round trips, not one
    assert rtt.timeout(floor=0.01, cap=5.0) == pytest.approx(MULTIPLE * 0.1)


def test_floor_and_cap() -> None:
    fast, slow = RttEstimator(), RttEstimator()
    fast.sample(0.0001)
    slow.sample(2.0)
    assert fast.timeout(floor=0.2, cap=1.0) == 0.2
    assert slow.timeout(floor=0.2, cap=1.0) == 1.0
    # a cap below the floor wins: the configured timeout is never exceeded
    assert fast.timeout(floor=0.2, cap=0.05) == 0.05


def test_a_late_sample_lengthens_the_timeout() -> None:
    rtt = RttEstimator()
    for _ in range(5):
        rtt.sample(0.001)
    before = rtt.timeout(floor=0.01, cap=10.0)
    rtt.sample(0.5)
    assert rtt.timeout(floor=0.01, cap=10.0) > 0.5 > before


def test_a_negative_sample_is_ignored() -> None:
    rtt = RttEstimator()
    rtt.sample(-0.1)
    assert rtt.samples == 0 and rtt.srtt is None
