"""End to end: `mtuscope serve` and `mtuscope agent` in a lab's client namespace.

The `mtu-drop` lab (client - r1 - r2 - server, r1-r2 at 1400) with an HTTP
listener on the server node at 203.0.113.2:8080. The server (its SQLite file
on the host's file system) and the agent both run inside the client namespace,
the agent talking to the server on 127.0.0.1 there; the test reaches the API
from a thread that joined the namespace (`netns.NetnsHttp`). The target is
tested every 10 s with 3 flows; instant tests asked through the API make the
rounds come faster. Checked:

1. results arrive with the path MTU 1400, one per flow id, each an exact search;
2. the r1-r2 link lowered to 1300 on both routers raises `pmtu-changed`
   1400 -> 1300 (after the debounce's 3 of 4 rounds);
3. the server SIGKILLed for a few rounds and restarted: every result the agent
   made (its `spooled <id>` log lines) is stored exactly once, including those
   made while the server was down.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mtuscope.lab import Lab

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from agent.netns import NetnsHttp  # noqa: E402
from e2e.lablib import SRC, until, why_not  # noqa: E402

pytestmark = pytest.mark.raw_socket

PORT = 8080
RESPONDER = 40777
SERVER = "203.0.113.2"
SPOOLED = re.compile(r"spooled ([0-9a-f-]{36}) target (\d+) flow (\d+)")


class Served:
    """`mtuscope serve` in the client namespace, killable and restartable."""

    def __init__(self, lab: Lab, http: NetnsHttp, db: Path, log: Path) -> None:
        self.lab, self.http, self.log = lab, http, log
        self.port = 18077
        self.url = f"http://127.0.0.1:{self.port}"
        token = secrets.token_urlsafe(16)
        self.admin = {"Authorization": f"Bearer {token}"}
        self.env = {**os.environ, "PYTHONPATH": SRC, "MTUSCOPE_ADMIN_TOKEN": token}
        self.argv = [sys.executable, "-m", "mtuscope", "serve", "--db", f"sqlite:///{db}",
                     "--listen", f"127.0.0.1:{self.port}"]  # fmt: skip
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        with self.log.open("a") as out:
            proc = self.lab.popen("client", self.argv, env=self.env, stdout=out, stderr=out)

        def up() -> bool:
            assert proc.poll() is None, self.log.read_text()[-3000:]
            try:
                return self.http.get(f"{self.url}/metrics", timeout=1.0).status_code == 200
            except httpx.HTTPError:
                return False

        until("mtuscope serve answers", up, seconds=40, every=0.2)
        return proc

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.proc = self._start()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def api(self, method: str, path: str, **kw: Any) -> Any:
        call = self.http.get if method == "GET" else self.http.post
        r = call(f"{self.url}/api/v1{path}", headers=self.admin, **kw)
        assert r.status_code in (200, 201, 202), f"{method} {path}: {r.status_code} {r.text}"
        return r.json()


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@contextmanager
def lab_up(name: str) -> Iterator[Lab]:
    why = why_not()
    if why is not None:
        pytest.skip(why)
    lab = Lab.up(name)
    try:
        yield lab
    finally:
        lab.down()


def _spooled(log: Path) -> dict[str, tuple[int, int]]:
    return {m[1]: (int(m[2]), int(m[3])) for m in SPOOLED.finditer(log.read_text())}


@dataclass
class Running:
    lab: Lab
    served: Served
    agent: subprocess.Popen[bytes]
    log: Path
    target: int
    token: str

    def results(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.served.api("GET", f"/targets/{self.target}/results")[
            "results"
        ]
        return found

    def alive(self) -> None:
        assert self.agent.poll() is None, self.log.read_text()[-3000:]


@contextmanager
def running(
    lab: Lab, top: Path, *, flows: int, kind: str = "tcp", port: int = PORT
) -> Iterator[Running]:
    """A listener on the server node; serve and an agent in the client namespace, one
    target (kind `kind`, `port`, every 10 s, `flows` flows) given to the agent."""
    listener = lab.popen(
        "server",
        [sys.executable, "-m", "http.server", "--bind", SERVER, str(PORT)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # 30 s a request: under a load of 13 on 2 cores one POST took more than 10 s.
    http = NetnsHttp(lab.namespace("client"), timeout=30.0)
    served: Served | None = None
    agent: subprocess.Popen[bytes] | None = None
    try:
        served = Served(lab, http, top / "store.db", top / "serve.log")
        made = served.api("POST", "/agents", json={"name": "lab-agent"})
        target = served.api(
            "POST",
            "/targets",
            json={"host": SERVER, "port": port, "kind": kind, "interval_s": 10,
                  "flows": flows, "agents": ["lab-agent"]},
        )["id"]  # fmt: skip
        argv = [sys.executable, "-m", "mtuscope", "agent", "--server", served.url,
                "--name", "lab-agent", "--spool", str(top / "agent.spool"),
                "--pull-seconds", "1", "--max-seconds", "150"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": SRC, "MTUSCOPE_AGENT_TOKEN": made["token"]}
        log = top / "agent.log"
        with log.open("w") as out:
            agent = lab.popen("client", argv, env=env, stdout=out, stderr=out)
        yield Running(lab, served, agent, log, target, made["token"])
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait(timeout=10)
        if served is not None:
            served.stop()
        http.close()
        listener.kill()
        listener.wait(timeout=10)


def test_results_a_path_change_and_a_server_outage(tmp: Path) -> None:
    with lab_up("mtu-drop") as lab, running(lab, tmp, flows=3) as run:
        served, agent, agent_log, target = run.served, run.agent, run.log, run.target

        def rounds_at(pmtu: int, n: int) -> Callable[[], bool]:
            def check() -> bool:
                run.alive()
                served.api("POST", f"/targets/{target}/instant")
                at = [r for r in run.results() if r["report"]["pmtu"] == pmtu]
                return len(at) >= 3 * n

            return check

        # 1. Results arrive, every flow id, path MTU 1400, exact.
        until("3 rounds at 1400", rounds_at(1400, 3), seconds=40, every=1.0)
        first = run.results()
        assert {r["report"]["stop_reason"] for r in first} == {"converged"}
        assert {r["report"]["target"]["address"] for r in first} == {SERVER}
        assert {s[1] for s in _spooled(agent_log).values()} == {0, 1, 2}
        assert run.token not in agent_log.read_text()

        # 2. The provider lowers the r1-r2 link: pmtu-changed 1400 -> 1300.
        for node, peer in (("r1", "r2"), ("r2", "r1")):
            lab.exec(node, ["ip", "link", "set", "dev", lab.interface(node, peer), "mtu", "1300"])

        def changed() -> list[dict[str, Any]]:
            served.api("POST", f"/targets/{target}/instant")
            events = served.api("GET", "/events")["events"]
            return [e for e in events if e["kind"] == "pmtu-changed"]

        events = until("a pmtu-changed event", changed, seconds=40, every=1.0)
        assert {(e["before"], e["after"]) for e in events} == {(1400, 1300)}
        assert events[0]["agent"] == "lab-agent"

        # 3. The server is killed for a few rounds; nothing is lost, nothing doubled.
        before = len(_spooled(agent_log))
        served.kill()
        until(
            "two results made while the server is down",
            lambda: len(_spooled(agent_log)) >= before + 2,
            seconds=30,
        )
        time.sleep(2)
        during = set(list(_spooled(agent_log))[before:])
        served.restart()

        def all_arrived() -> bool:
            ids = [r["id"] for r in run.results()]
            return set(_spooled(agent_log)) <= set(ids)

        until("every spooled result on the server", all_arrived, seconds=40, every=1.0)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(timeout=60) == 0, agent_log.read_text()[-3000:]
        made_ids = _spooled(agent_log)
        stored = run.results()
        ids = [r["id"] for r in stored]
        assert len(ids) == len(set(ids))  # exactly once
        assert set(ids) == set(made_ids), "results the agent made vs the server's"
        assert during <= set(ids) and len(during) >= 2
        assert all(r["agent"] == "lab-agent" for r in stored)
        text = agent_log.read_text()
        assert "server away" in text and "server back" in text


def test_a_black_hole_is_captured_and_its_analysis_stored(tmp: Path) -> None:
    with lab_up("blackhole") as lab, running(lab, tmp, flows=1) as run:

        def captured() -> list[tuple[str, str, str]]:
            run.alive()
            with sqlite3.connect(tmp / "store.db") as db:
                rows: list[tuple[str, str, str]] = db.execute(
                    "SELECT id, report, capture_report FROM results"
                    " WHERE capture_report IS NOT NULL"
                ).fetchall()
            return rows

        rows = until("a result with a capture", captured, seconds=60, every=1.0)
        rid, report_text, capture_text = rows[0]
        report, capture = json.loads(report_text), json.loads(capture_text)
        assert report["stop_reason"] == "blackhole" and report["pmtu"] == 1400
        assert "pmtud-blackhole" in {f["kind"] for f in report["findings"]}
        assert capture["kind"] == "capture" and capture["tool"] == "mtuscope"
        text = run.log.read_text()
        assert re.search(rf"spooled {rid} target \d+ flow 0 \(capture\)", text), text[-3000:]
        assert "captured" in text
        # One capture per anchor, not one per round: the next rounds keep the black hole.
        run.served.api("POST", f"/targets/{run.target}/instant")
        until("two more rounds", lambda: len(run.results()) >= 4, seconds=40, every=1.0)
        assert len(captured()) == 1


def test_an_agent_to_agent_test_measures_both_directions(tmp: Path) -> None:
    with lab_up("mtu-drop") as lab:
        responder = lab.popen(
            "server",
            [sys.executable, "-m", "mtuscope", "responder", "--bind", SERVER,
             "--port", str(RESPONDER)],
            env={**os.environ, "PYTHONPATH": SRC},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with running(lab, tmp, flows=2, kind="agent", port=RESPONDER) as run:

                def both() -> list[dict[str, Any]]:
                    run.alive()
                    return [r for r in run.results() if "two_ended" in r["report"]]

                got = until("a result with the two-ended check", both, seconds=60, every=1.0)
                report = got[0]["report"]
                assert report["pmtu"] == 1400 and report["pmtu_reverse"] == 1400
                assert report["target"]["port"] == RESPONDER
                assert report["two_ended"] is not None
                until("the second flow", lambda: len(run.results()) >= 2, seconds=30, every=0.5)
                flow_of = {rid: flow for rid, (_, flow) in _spooled(run.log).items()}
                assert set(flow_of.values()) == {0, 1}
                for r in run.results():  # one two-ended check a round: with flow 0
                    assert ("two_ended" in r["report"]) == (flow_of[r["id"]] == 0)
        finally:
            responder.terminate()
            try:
                responder.wait(timeout=10)
            except subprocess.TimeoutExpired:
                responder.kill()
                responder.wait(timeout=10)
