"""End to end: every lab scenario through trace, sweep and middlebox, verdicts against the truth.

`test_probe_lab.py` holds `probe` to each scenario's truth in detail; this module
holds the other path verbs and `middlebox` to the same truth, as a user reads
them: the exit code, whether a problem is called one (no false ERROR anywhere, no
"no problem" where the scenario has one) and the path MTU, exact or as the
bounds a sweep's grid allows. Each scenario's lab is brought up once; the lab's
own HTTP listener on the server (behind the relay in `tcp-relay`) serves every TCP
probe.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.lablib import SRC, why_not
from mtuscope.lab import SCENARIOS, Lab, ProbeKind, Scenario
from mtuscope.lab.middlebox_scenarios import PROXY_PORT, SERVICE_PORT, relay_argv
from mtuscope.lab.traffic import LISTENER_PORT
from mtuscope.report.schema import validate_report

pytestmark = pytest.mark.raw_socket

SWEEP = ("1380", "1500", "4")
"""The README's sweep: --from, --to, --step."""
MIDDLEBOX_KINDS = frozenset({"mss-rewritten", "isn-rewritten", "tcp-proxy", "address-translated"})


def _port(truth: Scenario) -> int:
    """The TCP port the probes use: the one `tcp-relay` redirects, else the lab listener's."""
    return SERVICE_PORT if truth.name == "tcp-relay" else LISTENER_PORT


def _cli(lab: Lab, argv: list[str]) -> dict[str, Any]:
    cmd = ["env", f"PYTHONPATH={SRC}", sys.executable, "-m", "mtuscope", *argv]
    lab.flush_pmtu_cache()
    started = time.monotonic()
    done = lab.exec("client", cmd, check=False, timeout=90)
    doc = json.loads(done.stdout) if done.stdout.strip() else None
    return {
        "argv": argv,
        "code": done.returncode,
        "doc": doc,
        "stderr": done.stderr,
        "wall": time.monotonic() - started,
    }


def _tcp_args(truth: Scenario) -> list[str]:
    """What a path verb needs to reach this server: nothing when it answers echo."""
    if ProbeKind.ECHO in truth.server_answers:
        return []
    return ["--kind", "tcp", "--port", str(_port(truth))]


def _run_all(lab: Lab) -> dict[tuple[str, int], dict[str, Any]]:
    truth = lab.truth
    port = _port(truth)
    # The lab's own HTTP listener serves every TCP probe and connection (on the relayed
    # port in tcp-relay, where r2's relay connects through to it).
    lab.start_listener(port)
    relay = (
        lab.popen("r2", relay_argv(PROXY_PORT, seconds=240.0))
        if truth.name == "tcp-relay"
        else None
    )
    try:
        runs: dict[tuple[str, int], dict[str, Any]] = {}
        for family in (4, 6):
            addr = str(lab.address("server", family))
            tcp = _tcp_args(truth)
            runs["trace", family] = _cli(lab, ["trace", addr, "--json", *tcp])
            frm, to, step = SWEEP
            sweep = ["sweep", addr, "--from", frm, "--to", to, "--step", step, "--json", *tcp]
            runs["sweep", family] = _cli(lab, sweep)
            runs["middlebox", family] = _cli(
                lab, ["middlebox", addr, "--port", str(port), "--json"]
            )
            runs["probe-port", family] = _cli(lab, ["probe", addr, "--port", str(port), "--json"])
        return runs
    finally:
        if relay is not None:
            relay.kill()
            relay.communicate(timeout=10)


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario_runs(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[Scenario, dict[tuple[str, int], dict[str, Any]]]]:
    """One lab per scenario; every run of the module happens here, once."""
    why = why_not()
    if why is not None:
        pytest.skip(why)
    with Lab.up(request.param) as lab:
        runs = _run_all(lab)
    yield lab.truth, runs


def _kinds(doc: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in doc["findings"]]


def _errors(doc: dict[str, Any]) -> list[str]:
    return [f["kind"] for f in doc["findings"] if f["severity"] == "error"]


def _doc(run: dict[str, Any]) -> dict[str, Any]:
    doc = run["doc"]
    assert doc is not None, (run["argv"], run["code"], run["stderr"])
    validate_report(doc)
    return doc  # type: ignore[no-any-return]


def _check_path_mtu(doc: dict[str, Any], want: int, *, grid: int) -> None:
    """Exact, or (a sweep's grid) bounds that hold the truth and are one step wide."""
    if doc["pmtu"] is not None:
        assert doc["pmtu"] == want, doc
        return
    bounds = doc.get("pmtu_bounds")
    assert bounds is not None, doc
    assert bounds["lo"] <= want <= bounds["hi"] and bounds["hi"] - bounds["lo"] < grid, bounds


def _path_problem(truth: Scenario) -> bool:
    fwd = truth.forward
    return fwd.drop_link is not None or fwd.too_big_mtu is not None


FAMILIES = [pytest.param(4, id="v4"), pytest.param(6, id="v6")]


@pytest.mark.parametrize("verb", ["trace", "sweep"])
@pytest.mark.parametrize("family", FAMILIES)
def test_path_verbs_verdict_matches_the_truth(
    scenario_runs: tuple[Scenario, dict[tuple[str, int], dict[str, Any]]], verb: str, family: int
) -> None:
    truth, runs = scenario_runs
    run = runs[verb, family]
    doc = _doc(run)
    fwd = truth.forward
    silent = fwd.drop_link is not None and not fwd.too_big_sent
    assert doc["stop_reason"] not in ("budget", "time", "interrupted"), doc["stop_reason"]
    _check_path_mtu(doc, fwd.pmtu(family), grid=int(SWEEP[2]) if verb == "sweep" else 1)
    kinds = _kinds(doc)
    if silent:
        assert "pmtud-blackhole" in kinds, kinds
        assert run["code"] == 1, run["stderr"]
    else:
        assert "pmtud-blackhole" not in kinds, doc["findings"]
        assert not _errors(doc), doc["findings"]
        assert run["code"] == 0, run["stderr"]
    if _path_problem(truth) and (verb == "trace" or silent or fwd.too_big_mtu is not None):
        # A sweep cannot locate a drop that PMTUD handles (mtu-drop): its "no problem" is
        # then true; a silent drop or useless too-big messages it must name.
        assert kinds, f"{truth.name}: {verb} found no problem"
    if fwd.too_big_mtu is not None:
        assert "pmtud-failure" in kinds, kinds
    if verb == "trace":
        assert ("mtu-drop" in kinds) is (fwd.drop_link is not None), kinds


@pytest.mark.parametrize("family", FAMILIES)
def test_middlebox_verdict_matches_the_truth(
    scenario_runs: tuple[Scenario, dict[tuple[str, int], dict[str, Any]]], family: int
) -> None:
    truth, runs = scenario_runs
    run = runs["middlebox", family]
    doc = _doc(run)
    kinds = set(_kinds(doc)) & MIDDLEBOX_KINDS
    if truth.name == "tcp-relay":
        assert "tcp-proxy" in kinds and "isn-rewritten" not in kinds, doc["findings"]
    elif truth.clamp is not None:
        assert kinds == {"mss-rewritten"}, doc["findings"]
    elif truth.name == "nat":
        assert kinds <= {"address-translated"}, doc["findings"]
    else:
        assert not kinds, doc["findings"]
    assert not _errors(doc), doc["findings"]
    assert run["code"] == 0, run["stderr"]


@pytest.mark.parametrize("family", FAMILIES)
def test_probe_with_a_port_names_the_right_problem(
    scenario_runs: tuple[Scenario, dict[tuple[str, int], dict[str, Any]]], family: int
) -> None:
    truth, runs = scenario_runs
    run = runs["probe-port", family]
    doc = _doc(run)
    kinds = _kinds(doc)
    fwd = truth.forward
    silent = fwd.drop_link is not None and not fwd.too_big_sent
    if truth.name == "tcp-relay":
        assert "tcp-proxy" in kinds, doc["findings"]
    else:
        assert "tcp-proxy" not in kinds, doc["findings"]
    # Only a silent drop is an error: an MSS too large for a path whose routers send
    # too-big messages is repaired by PMTUD (a warning).
    if silent:
        assert run["code"] == 1, (run["stderr"], doc["findings"])
    else:
        assert not _errors(doc), doc["findings"]
        assert run["code"] == 0, run["stderr"]
