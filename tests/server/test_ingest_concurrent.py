"""Several agents posting at once: every result stored once, none lost, none doubled.

A real `mtuscope serve` (uvicorn on loopback) on SQLite and on PostgreSQL
(Debian's, a temporary cluster; skipped with the reason without root), and on
SQLite with `--workers 2` (two processes writing one file). Eight
agents post their batches from eight threads at the same moment, each batch
also re-sent from a second thread (an agent's retry racing its first try), and
a few results are shared between two batches of one agent. Every POST must
answer 200; afterwards the store holds each id exactly once, the hourly
rollups count every stored result once, and every path's state points at its
newest result. On SQLite this is the "database is locked" bug of concurrent
ingest.
"""

from __future__ import annotations

import copy
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mtuscope.store.database import engine_for  # noqa: E402
from mtuscope.store.models import Hourly, PathState, Result  # noqa: E402
from server.fill import lab_report  # noqa: E402
from server.running import Running, running_server  # noqa: E402
from store.postgres import temporary_cluster, why_not  # noqa: E402

AGENTS = 8
BATCHES = 6
PER_BATCH = 40
FLOWS = 3
REPORTS = ("clean", "mtu-drop", "blackhole", "clamp")


@pytest.fixture(params=["sqlite", "sqlite-2-workers", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Running, str]]:
    if request.param.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'store.db'}"
        extra = ("--workers", "2") if request.param.endswith("workers") else ()
        with running_server(url, tmp_path / "log", extra_args=extra) as running:
            yield running, url
        return
    why = why_not()
    if why is not None:
        pytest.skip(why)
    with temporary_cluster() as url, running_server(url, tmp_path / "log") as running:
        yield running, url


def _enroll(server: Running) -> list[tuple[dict[str, str], int]]:
    out = []
    for i in range(AGENTS):
        r = httpx.post(f"{server.url}/api/v1/agents", json={"name": f"a{i}"}, headers=server.admin)
        assert r.status_code == 201, r.text
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        body = {"host": f"203.0.113.{i + 1}", "port": 443, "interval_s": 60, "agents": [f"a{i}"]}
        r = httpx.post(f"{server.url}/api/v1/targets", json=body, headers=server.admin)
        assert r.status_code == 201, r.text
        out.append((auth, int(r.json()["id"])))
    return out


def _batches(target: int) -> list[list[dict[str, Any]]]:
    """One agent's batches: 3 flows a round, a minute a round, two results in two batches."""
    reports = [lab_report(name) for name in REPORTS]
    start = datetime.now(UTC) - timedelta(hours=3)
    results = []
    for n in range(BATCHES * PER_BATCH):
        at = start + timedelta(seconds=20 * n)
        results.append(
            {
                "id": str(uuid.uuid4()),
                "target": target,
                "at": at.isoformat().replace("+00:00", "Z"),
                "flow": n % FLOWS,
                "report": copy.deepcopy(reports[(n // 12) % len(reports)]),
            }
        )
    batches = [results[i : i + PER_BATCH] for i in range(0, len(results), PER_BATCH)]
    for a, b in zip(batches, batches[1:], strict=False):
        b.append(a[-1])  # the same result in two batches of one agent
    return batches


def test_concurrent_posts_all_stored_once(served: tuple[Running, str]) -> None:
    server, url = served
    agents = _enroll(server)
    work = [(auth, batch) for auth, target in agents for batch in _batches(target)]
    expected = {r["id"] for _auth, batch in work for r in batch}
    failures: list[str] = []
    answered: list[tuple[list[str], list[str], list[str]]] = []
    lock = threading.Lock()
    go = threading.Barrier(2 * AGENTS)

    def post(mine: list[tuple[dict[str, str], list[dict[str, Any]]]]) -> None:
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            go.wait(timeout=30)
            for auth, batch in mine:
                r = client.post("/api/v1/results", json={"results": batch}, headers=auth)
                with lock:
                    if r.status_code != 200:
                        failures.append(f"HTTP {r.status_code}: {r.text[:200]}")
                        continue
                    body = r.json()
                    answered.append(
                        ([x["id"] for x in batch], body["accepted"], body["duplicates"])
                    )

    threads = []
    for i in range(AGENTS):
        mine = work[i * BATCHES : (i + 1) * BATCHES]
        # The first thread posts the agent's batches in order, the second (its retry) backwards.
        threads.append(threading.Thread(target=post, args=(mine,)))
        threads.append(threading.Thread(target=post, args=(mine[::-1],)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert failures == [], failures[:5]
    assert len(answered) == 2 * len(work)

    accepted: list[str] = []
    for sent, acc, dup in answered:
        assert sorted({*acc, *dup}) == sorted(set(sent))
        assert not set(acc) & set(dup)
        accepted.extend(acc)
    assert len(accepted) == len(expected), "an id accepted twice, or one never accepted"
    assert set(accepted) == expected

    engine = engine_for(url)
    try:
        with engine.connect() as db:
            ids = db.scalars(select(Result.id)).all()
            assert len(ids) == len(set(ids)) == len(expected)
            assert set(ids) == expected
            rounds = db.scalar(select(func.sum(Hourly.rounds)))
            assert rounds == len(expected)
            states = db.execute(select(PathState.latest_id, PathState.last_at_ms)).all()
            assert len(states) == AGENTS * FLOWS
            newest = {rid: at for rid, at in db.execute(select(Result.id, Result.at_ms))}
            for latest, last in states:
                assert latest is not None and newest[latest] == last
            latest_at = db.execute(
                select(func.max(Result.at_ms)).group_by(
                    Result.agent_id, Result.target_id, Result.flow
                )
            ).scalars()
            assert sorted(latest_at) == sorted(last for _latest, last in states)
    finally:
        engine.dispose()
    log = server.log.read_text()
    assert "database is locked" not in log
    assert "Traceback" not in log
