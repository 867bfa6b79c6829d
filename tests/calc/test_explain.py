"""Tests for mtuscope.calc.explain: which stacks explain an observed MTU."""

from __future__ import annotations

import pytest

from mtuscope.calc.explain import explain_mtu
from mtuscope.calc.stack import compute, parse_layers
from mtuscope.errors import UsageError


@pytest.mark.parametrize(
    ("mtu", "first"),
    [
        (1450, ("vxlan",)),  # RFC 7348; Linux VXLAN default
        (1476, ("gre",)),  # RFC 2784
        (1492, ("pppoe",)),  # RFC 2516 §7
        (1420, ("wireguard:ipv6",)),  # WireGuard Linux default
        (1440, ("wireguard",)),
        (1480, ("6in4",)),  # RFC 4213, Linux sit default
        (1438, ("ipsec-tunnel:aes-cbc-sha1",)),  # RFC 4303 with AES-CBC/SHA1-96
    ],
)
def test_most_common_first(mtu: int, first: tuple[str, ...]) -> None:
    found = explain_mtu(mtu)
    assert found, mtu
    assert found[0].stack == first
    assert found[0].overhead == 1500 - mtu
    assert found[0].reference


def test_labels_and_ranking() -> None:
    found = explain_mtu(1450)
    assert found[0].label == "VXLAN over IPv4"
    assert found[0].how_common == "very common"
    assert ("geneve",) in [e.stack for e in found]
    ranks = [e.commonness for e in found]
    assert ranks == sorted(ranks, reverse=True)
    stacks = [e.stack for e in found]
    assert len(stacks) == len(set(stacks))


def test_every_explanation_really_produces_the_mtu() -> None:
    for mtu in range(1380, 1500):
        for e in explain_mtu(mtu, limit=50):
            assert compute(1500, parse_layers(e.stack)).ip_mtu == mtu == e.mtu


def test_other_starting_mtu() -> None:
    found = explain_mtu(8950, from_mtu=9000)
    assert found[0].stack == ("vxlan",)
    # over a 1300-byte link the IPv6-underlay stacks cannot run; GRE still explains 1276
    assert explain_mtu(1276, from_mtu=1300)[0].stack == ("gre",)
    assert all("ipv6" not in " ".join(e.stack) for e in explain_mtu(1200, from_mtu=1250))


def test_catalogue_holds_each_stack_once() -> None:
    from mtuscope.calc.explain import _CATALOGUE

    stacks = [layers for layers, _, _ in _CATALOGUE]
    assert len(stacks) == len(set(stacks))


def test_nothing_matches() -> None:
    assert explain_mtu(1499) == ()
    assert explain_mtu(1500) == ()


def test_limit() -> None:
    assert len(explain_mtu(1438, limit=2)) == 2


@pytest.mark.parametrize(
    ("mtu", "kw"),
    [(1600, {}), (-5, {}), (10, {}), (1400, {"from_mtu": 70000}), (1400, {"limit": 0})],
)
def test_bad_input(mtu: int, kw: dict[str, int]) -> None:
    with pytest.raises(UsageError):
        explain_mtu(mtu, **kw)
