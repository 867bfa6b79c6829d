"""Fill a running server for the dashboard's tests: agents, targets and real lab reports.

The reports are `tests/data/monitoring/path-*.json`, recorded from
`mtuscope probe --json` in lab scenarios (see tests/data/README.md); they are
posted through the agent API as the agents themselves would, with times
counting back from now so that the history's short ranges hold them.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from server.running import Running

DATA = Path(__file__).resolve().parents[1] / "data" / "monitoring"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def lab_report(name: str) -> dict[str, Any]:
    """A recorded report (`path-NAME.json`)."""
    doc: dict[str, Any] = json.loads((DATA / f"path-{name}.json").read_text())
    return doc


def admin_token(server: Running) -> str:
    return server.admin["Authorization"].removeprefix("Bearer ")


def agent(server: Running, name: str) -> dict[str, str]:
    """A new agent's auth header."""
    r = httpx.post(f"{server.url}/api/v1/agents", json={"name": name}, headers=server.admin)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def target(server: Running, agents: list[str], *, port: int = 5001) -> int:
    body = {"host": "203.0.113.2", "port": port, "interval_s": 60, "agents": agents}
    r = httpx.post(f"{server.url}/api/v1/targets", json=body, headers=server.admin)
    assert r.status_code == 201, r.text
    got: int = r.json()["id"]
    return got


def post(
    server: Running,
    who: dict[str, str],
    target_id: int,
    reports: list[dict[str, Any]],
    *,
    minutes_ago: int = 30,
) -> None:
    """Post `reports` one minute apart, the first `minutes_ago` minutes ago."""
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    results = [
        {
            "id": str(uuid.uuid4()),
            "target": target_id,
            "at": (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            "report": copy.deepcopy(rep),
        }
        for i, rep in enumerate(reports)
    ]
    r = httpx.post(f"{server.url}/api/v1/results", json={"results": results}, headers=who)
    assert r.status_code == 200, r.text
    assert len(r.json()["accepted"]) == len(results)


def form_csrf(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found.group(1)


@contextmanager
def logged_in(server: Running) -> Iterator[httpx.Client]:
    """An HTTP client with a dashboard session (logged in through the form)."""
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        page = client.get("/login")
        r = client.post(
            "/login",
            data={"token": admin_token(server), "csrf": form_csrf(page.text), "next": "/"},
        )
        assert r.status_code == 303, r.text
        yield client
