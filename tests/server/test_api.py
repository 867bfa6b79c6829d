"""The monitoring API as the contract says, against a real server on SQLite and PostgreSQL.

`mtuscope serve` runs as its own process (uvicorn on loopback); PostgreSQL is
Debian's, in a temporary cluster started for the module (skipped, with the
reason, without root or the package). Results are `path` reports built the way
`probe --json` prints them; the events they raise are checked round by round.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server.running import Running, running_server  # noqa: E402
from store.postgres import temporary_cluster, why_not  # noqa: E402

REPORT: dict[str, Any] = {
    "tool": "mtuscope",
    "version": "0.1.0",
    "kind": "path",
    "inputs": ["203.0.113.2"],
    "findings": [],
    "warnings": [],
    "target": {"address": "203.0.113.2", "port": 8080},
    "family": 4,
    "pmtu": 1500,
    "pmtu_reverse": None,
    "hops": [],
    "mtu_drop": None,
    "mss": {"server_announced": 1460, "effective": 1448, "combined": 1448},
    "probes": {"sent": 9, "answered": 9, "seconds": 0.12},
    "stop_reason": "converged",
}
BLACKHOLE = {
    "kind": "pmtud-blackhole",
    "severity": "error",
    "summary": "packets above 1400 bytes vanish",
    "evidence": [],
    "advice": "",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running]:
    top = tmp_path_factory.mktemp(f"serve-{request.param}")
    if request.param == "sqlite":
        with running_server(f"sqlite:///{top / 'store.db'}", top / "log") as running:
            yield running
        return
    why = why_not()
    if why is not None:
        pytest.skip(why)
    with temporary_cluster() as url, running_server(url, top / "log") as running:
        yield running


def _agent(server: Running, name: str) -> dict[str, str]:
    r = httpx.post(f"{server.url}/api/v1/agents", json={"name": name}, headers=server.admin)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "name", "token"} and body["name"] == name
    return {"Authorization": f"Bearer {body['token']}"}


def _target(server: Running, agents: list[str], **kw: Any) -> int:
    body = {"host": "203.0.113.2", "port": 8080, "interval_s": 60, "agents": agents, **kw}
    r = httpx.post(f"{server.url}/api/v1/targets", json=body, headers=server.admin)
    assert r.status_code == 201, r.text
    got = r.json()
    assert {k: got[k] for k in ("host", "port", "interval_s", "agents")} == {
        "host": body["host"],
        "port": body["port"],
        "interval_s": body["interval_s"],
        "agents": agents,
    }
    target: int = got["id"]
    return target


def _report(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(REPORT)
    doc.update(changes)
    return doc


def _post(
    server: Running,
    agent: dict[str, str],
    target: int,
    reports: list[dict[str, Any]],
    *,
    minute: int,
) -> httpx.Response:
    results = [
        {
            "id": str(uuid.uuid4()),
            "target": target,
            "at": f"2026-12-01T10:{minute + i:02d}:00Z",
            "report": rep,
        }
        for i, rep in enumerate(reports)
    ]
    return httpx.post(f"{server.url}/api/v1/results", json={"results": results}, headers=agent)


def _events(server: Running, target: int) -> list[dict[str, Any]]:
    r = httpx.get(f"{server.url}/api/v1/events", headers=server.admin)
    assert r.status_code == 200
    return [e for e in r.json()["events"] if e["target"] == target]


def test_tokens_and_rights(server: Running) -> None:
    agent = _agent(server, "rights")
    target = _target(server, ["rights"])
    assert httpx.get(f"{server.url}/api/v1/targets").status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert httpx.get(f"{server.url}/api/v1/targets", headers=bad).status_code == 401
    for method, path in (
        ("GET", "/api/v1/targets"),
        ("GET", "/api/v1/events"),
        ("GET", f"/api/v1/targets/{target}/results"),
        ("POST", "/api/v1/agents"),
    ):
        r = httpx.request(method, f"{server.url}{path}", headers=agent, json={"name": "x"})
        assert r.status_code == 403, (path, r.text)
        assert "admin" in r.json()["detail"]
    assert httpx.get(f"{server.url}/api/v1/agent/schedule", headers=server.admin).status_code == 403
    schedule = httpx.get(f"{server.url}/api/v1/agent/schedule", headers=agent).json()
    assert [t["target"] for t in schedule["tests"]] == [target]
    # An agent posts only for its own targets.
    _agent(server, "rights2")
    foreign = _target(server, ["rights2"])
    r = _post(server, agent, foreign, [_report()], minute=0)
    assert r.status_code == 403 and "not a target of rights" in r.json()["detail"]
    assert "token" not in server.log.read_text().lower().replace("admin token", "")


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ({"interval_s": 5}, "interval_s: "),
        ({"port": 0}, "port: "),
        ({"port": 65536}, "port: "),
        ({"agents": ["nobody"]}, "agents: unknown agent 'nobody'"),
        ({"host": "a..b"}, "host: "),
        ({"host": "x" * 64 + ".example"}, "host: "),
        ({"host": ""}, "host: "),
        ({"kind": "tcp", "port": None}, "needs a port"),
        ({"kind": "agent", "port": None}, "needs a port"),
    ],
)
def test_bad_targets_are_422_with_one_line(
    server: Running, body: dict[str, Any], line: str
) -> None:
    full = {"host": "203.0.113.2", "port": 8080, "interval_s": 60, "agents": ["rights"], **body}
    r = httpx.post(f"{server.url}/api/v1/targets", json=full, headers=server.admin)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert line in detail and "\n" not in detail


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"port": 8080}, "tcp"),
        ({}, "icmp"),
        ({"kind": "udp"}, "udp"),
        ({"port": 53, "kind": "udp"}, "udp"),
    ],
)
def test_a_target_without_a_kind_is_tcp_with_a_port_and_icmp_without(
    server: Running, body: dict[str, Any], kind: str
) -> None:
    name = f"kinds-{uuid.uuid4().hex[:8]}"
    _agent(server, name)
    full = {"host": "203.0.113.2", "interval_s": 60, "agents": [name], **body}
    r = httpx.post(f"{server.url}/api/v1/targets", json=full, headers=server.admin)
    assert r.status_code == 201, r.text
    listed = httpx.get(f"{server.url}/api/v1/targets", headers=server.admin).json()["targets"]
    assert next(t for t in listed if t["id"] == r.json()["id"])["kind"] == kind


def test_a_body_that_is_not_json_is_422_with_where(server: Running) -> None:
    r = httpx.post(
        f"{server.url}/api/v1/agents",
        content=b'{"name": ',
        headers={**server.admin, "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("body: not valid JSON at character 9")


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"at": "yesterday"}, "results[1].at: 'yesterday' is not an ISO 8601 time"),
        ({"at": "2026-12-01T10:00:00"}, "results[1].at: '2026-12-01T10:00:00' has no time zone"),
        ({"id": "not-a-uuid"}, "results[1].id: "),
        ({"flow": 64}, "results[1].flow: "),
        ({"report": []}, "results[1].report: "),
    ],
)
def test_bad_results_are_422_naming_the_result_and_field(
    server: Running, change: dict[str, Any], line: str
) -> None:
    name = f"badres-{uuid.uuid4().hex[:8]}"
    agent = _agent(server, name)
    target = _target(server, [name])
    good = {"id": str(uuid.uuid4()), "target": target, "at": "2026-12-01T10:00:00Z"}
    results = [
        {**good, "report": _report()},
        {**good, "id": str(uuid.uuid4()), "report": _report(), **change},
    ]
    r = httpx.post(f"{server.url}/api/v1/results", json={"results": results}, headers=agent)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(line), r.text
    r = httpx.post(
        f"{server.url}/api/v1/results",
        content=b'{"results": [',
        headers={**agent, "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["detail"].startswith("body: not valid JSON at character 13")
    # Nothing of a refused batch is stored.
    got = httpx.get(f"{server.url}/api/v1/targets/{target}/results", headers=server.admin)
    assert got.json()["results"] == []


def test_results_are_stored_once_and_come_back_as_sent(server: Running) -> None:
    agent = _agent(server, "once")
    target = _target(server, ["once"])
    rid = str(uuid.uuid4())
    doc = _report(hops=[{"ttl": 1, "address": "192.0.2.254", "rtt_ms": 0.05, "mtu": 1500}])
    body = {"results": [{"id": rid, "target": target, "at": "2026-12-01T10:00:00Z", "report": doc}]}
    first = httpx.post(f"{server.url}/api/v1/results", json=body, headers=agent).json()
    again = httpx.post(f"{server.url}/api/v1/results", json=body, headers=agent).json()
    assert first == {"accepted": [rid], "duplicates": []}
    assert again == {"accepted": [], "duplicates": [rid]}
    got = httpx.get(f"{server.url}/api/v1/targets/{target}/results", headers=server.admin).json()
    assert [(r["id"], r["agent"], r["target"]) for r in got["results"]] == [(rid, "once", target)]
    assert got["results"][0]["report"] == doc
    assert got["results"][0]["at"] == "2026-12-01T10:00:00.000Z"
    bad = {
        "results": [{**body["results"][0], "id": str(uuid.uuid4()), "report": {"kind": "capture"}}]
    }
    r = httpx.post(f"{server.url}/api/v1/results", json=bad, headers=agent)
    assert (
        r.status_code == 422
        and r.json()["detail"] == "results[0].report.kind: 'capture', want 'path'"
    )


def test_a_changed_pmtu_is_one_event_after_three_of_four_rounds(server: Running) -> None:
    agent = _agent(server, "change")
    target = _target(server, ["change"])
    rounds = [1500, 1500, 1500, 1400, 1400]
    assert (
        _post(server, agent, target, [_report(pmtu=p) for p in rounds], minute=0).status_code == 200
    )
    assert _events(server, target) == []
    assert _post(server, agent, target, [_report(pmtu=1400)], minute=10).status_code == 200
    events = _events(server, target)
    assert [(e["kind"], e["before"], e["after"], e["agent"]) for e in events] == [
        ("pmtu-changed", 1500, 1400, "change")
    ]
    latest = {
        t["id"]: t
        for t in httpx.get(f"{server.url}/api/v1/targets", headers=server.admin).json()["targets"]
    }[target]["latest"]["change"]
    assert latest["pmtu"] == 1400 and latest["mss"] == 1460 and latest["status"] == "ok"


def test_a_flapping_path_and_cut_short_searches_raise_nothing(server: Running) -> None:
    agent = _agent(server, "flap")
    target = _target(server, ["flap"])
    flap = [1500, 1400] * 5
    assert (
        _post(server, agent, target, [_report(pmtu=p) for p in flap], minute=0).status_code == 200
    )
    cut = [_report(pmtu=None, pmtu_bounds={"lo": 1280, "hi": 1500}, stop_reason="budget")] * 5
    assert _post(server, agent, target, cut, minute=20).status_code == 200
    kinds = [e["kind"] for e in _events(server, target)]
    assert "pmtu-changed" not in kinds and kinds == []


def test_findings_raised_and_cleared(server: Running) -> None:
    agent = _agent(server, "finding")
    target = _target(server, ["finding"])
    bad = _report(findings=[BLACKHOLE], stop_reason="blackhole", pmtu=1400)
    good = _report(pmtu=1400)
    assert _post(server, agent, target, [bad] * 3 + [good] * 3, minute=0).status_code == 200
    got = [(e["kind"], e["before"], e["after"]) for e in _events(server, target)]
    assert got == [
        ("finding-raised", None, "pmtud-blackhole"),
        ("finding-cleared", "pmtud-blackhole", None),
    ]


def test_metrics(server: Running) -> None:
    agent = _agent(server, "metrics")
    target = _target(server, ["metrics"], host="198.51.100.7", port=443)
    assert _post(server, agent, target, [_report(pmtu=1420)], minute=0).status_code == 200
    text = httpx.get(f"{server.url}/metrics").text
    where = 'target="198.51.100.7:443"'
    pmtu = f'mtuscope_path_mtu_bytes{{agent="metrics",direction="forward",family="4",{where}}}'
    assert f"{pmtu} 1420.0" in text
    assert f'mtuscope_mss_bytes{{agent="metrics",direction="from_target",{where}}} 1460.0' in text
    assert "mtuscope_results_ingested_total" in text
    assert 'mtuscope_agent_last_contact_seconds{agent="metrics"}' in text


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 1

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_events_reach_a_webhook_after_a_failed_try(server: Running) -> None:
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
        r = httpx.post(f"{server.url}/api/v1/webhooks", json={"url": url}, headers=server.admin)
        assert r.status_code == 201
        agent = _agent(server, "hooked")
        target = _target(server, ["hooked"])
        reports = [_report(pmtu=p) for p in (1500, 1500, 1500, 1280, 1280, 1280)]
        assert _post(server, agent, target, reports, minute=0).status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(
            e["target"] == target for e in _Hook.received
        ):
            time.sleep(0.2)
        mine = [e for e in _Hook.received if e["target"] == target]
        assert [(e["kind"], e["before"], e["after"]) for e in mine] == [
            ("pmtu-changed", 1500, 1280)
        ]
    finally:
        hook.shutdown()
        hook.server_close()
        httpx.delete(f"{server.url}/api/v1/webhooks/1", headers=server.admin)
