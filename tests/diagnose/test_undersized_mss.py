"""`undersized-mss` on captures: whose the MSS is, and advice that fits (issue 9 point 2,
issue 11 point 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtuscope.cli import main
from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.rules import undersized_mss
from mtuscope.passive import analyse, finish
from mtuscope.report.schema import validate_report
from passive import scenarios as sc
from passive.tables import packet_table

ROOT = Path(__file__).resolve().parents[2]


def _findings(packets: sc.Packets) -> list[Finding]:
    analysis = finish(analyse(packet_table(packets), capture="case.pcap"))
    return list(undersized_mss.check_capture(analysis))


def test_pmtud_ok_server_says_the_path_is_the_limit(capsys: pytest.CaptureFixture[str]) -> None:
    # The server sends at most 1360: the client announced 1460, and the capture's own
    # too-big messages (frame 9 on) prove a path MTU of 1400. 1360 = 1400 - 40.
    code = main(["analyze", "--json", str(ROOT / "examples/pmtud-ok-server.pcap")])
    doc = json.loads(capsys.readouterr().out)
    validate_report(doc)
    (f,) = [f for f in doc["findings"] if f["kind"] == "undersized-mss"]
    assert f["severity"] == "info" and f["facts"]["owner"] == "path"
    assert f["facts"]["mss"] == 1360 and f["facts"]["path_mtu"] == 1400
    assert "the path, not the host, is the limit" in f["summary"]
    assert "raise it to 1360" not in f["advice"] and "Nothing on the hosts to raise" in f["advice"]
    assert [e["frame"] for e in f["evidence"]] == [9] and f["evidence"][0]["field"] == "icmp.mtu"
    assert code in (0, 1)


def test_a_conventional_clamp_value_is_named() -> None:
    (f,) = _findings(sc.undersized(mss=1360))
    assert f.facts["owner"] == "clamp" and f.facts["proven"] == "no"
    assert "ip tcp adjust-mss 1360" in f.summary and "likely a clamp" in f.summary
    assert "Raise the `adjust-mss`/TCPMSS value" in f.advice


def test_an_unconventional_small_value_is_the_hosts() -> None:
    (f,) = _findings(sc.undersized(mss=1200))
    # The client announced 1200 and the server sends by it: the client's MSS.
    assert f.facts["owner"] == "client" and "the client's MSS option 1200" in f.summary
    # One capture point cannot rule a clamp out: the advice says so, and how to tell.
    assert "responder-check" in f.advice and "clamp" not in f.summary
