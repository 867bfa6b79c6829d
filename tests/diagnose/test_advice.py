"""The advice wording of every rule: concrete, computed, platform lines when an MTU is known."""

from __future__ import annotations

import pytest

from mtuscope.calc.snippets import PLATFORMS
from mtuscope.diagnose.findings import KINDS
from mtuscope.diagnose.rules import PLANNED, RULES, advise
from mtuscope.errors import UsageError

FULL: dict[str, int | str | None] = {
    "path_mtu": 1450,
    "family": 4,
    "mss": 1460,
    "peer_mss": 1410,
    "icmp_mtu": 1450,
    "from_mtu": 1500,
    "to_mtu": 1450,
    "side": "client",
    "hop": 3,
    "original_mss": 1460,
    "segment": 1460,
    "option": "Window scale",
    "address": "192.0.2.1",
}


@pytest.mark.parametrize("kind", KINDS)
def test_covers_every_kind(kind: str) -> None:
    # A kind gives advice exactly when it has a rule (test_registry pins which kinds those are).
    if kind in PLANNED:
        with pytest.raises(UsageError, match="no rule yet"):
            advise(kind, {})
    else:
        assert RULES[kind].kind == kind and advise(kind, {})


@pytest.mark.parametrize("kind", list(RULES))
def test_generic_advice_without_facts(kind: str) -> None:
    text = advise(kind, {})
    assert len(text) > 60 and "\n" not in text
    assert "None" not in text


@pytest.mark.parametrize("kind", list(RULES))
def test_advice_with_facts_and_platform(kind: str) -> None:
    text = advise(kind, FULL, platform="cisco-ios")
    assert "None" not in text
    if kind in ("oversized-mss", "pmtud-blackhole", "mtu-drop", "icmp-too-big", "pmtud-failure"):
        assert "ip tcp adjust-mss 1410" in text
        assert "ip mtu 1450" in text


def test_numbers_are_computed() -> None:
    text = advise("oversized-mss", {"path_mtu": 1400, "family": 6, "mss": 1440})
    assert "clamp the MSS to 1340 (IPv6)" in text
    assert advise("oversized-mss", {"path_mtu": 1400, "mss": 1460, "side": "server"}).startswith(
        "The server's MSS 1460 plus 40 bytes"
    )
    assert "type 3 code 4" in text and "RFC 4890" in text
    drop = advise("mtu-drop", {"from_mtu": 1500, "to_mtu": 1450, "hop": 3})
    assert "at hop 3" in drop and "VXLAN over IPv4" in drop and "IPv4 1410" in drop
    small = advise("undersized-pmtu", {"path_mtu": 1200, "family": 6})
    assert "at least 1280" in small and "clamp TCP to 1140 (IPv6)" in small
    # no snippet can set an IPv6 MTU below 1280: the advice is to raise it
    assert "\n" not in advise("undersized-pmtu", {"path_mtu": 1200, "family": 6}, platform="linux")
    assert "ip link set dev <iface> mtu 500" in advise(
        "undersized-pmtu", {"path_mtu": 500, "family": 4}, platform="linux"
    )


def test_platform_snippet_only_when_mtu_known() -> None:
    assert "\n" not in advise("isn-rewritten", {}, platform="linux")
    assert "ip link set dev wan0 mtu 1450" in advise(
        "pmtud-blackhole", {"path_mtu": 1450, "interface": "wan0"}, platform="linux"
    )


def test_strings_as_numbers_and_absurd_values() -> None:
    assert "1410" in advise("oversized-mss", {"path_mtu": "1450"})
    assert "path MTU - 40" in advise("oversized-mss", {"path_mtu": "big", "mss": True})
    # an ICMP MTU equal to the link MTU names no encapsulation
    assert "looks like" not in advise("icmp-too-big", {"icmp_mtu": 1500})
    # an absurd path MTU gives generic advice, not nonsense numbers
    assert "path MTU - 40" in advise("oversized-mss", {"path_mtu": 5})


def test_bad_kind_and_platform() -> None:
    with pytest.raises(UsageError, match="unknown finding kind"):
        advise("no-such-kind", {})
    with pytest.raises(UsageError, match="no rule yet"):
        advise("ip-header-changed", {})
    with pytest.raises(UsageError, match="known platforms: " + ", ".join(PLATFORMS)):
        advise("oversized-mss", {"path_mtu": 1400}, platform="vax-vms")


@pytest.mark.parametrize(
    ("kind", "facts", "must", "must_not"),
    [
        # An MTU the sender cannot use is not a value to configure (bad-ptb-large: 65535).
        (
            "icmp-too-big",
            {"icmp_mtu": 65535, "problem": "not below the quoted packet", "address": "192.0.2.2"},
            "unusable",
            "Set MTU 65535",
        ),
        # Too-big messages that carry MTU 0 are present, not missing (bad-ptb).
        ("pmtud-failure", {"icmp_mtu": 0, "signal": "unusable", "path_mtu": 1400}, "unusable",
         "missing"),
        # A drop no encapsulation explains sends nobody to a tunnel's head end (1400 may
        # still be named as the configured convention for tunnels).
        ("mtu-drop", {"to_mtu": 1400, "from_mtu": 1500}, "in front of the narrow link",
         "head end"),
        ("icmp-too-big", {"icmp_mtu": 1400}, "in front of the narrow link", "head end"),
        # ... and one it does explains where the encapsulation starts.
        ("mtu-drop", {"to_mtu": 1450, "from_mtu": 1500}, "where the encapsulation starts",
         "narrow"),
        # A silent drop 4 bytes over a round MTU: the two ends of a link disagree.
        ("mtu-drop", {"to_mtu": 1404, "from_mtu": 1500, "silent": 1, "between": "hop 1 and 2"},
         "both ends", "let ICMP"),
        ("pmtud-blackhole", {"path_mtu": 1404, "from_mtu": 1500, "l2_mtu": 1400, "hop": 2},
         "both ends", "let ICMP"),
        ("pmtud-blackhole", {"path_mtu": 1400, "from_mtu": 1500, "hop": 2}, "let ICMP",
         "both ends"),
    ],
)  # fmt: skip
def test_advice_fits_the_facts(
    kind: str, facts: dict[str, int | str | None], must: str, must_not: str
) -> None:
    text = advise(kind, facts)
    assert must in text and must_not not in text, text
