"""Tests for mtuscope.calc.conventions and the nearest stacks of calc.explain, and how
`calc --explain-mtu` shows them (issue 11 point 11)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mtuscope.calc.conventions import (
    CONVENTIONS,
    conventions_for_ip_mtu,
    conventions_for_mss,
    conventions_for_mtu,
)
from mtuscope.calc.explain import explain_mtu, nearest_stacks
from mtuscope.calc.stack import mss_for
from mtuscope.cli import main
from mtuscope.report.schema import validate_report


def test_every_convention_cites_a_source_and_is_consistent() -> None:
    for c in CONVENTIONS:
        assert c.source and c.config and c.label
        if c.mtu is not None:
            # An MTU convention implies the MSS that fits it (RFC 9293 §3.7.1).
            assert (c.mss_ipv4, c.mss_ipv6) == mss_for(c.mtu)


@pytest.mark.parametrize(
    ("mss", "family", "words"),
    [
        (1360, 4, "adjust-mss 1360"),  # Cisco GRE over IPsec / DMVPN guidance
        (1380, 4, "tcpmss 1380"),  # Cisco ASA / FWSM default
        (1452, 4, "adjust-mss 1452"),  # PPPoE
        (1380, 4, "MTU = 1420"),  # WireGuard's 1420 less 40
        (1340, 6, "ip mtu 1400"),
    ],
)
def test_mss_conventions(mss: int, family: int, words: str) -> None:
    found = conventions_for_mss(mss, family)
    assert any(words in c.config for c in found), found


def test_no_convention_for_a_stack_default() -> None:
    assert conventions_for_mss(1460, 4) == ()
    assert conventions_for_mss(1300, 4) == ()
    assert conventions_for_mtu(1450) == ()


def test_mtu_conventions() -> None:
    assert [c.mtu for c in conventions_for_mtu(1400)] == [1400]
    assert [c.mtu for c in conventions_for_mtu(1492)] == [1492]
    # 1420 is WireGuard's MTU, and its MSS 1380 is also the ASA's default clamp.
    labels = [c.label for c in conventions_for_ip_mtu(1420)]
    assert any("WireGuard" in x for x in labels) and any("ASA" in x for x in labels)
    assert not any("ASA" in c.label for c in conventions_for_ip_mtu(1400))


def test_nearest_stacks_when_nothing_matches() -> None:
    assert explain_mtu(1400) == ()
    near = nearest_stacks(1400)
    assert near
    diffs = [abs(e.difference) for e in near]
    assert diffs == sorted(diffs)
    for e in near:
        assert e.difference == e.mtu - 1400 != 0
        assert e.commonness >= 40
    # Nothing is "nearest" when a stack matches exactly.
    assert nearest_stacks(1450) == ()


def _explain(capsys: pytest.CaptureFixture[str], mtu: int) -> tuple[str, dict[str, Any]]:
    assert main(["calc", "--explain-mtu", str(mtu)]) == 0
    text = capsys.readouterr().out
    assert main(["calc", "--json", "--explain-mtu", str(mtu)]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    validate_report(doc)
    return text, doc


@pytest.mark.parametrize(
    ("mtu", "words"),
    [
        (1400, "ip tcp adjust-mss 1360"),
        (1420, "MTU = 1420"),
        (1420, "sysopt connection tcpmss 1380"),
        (1492, "adjust-mss 1452"),
    ],
)
def test_explain_mtu_names_the_convention(
    capsys: pytest.CaptureFixture[str], mtu: int, words: str
) -> None:
    text, doc = _explain(capsys, mtu)
    assert words in " ".join(text.split())
    assert any(words in c["config"] for c in doc["conventions"])
    assert all(c["source"] for c in doc["conventions"])


def test_explain_mtu_gives_nearest_stacks_with_the_difference(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text, doc = _explain(capsys, 1400)
    assert doc["explanations"] == []
    assert doc["nearest"] and all(n["difference"] == n["mtu"] - 1400 for n in doc["nearest"])
    first = doc["nearest"][0]
    assert f"leaves {first['mtu']}, {abs(first['difference'])} bytes" in " ".join(text.split())
    _, exact = _explain(capsys, 1450)
    assert exact["nearest"] == [] and exact["explanations"]
