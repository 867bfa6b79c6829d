"""End to end: the advice fits what the lab built (issue 9 point 7).

- `bad-ptb`: too-big messages arrive with MTU 0: the advice says they are unusable,
  not that they are missing;
- `l2-mismatch`: the two ends of r1-r2 disagree (1500 at r1, 1400 at r2, 1404 gets
  through): the drop is silent on the link, nothing filters ICMP, so the advice is to
  make both ends agree, not to let ICMP through;
- `two-drops`: every drop is reported (`mtu_drops[]`, each with its own guess and
  finding), `mtu_drop` stays the one that sets the path MTU;
- no advice that says "no common encapsulation matches" sends the user to a tunnel.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from e2e.lablib import SRC, why_not
from mtuscope.lab import Lab
from mtuscope.report.schema import validate_report

pytestmark = pytest.mark.raw_socket


def _probe(name: str, family: int = 4) -> tuple[int, dict[str, Any], int, str]:
    """`probe --json` and `probe` (text) from the client of a fresh `name` lab."""
    if (why := why_not()) is not None:
        pytest.skip(why)
    with Lab.up(name) as lab:
        addr = str(lab.address("server", family))
        base = ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "mtuscope", "probe", addr]
        lab.flush_pmtu_cache()
        done = lab.exec("client", [*base, "--json"], check=False, timeout=90)
        doc = json.loads(done.stdout)
        lab.flush_pmtu_cache()
        text = lab.exec("client", base, check=False, timeout=90)
    validate_report(doc)
    for f in doc["findings"]:
        if "no common encapsulation matches" in f["advice"]:
            assert "head end" not in f["advice"] and "encapsulation starts" not in f["advice"], f[
                "advice"
            ]
    return done.returncode, doc, text.returncode, text.stdout


def _by_kind(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["kind"] == kind]


@pytest.mark.parametrize("family", [4, 6])
def test_bad_ptb_advice_says_the_too_big_messages_are_unusable(family: int) -> None:
    _, doc, _, _ = _probe("bad-ptb", family)
    (fail,) = _by_kind(doc, "pmtud-failure")
    assert "unusable" in fail["advice"] and "missing" not in fail["advice"]
    assert "let ICMP" not in fail["advice"]
    field = "icmp.mtu" if family == 4 else "icmpv6.mtu"
    assert {e["field"] for e in fail["evidence"]} == {field}


def test_l2_mismatch_advice_is_to_make_both_ends_agree() -> None:
    code, doc, _, _ = _probe("l2-mismatch")
    assert code == 1 and doc["pmtu"] == 1404
    for kind in ("pmtud-blackhole", "mtu-drop"):
        (f,) = _by_kind(doc, kind)
        assert "both ends" in f["advice"] and "1400" in f["advice"], f["advice"]
        assert "let ICMP" not in f["advice"], f["advice"]


def test_blackhole_advice_still_asks_for_icmp() -> None:
    _, doc, _, _ = _probe("blackhole")
    (f,) = _by_kind(doc, "pmtud-blackhole")
    assert "let ICMP" in f["advice"]


def test_two_drops_are_both_reported_with_their_own_guess() -> None:
    code, doc, tcode, text = _probe("two-drops")
    assert code == tcode == 0
    drops = doc["mtu_drops"]
    assert [(d["from_mtu"], d["to_mtu"]) for d in drops] == [(1500, 1480), (1480, 1400)]
    assert doc["mtu_drop"] == drops[-1]
    guesses = [{e["label"] for e in d["likely_encapsulation"]} for d in drops]
    assert all(guesses) and guesses[0] != guesses[1]
    found = _by_kind(doc, "mtu-drop")
    assert sorted(f["facts"]["to_mtu"] for f in found) == [1400, 1480]
    lines = [line for line in text.splitlines() if line.startswith("MTU drop:")]
    assert len(lines) == 2 and "1500 → 1480" in lines[0] and "1480 → 1400" in lines[1]
