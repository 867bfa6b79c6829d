"""Findings that explain an MTU name the configured convention, else the nearest stacks
(issue 11 point 11)."""

from __future__ import annotations

from mtuscope.calc.explain import nearest_stacks
from mtuscope.diagnose.rules.phrases import looks_like


def test_findings_name_the_convention_or_the_nearest_stacks() -> None:
    tunnel = looks_like(1400, 1500)
    assert "ip mtu 1400 / ip tcp adjust-mss 1360" in tunnel and "nearest" not in tunnel
    odd = looks_like(1391, 1500)
    assert "no common encapsulation matches; nearest stacks:" in odd
    near = nearest_stacks(1391)[0]
    assert f"{near.label} {near.mtu} ({near.difference:+d} bytes)" in odd
    assert "PPPoE" in looks_like(1492, 1500)
