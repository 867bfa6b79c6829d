"""jobs/probe.py over loopback: the search, the trace, a spent budget or time as a result.

Probing runs against loopback only (the lab scenarios are in tests/e2e/).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from mtuscope.active.probe import PortState, ProbeKind, SearchStop
from mtuscope.jobs.path import PathTransport
from mtuscope.jobs.probe import ProbeOptions, probe
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict

ROOT = sys.platform.startswith("linux") and os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="raw-socket probing needs root on Linux")
LO_MTU = min(int(Path("/sys/class/net/lo/mtu").read_text()), 65535) if ROOT else 0

pytestmark = [needs_root, pytest.mark.raw_socket]


def test_probe_over_loopback_finds_the_interface_mtu() -> None:
    report = probe(ProbeOptions(host="127.0.0.1", budget=80, max_seconds=20))
    assert report.transport is PathTransport.RAW and report.probe_kind is ProbeKind.ECHO
    assert report.pmtu == LO_MTU and report.stop_reason is SearchStop.CONVERGED
    obs = report.observations
    assert obs.search is not None and obs.trace is not None and obs.mss is None
    assert obs.sweep is None and obs.port is None
    assert [str(h.address) for h in obs.trace.hops] == ["127.0.0.1"]
    assert report.search is not None
    assert report.search.sent == len(obs.search.probes) <= report.probes.sent <= 80
    assert report.findings == () and report.warnings == () and report.inputs == ("127.0.0.1",)
    doc = to_dict(report)
    validate_report(doc)
    assert doc["search"]["sent"] == report.search.sent


def test_names_are_resolved_and_both_shown_in_the_inputs() -> None:
    report = probe(ProbeOptions(host="localhost", family=4, budget=40, max_seconds=20))
    assert report.inputs == ("localhost", "127.0.0.1") and str(report.dst) == "127.0.0.1"


def test_unprivileged_mode_probes_with_udp_and_warns() -> None:
    report = probe(ProbeOptions(host="127.0.0.1", unprivileged=True, max_seconds=20))
    assert report.transport is PathTransport.UDP and report.probe_kind is ProbeKind.UDP
    assert report.pmtu == LO_MTU and report.observations.port == 33434
    assert any("--unprivileged" in w for w in report.warnings)


def test_a_spent_time_is_a_result_with_its_stop_reason_not_an_error() -> None:
    # Round one is 13 sizes; the bucket lets 12 out at once, the 13th 50 ms later:
    # a 10 ms cap always stops the search first.
    report = probe(ProbeOptions(host="127.0.0.1", max_seconds=0.01))
    assert report.stop_reason is SearchStop.TIME
    assert report.observations.trace is None and report.probes.sent >= 1
    assert any("--max-seconds ran out" in w for w in report.warnings)
    assert any("hop trace skipped" in w for w in report.warnings)
    assert not report.has_error
    validate_report(to_dict(report))


def test_a_spent_budget_is_a_result_with_its_stop_reason() -> None:
    report = probe(ProbeOptions(host="127.0.0.1", budget=1, max_seconds=20))
    assert report.stop_reason is SearchStop.BUDGET and report.probes.sent == 1
    # Cut short: no path MTU, only the bounds (the one size that got through and up).
    assert report.pmtu is None and report.inconclusive is not None
    assert report.pmtu_bounds is not None
    lo, hi = report.pmtu_bounds
    assert lo is not None and lo <= LO_MTU <= hi
    assert any("hop trace skipped" in w for w in report.warnings)
    assert any(w.startswith("inconclusive: the search was cut short") for w in report.warnings)
    doc = to_dict(report)
    validate_report(doc)
    assert doc["pmtu"] is None and doc["pmtu_bounds"] == {"lo": lo, "hi": hi}


def test_a_closed_port_is_its_port_state_not_two_warnings() -> None:
    # TCP SYN probes to a closed loopback port are answered with RSTs: the port is closed,
    # said once (the report's port line), and no connection is tried for the MSS.
    report = probe(ProbeOptions(host="127.0.0.1", port=9, budget=80, max_seconds=20))
    assert report.probe_kind is ProbeKind.TCP_SYN and report.observations.port == 9
    assert report.observations.mss is None
    assert report.port_state is PortState.CLOSED
    assert not any("SYN/ACK" in w or "TCP connection" in w for w in report.warnings)


def test_no_time_left_for_the_search_is_a_result_not_an_environment_error() -> None:
    # Opening the transport alone outlasts a 1 ns cap: the search is halted before it
    # sends anything (it used to raise ProbeError: exit 3 and no report).
    report = probe(ProbeOptions(host="127.0.0.1", max_seconds=1e-9))
    assert report.stop_reason is SearchStop.TIME and report.pmtu is None
    assert report.probes.sent == 0 and report.inconclusive is not None
    assert report.pmtu_bounds == (None, LO_MTU)
    validate_report(to_dict(report))


def test_the_cli_exits_0_with_a_json_report_when_time_runs_out(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mtuscope.cli import main

    code = main(["probe", "127.0.0.1", "--max-seconds", "1e-9", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["stop_reason"] == "time" and doc["pmtu"] is None
    assert doc["pmtu_bounds"] == {"lo": None, "hi": LO_MTU}
