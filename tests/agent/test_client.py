"""The agent against a real `mtuscope serve` on loopback: tokens, the sender, bad results.

The server is its own process (tests/server/running.py, SQLite). The agent's
one target is the server's own port on 127.0.0.1 (loopback is the only place
probed). The spool is filled before the agent starts with what a previous run
could have left: results the server already has (a retry: duplicates), new
ones, and one the server refuses for good.
"""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from mtuscope.agent.client import AgentClient, Backoff, Refused, ServerAway
from mtuscope.agent.runner import Agent
from mtuscope.agent.schedule import ScheduledTest
from mtuscope.agent.spool import Spool
from mtuscope.errors import UsageError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server.running import Running, free_port, running_server  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
REPORT: dict[str, Any] = {
    "tool": "mtuscope",
    "version": "0.1.0",
    "kind": "path",
    "inputs": ["127.0.0.1"],
    "findings": [],
    "warnings": [],
    "target": {"address": "127.0.0.1", "port": 8080},
    "family": 4,
    "pmtu": 1500,
    "pmtu_reverse": None,
    "hops": [],
    "mtu_drop": None,
    "mss": {"server_announced": 1460, "effective": 1448, "combined": 1448},
    "probes": {"sent": 9, "answered": 9, "seconds": 0.12},
    "stop_reason": "converged",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    top = tmp_path_factory.mktemp("agent-serve")
    with running_server(f"sqlite:///{top / 'store.db'}", top / "log") as running:
        yield running


def _agent(server: Running, name: str) -> str:
    r = httpx.post(f"{server.url}/api/v1/agents", json={"name": name}, headers=server.admin)
    assert r.status_code == 201, r.text
    token: str = r.json()["token"]
    return token


def _target(server: Running, agent: str) -> int:
    port = urlsplit(server.url).port
    body = {"host": "127.0.0.1", "port": port, "interval_s": 60, "flows": 1, "agents": [agent]}
    r = httpx.post(f"{server.url}/api/v1/targets", json=body, headers=server.admin)
    assert r.status_code == 201, r.text
    target: int = r.json()["id"]
    return target


def _result(target: int, **report: Any) -> dict[str, Any]:
    doc = copy.deepcopy(REPORT)
    doc.update(report)
    return {
        "id": str(uuid.uuid4()),
        "target": target,
        "at": "2026-12-01T10:00:00.000Z",
        "flow": 0,
        "report": doc,
    }


def _stored(server: Running, target: int) -> list[str]:
    r = httpx.get(f"{server.url}/api/v1/targets/{target}/results", headers=server.admin)
    assert r.status_code == 200
    return [x["id"] for x in r.json()["results"]]


def test_an_unknown_token_stops_the_agent_with_one_line(server: Running, tmp_path: Path) -> None:
    client = AgentClient(server.url, "not-a-token")
    with pytest.raises(Refused, match="401"):
        client.schedule()
    client.close()
    done = subprocess.run(
        [sys.executable, "-m", "mtuscope", "agent", "--server", server.url,
         "--spool", str(tmp_path / "s"), "--max-seconds", "20"],
        env={**os.environ, "PYTHONPATH": SRC, "MTUSCOPE_AGENT_TOKEN": "secret-not-known"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "not known (HTTP 401)" in done.stderr and "Traceback" not in done.stderr
    assert "secret-not-known" not in done.stderr + done.stdout


def test_an_admin_token_or_another_name_is_refused(server: Running, tmp_path: Path) -> None:
    admin = AgentClient(server.url, server.admin["Authorization"].removeprefix("Bearer "))
    with pytest.raises(Refused, match="403"):
        admin.schedule()
    admin.close()
    client = AgentClient(server.url, _agent(server, "named"))
    agent = Agent(client, Spool(tmp_path / "s"), name="other", capture=False)
    with pytest.raises(Refused, match="'named'"):
        agent.run(threading.Event(), max_seconds=10)
    client.close()


def test_a_server_that_is_not_there_is_away_not_fatal() -> None:
    client = AgentClient(f"http://127.0.0.1:{free_port()}", "t", timeout=2.0)
    with pytest.raises(ServerAway):
        client.schedule()
    with pytest.raises(ServerAway):
        client.post([])
    client.close()


def test_the_spool_left_by_a_crash_is_sent_once_and_a_refused_result_dropped(
    server: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = _agent(server, "sender")
    target = _target(server, "sender")
    # Already on the server: the crash came after the post, before the spool's delete.
    known = _result(target)
    r = httpx.post(
        f"{server.url}/api/v1/results",
        json={"results": [known]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json()["accepted"] == [known["id"]]
    new = [_result(target, pmtu=1400 + i) for i in range(3)]
    bad = _result(target, kind="capture")  # not a path report: refused for good
    spool = Spool(tmp_path / "spool")
    for body in (known, new[0], bad, new[1], new[2]):
        spool.put(body)
    client = AgentClient(server.url, token)
    agent = Agent(client, spool, capture=False)
    with caplog.at_level(logging.INFO, logger="mtuscope.agent"):
        agent.run(threading.Event(), max_seconds=8)
    client.close()
    stored = _stored(server, target)
    assert len(stored) == len(set(stored))
    assert {known["id"], *(b["id"] for b in new)} <= set(stored)
    assert bad["id"] not in stored
    assert len(spool) == 0
    lines = [rec.getMessage() for rec in caplog.records]
    assert any(bad["id"] in line and "refused by the server for good" in line for line in lines)
    assert any("1 duplicate(s)" in line for line in lines)
    # The agent tested its one target (the server's own port on loopback) once meanwhile.
    assert agent.rounds >= 1
    assert len(stored) == 4 + agent.rounds


def test_backoff_grows_with_jitter_and_stays_under_its_cap() -> None:
    backoff = Backoff(first=1.0, cap=8.0)
    delays = [backoff.next_delay() for _ in range(10)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert delays[0] <= 1.0 and max(delays[4:]) > 1.0
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_a_bad_schedule_entry_is_refused_by_field() -> None:
    good = {"target": 1, "host": "192.0.2.9", "port": 80, "family": None, "kind": "tcp",
            "interval_s": 10, "flows": 3}  # fmt: skip
    test = ScheduledTest.of(good)
    assert test.options(2).flow == 2 and test.options(0).port == 80
    for change, field in (
        ({"interval_s": 5}, "interval_s"),
        ({"kind": "smtp"}, "kind"),
        ({"port": 70000}, "port"),
        ({"host": 7}, "host"),
        ({"flows": 0}, "flows"),
    ):
        with pytest.raises(UsageError, match=field):
            ScheduledTest.of({**good, **change})
    agent_test = ScheduledTest.of({**good, "kind": "agent", "port": 4433})
    opts = agent_test.options(0)
    assert opts.responder is not None and opts.responder.port == 4433
    assert agent_test.options(1).responder is None  # one two-ended check a round


def test_a_long_outage_drains_in_batches_of_at_most_500(
    server: Running, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = _agent(server, "backlog")
    target = _target(server, "backlog")
    spool = Spool(tmp_path / "spool")
    backlog = [_result(target, pmtu=1280 + i % 200) for i in range(1100)]
    for body in backlog:
        spool.put(body)
    client = AgentClient(server.url, token)
    agent = Agent(client, spool, capture=False)
    with caplog.at_level(logging.INFO, logger="mtuscope.agent"):
        agent.run(threading.Event(), max_seconds=10)
    client.close()
    stored = set(_stored(server, target))
    assert {b["id"] for b in backlog} <= stored and len(spool) == 0
    sent = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sent ")]
    counts = [int(line.split()[1]) for line in sent]
    assert max(counts) == 500 and sum(counts) == 1100 + agent.rounds


def test_a_black_hole_or_a_new_clamp_is_an_anchor_once(tmp_path: Path) -> None:
    agent = Agent(AgentClient("http://127.0.0.1:9", "t"), Spool(tmp_path / "s"), capture=False)
    test = ScheduledTest(
        target=1, host="192.0.2.9", port=80, family=None, kind="tcp", interval_s=10, flows=2
    )

    def report(*kinds: str, mss: int | None = 1460) -> dict[str, Any]:
        return {"findings": [{"kind": k} for k in kinds], "mss": {"server_announced": mss}}

    assert not agent._anchor(test, 0, report("mtu-drop"))
    assert agent._anchor(test, 0, report("mtu-drop", "pmtud-blackhole"))  # a black hole found
    assert not agent._anchor(test, 0, report("pmtud-blackhole"))  # the same one: captured
    assert agent._anchor(test, 1, report("pmtud-blackhole"))  # the other flow's first round
    assert agent._anchor(test, 0, report("pmtud-blackhole", mss=1360))  # the MSS changed
    assert not agent._anchor(test, 0, report("pmtud-blackhole", mss=None))  # not measured
    assert agent._anchor(test, 0, report("mss-rewritten", mss=1360))  # a clamp appears
    agent.client.close()
