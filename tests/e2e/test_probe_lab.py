"""End to end: `mtuscope probe` inside every lab scenario, checked against the scenario's truth.

Each scenario of `mtuscope.lab.SCENARIOS` (new ones are picked up automatically)
is brought up once; inside it the CLI runs as a separate process in the client
namespace, IPv4 and IPv6, once with its default ICMP echo probes (when the
server answers them) and once with TCP SYN probes to a listening port (`--port`,
which also measures the MSS). Each JSON report is validated against the schema
and compared with the truth: path MTU, the link where it drops (hop and the
router's address), black hole or not, useless too-big messages, the MSS, and
the speed goals (a black hole found and located by the search and the hop trace
in < 2 s and < 40 probes, a path with working too-big messages < 1 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from e2e.lablib import SRC, why_not
from mtuscope.lab import SCENARIOS, Lab, ProbeKind, Scenario
from mtuscope.lab.traffic import server_argv
from mtuscope.report.schema import validate_report

pytestmark = pytest.mark.raw_socket

PORT = 5001
"""The listening port for scenarios without a declared one."""

XFAIL: dict[str, str] = {}
"""Scenarios whose truth the probe cannot meet yet, with the reason (strict xfail)."""


def _cli(lab: Lab, argv: list[str], *, user: list[str] | None = None) -> tuple[int, Any, str]:
    # env before setpriv: the interpreter is exec'd by setpriv itself, as the new user.
    cmd = ["env", f"PYTHONPATH={SRC}", *(user or []), sys.executable, "-m", "mtuscope", *argv]
    done = lab.exec("client", cmd, check=False, timeout=90)
    doc = json.loads(done.stdout) if done.stdout.strip() else None
    return done.returncode, doc, done.stderr


def _port(truth: Scenario) -> int:
    return truth.server_tcp_port or PORT


def _run_all(lab: Lab) -> dict[tuple[int, str], dict[str, Any]]:
    truth = lab.truth
    runs: dict[tuple[int, str], dict[str, Any]] = {}
    for family in (4, 6):
        addr = str(lab.address("server", family))
        kinds = ["tcp"]
        if ProbeKind.ECHO in truth.server_answers:
            kinds.insert(0, "echo")
        for kind in kinds:
            lab.flush_pmtu_cache()
            argv = ["probe", addr, "--json"]
            server = None
            if kind == "tcp":
                server = lab.popen(
                    "server",
                    server_argv(addr, _port(truth), nbytes=65536, timeout=30),
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert server.stdout is not None
                assert "listening" in server.stdout.readline()
                argv += ["--port", str(_port(truth))]
            started = time.monotonic()
            try:
                code, doc, err = _cli(lab, argv)
            finally:
                if server is not None:
                    server.kill()
                    server.communicate(timeout=10)
            runs[family, kind] = {
                "code": code,
                "doc": doc,
                "stderr": err,
                "wall": time.monotonic() - started,
            }
    return runs


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario_runs(request: pytest.FixtureRequest) -> Iterator[tuple[Scenario, dict[Any, Any]]]:
    """One lab per scenario; every probe run of the module happens here, once."""
    why = why_not()
    if why is not None:
        pytest.skip(why)
    name: str = request.param
    with Lab.up(name) as lab:
        runs = _run_all(lab)
    yield lab.truth, runs


def _cases() -> list[Any]:
    out = []
    for family in (4, 6):
        for kind in ("echo", "tcp"):
            out.append(pytest.param(family, kind, id=f"v{family}-{kind}"))
    return out


@pytest.mark.parametrize(("family", "kind"), _cases())
def test_probe_report_matches_the_scenario_truth(
    scenario_runs: tuple[Scenario, dict[Any, Any]], family: int, kind: str
) -> None:
    truth, runs = scenario_runs
    if truth.name in XFAIL:
        pytest.xfail(XFAIL[truth.name])  # pragma: no cover - the list is empty today
    if (family, kind) not in runs:
        assert kind == "echo" and ProbeKind.ECHO not in truth.server_answers
        pytest.skip(f"{truth.name}: the server answers no ICMP echo; its tcp case probes it")
    run = runs[family, kind]
    doc = run["doc"]
    assert doc is not None, run["stderr"]
    validate_report(doc)
    fwd = truth.forward
    assert doc["kind"] == "path" and doc["family"] == family
    assert doc["transport"] == "raw" and doc["probe_kind"] == (
        "echo" if kind == "echo" else "tcp-syn"
    )
    assert doc["pmtu"] == fwd.pmtu(family), doc

    kinds = [f["kind"] for f in doc["findings"]]
    silent = fwd.drop_link is not None and not fwd.too_big_sent
    drop = doc["mtu_drop"]
    if fwd.drop_link is None:
        assert drop is None
        assert "mtu-drop" not in kinds
    else:
        # The drop lies after the router at the link's near end: its hop and its address
        # (the one it sends ICMP errors from: the link back towards the client).
        link = truth.link(fwd.drop_link)
        path = truth.path()
        near = min(link.ends(), key=path.index)
        assert drop is not None, doc
        assert drop["after_hop"] == path.index(near)
        assert drop["at_hop"] == path.index(near) + 1
        assert drop["address"] == str(truth.too_big_source(near, family))
        assert drop["to_mtu"] == fwd.pmtu(family)
        assert drop["silent"] is silent
        # Every earlier drop has its own mtu-drop finding, at its own hop.
        drops = sorted(
            (f["facts"]["hop"], f["facts"]["to_mtu"])
            for f in doc["findings"]
            if f["kind"] == "mtu-drop"
        )
        expected = sorted(
            (path.index(min(truth.link(d.link).ends(), key=path.index)) + 1, d.mtu)
            for d in fwd.earlier_drops
        ) + [(path.index(near) + 1, fwd.pmtu(family))]
        assert drops == sorted(expected)

    if silent:
        assert "pmtud-blackhole" in kinds and doc["stop_reason"] == "blackhole"
        assert run["code"] == 1
        # The goal: a black hole found to the byte and located to the link (the search
        # and the hop trace) in < 2 s and < 40 probes, timeouts adapted to the lab's RTT.
        assert doc["probes"]["seconds"] < 2.0 and doc["probes"]["sent"] < 40, doc["probes"]
    else:
        assert "pmtud-blackhole" not in kinds and doc["stop_reason"] == "converged"
        # A path whose routers send too-big messages (or none needed): under a second.
        assert doc["probes"]["seconds"] < 1.0, doc["probes"]
    if fwd.too_big_mtu is not None:
        assert "pmtud-failure" in kinds
    else:
        assert "pmtud-failure" not in kinds

    mss = doc["mss"]
    if kind == "tcp":
        assert doc["target"]["port"] == _port(truth)
        want = truth.clamp.mss if truth.clamp is not None else truth.server_mss(family)
        assert mss["server_announced"] == want, mss
        assert mss["effective"] is not None and mss["effective"] <= want
        assert mss["combined"] == min(mss["server_announced"], mss["effective"])
        if mss["effective"] + (40 if family == 4 else 60) > fwd.pmtu(family):
            assert "oversized-mss" in kinds
    else:
        shown = {k: mss[k] for k in ("server_announced", "effective", "combined")}
        assert shown == {"server_announced": None, "effective": None, "combined": None}
        assert mss["owner"] is None and mss["compared"] is None
    errors = [f["kind"] for f in doc["findings"] if f["severity"] == "error"]
    if silent or "oversized-mss" in errors:
        assert run["code"] == 1
    else:
        assert run["code"] == 0, run["stderr"]


@pytest.fixture(scope="module")
def drop_lab() -> Iterator[Lab]:
    why = why_not()
    if why is not None:
        pytest.skip(why)
    with Lab.up("mtu-drop") as lab:
        yield lab


@pytest.mark.parametrize("family", [4, 6])
def test_unprivileged_udp_mode_finds_the_path_mtu_and_says_what_it_could_not_do(
    drop_lab: Lab, family: int
) -> None:
    drop_lab.flush_pmtu_cache()
    addr = str(drop_lab.address("server", family))
    code, doc, err = _cli(drop_lab, ["probe", addr, "--json", "--unprivileged"])
    assert doc is not None, err
    validate_report(doc)
    assert doc["transport"] == "udp" and doc["probe_kind"] == "udp"
    assert doc["pmtu"] == drop_lab.truth.forward.pmtu(family)
    assert doc["mtu_drop"]["to_mtu"] == 1400 and doc["mtu_drop"]["after_hop"] == 1
    assert any("raw sockets" in w for w in doc["warnings"])
    assert "warning:" in err and code == 0


def test_as_nobody_the_cli_falls_back_to_udp_with_a_warning(drop_lab: Lab) -> None:
    user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    check = drop_lab.exec("client", [*user, sys.executable, "-c", "import rich"], check=False)
    if check.returncode != 0:
        pytest.skip(
            f"the interpreter {sys.executable} is not usable by nobody: {check.stderr.strip()}"
        )
    drop_lab.flush_pmtu_cache()
    addr = str(drop_lab.address("server", 4))
    code, doc, err = _cli(drop_lab, ["probe", addr, "--json"], user=user)
    assert doc is not None, err
    assert doc["transport"] == "udp" and doc["pmtu"] == 1400
    assert any("no root or CAP_NET_RAW" in w for w in doc["warnings"])
    code, doc, err = _cli(drop_lab, ["probe", addr, "--json", "--raw"], user=user)
    assert code == 3 and doc is None and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("family", [4, 6])
def test_trace_and_sweep_in_the_lab(drop_lab: Lab, family: int) -> None:
    addr = str(drop_lab.address("server", family))
    drop_lab.flush_pmtu_cache()
    code, doc, err = _cli(drop_lab, ["trace", addr, "--json"])
    assert doc is not None, err
    validate_report(doc)
    assert doc["pmtu"] == 1400 and [h["mtu"] for h in doc["hops"]] == [1500, 1400, 1400]
    assert doc["mtu_drop"]["after_hop"] == 1 and code == 0
    drop_lab.flush_pmtu_cache()
    code, doc, err = _cli(drop_lab, ["sweep", addr, "--from", "1398", "--to", "1402", "--json"])
    assert doc is not None, err
    validate_report(doc)
    rows = {r["size"]: r for r in doc["sweep"]}
    assert [rows[s]["reached"] for s in range(1398, 1403)] == [1, 1, 1, 0, 0]
    assert rows[1401]["too_big"] == 1 and rows[1401]["mtus"] == [1400]
    assert doc["pmtu"] == 1400 and code == 0
