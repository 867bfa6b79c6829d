"""Tests for mtuscope.calc.advice: the numbers behind the advice, and the config lines."""

from __future__ import annotations

import pytest

from mtuscope.calc.advice import (
    TCP_IP_HEADERS,
    clamp_mss,
    config_snippet,
    ipv6_clamp,
    usable_mtu,
)
from mtuscope.errors import UsageError


def test_headers_and_clamps() -> None:
    assert TCP_IP_HEADERS == {4: 40, 6: 60}
    assert clamp_mss(1450, 4) == 1410 and clamp_mss(1450, 6) == 1390
    assert ipv6_clamp(1280) == 1220 and ipv6_clamp(1279) is None


def test_usable_mtu_bounds() -> None:
    assert usable_mtu(68) and usable_mtu(65535)
    assert not usable_mtu(67) and not usable_mtu(65536) and not usable_mtu(None)


def test_config_snippet_carries_the_clamps() -> None:
    text = config_snippet("cisco-ios", 1450)
    assert "ip mtu 1450" in text and "ip tcp adjust-mss 1410" in text
    assert "dev wan0 mtu 1450" in config_snippet("linux", 1450, interface="wan0")
    with pytest.raises(UsageError):
        config_snippet("vax-vms", 1450)
