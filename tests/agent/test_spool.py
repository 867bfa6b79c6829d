"""The agent's spool: written before any send, deleted only on the server's word, bounded.

The crash tests kill a real process (SIGKILL) between its write and the
server's acknowledgement, then reopen the file: nothing lost, nothing doubled.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from mtuscope.agent.spool import Spool
from mtuscope.errors import UsageError

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _body(target: int = 1, flow: int = 0, pad: int = 0) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "target": target,
        "at": "2026-12-01T12:00:00.000Z",
        "flow": flow,
        "report": {"kind": "path", "pmtu": 1400, "pad": "x" * pad},
    }


def test_results_come_back_oldest_first_until_acknowledged(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    bodies = [_body(flow=i % 3) for i in range(7)]
    for b in bodies:
        spool.put(b)
    assert len(spool) == 7
    first = spool.oldest(3)
    assert [s.id for s in first] == [b["id"] for b in bodies[:3]]
    assert first[0].body == bodies[0] and first[1].flow == 1
    # Reading does not remove; only the server's acknowledgement does.
    assert [s.id for s in spool.oldest(3)] == [s.id for s in first]
    assert spool.ack([first[0].id, first[2].id, "not-spooled"]) == 2
    assert [s.id for s in spool.oldest(10)] == [b["id"] for b in [bodies[1], *bodies[3:]]]
    assert spool.ack([first[0].id]) == 0  # an acknowledgement repeated is harmless
    spool.close()
    again = Spool(tmp_path / "s")
    assert len(again) == 5 and again.size == sum(s.size for s in again.oldest(10))


def test_the_same_id_twice_is_one_result(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s")
    body = _body()
    spool.put(body)
    spool.put(body)
    assert len(spool) == 1 and spool.ids() == [body["id"]]


def test_beyond_its_bounds_the_oldest_go_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "s", max_results=3)
    bodies = [_body() for _ in range(5)]
    with caplog.at_level(logging.WARNING, logger="mtuscope.agent.spool"):
        for b in bodies:
            spool.put(b)
    assert spool.ids() == [b["id"] for b in bodies[2:]]
    dropped = [r.getMessage() for r in caplog.records]
    assert len(dropped) == 2 and bodies[0]["id"] in dropped[0] and bodies[1]["id"] in dropped[1]
    by_bytes = Spool(tmp_path / "b", max_bytes=2500)
    for _ in range(4):
        by_bytes.put(_body(pad=1000))
    assert len(by_bytes) == 2 and by_bytes.size <= 2500


def test_threads_putting_and_acknowledging_at_once_lose_and_double_nothing(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "s")
    made: list[str] = []
    acked: list[str] = []
    lock = threading.Lock()

    def producer() -> None:
        for _ in range(80):
            b = _body()
            spool.put(b)
            with lock:
                made.append(b["id"])

    def consumer() -> None:
        for _ in range(120):
            ids = [s.id for s in spool.oldest(20)]
            spool.ack(ids)
            with lock:
                acked.extend(ids)

    threads = [threading.Thread(target=producer) for _ in range(4)]
    threads.append(threading.Thread(target=consumer))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    left = spool.ids()
    assert sorted(set(acked) | set(left)) == sorted(made)
    assert len(spool) == len(left) == len(made) - len(set(acked))


CHILD = """
import json, os, signal, sys, uuid
from mtuscope.agent.spool import Spool
spool = Spool(sys.argv[1])
what = sys.argv[2]
if what == "write":
    # A result made and written; the process dies before anything is sent.
    rid = str(uuid.uuid4())
    spool.put({"id": rid, "target": 1, "at": "2026-12-01T12:00:00Z", "flow": 0, "report": {}})
    print(rid, flush=True)
elif what == "ack":
    # The server has answered (the ids are known), the process dies before the delete.
    print(" ".join(spool.ids()), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _child(path: Path, what: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), what],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout.strip()


def test_a_crash_between_write_and_acknowledgement_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spool"
    written = [_child(path, "write") for _ in range(2)]
    spool = Spool(path)
    assert spool.ids() == written  # every result made before the crash is there, once
    # The server's answer came but the process died before deleting: still spooled, so
    # the next send posts the same ids again, which the server calls duplicates.
    seen = _child(path, "ack").split()
    assert seen == written
    reopened = Spool(path)
    assert reopened.ids() == written and len(reopened) == 2
    assert reopened.ack(written) == 2 and reopened.ids() == []


def test_a_file_that_is_not_a_spool_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-spool"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="not a usable spool"):
        Spool(bad)
    with pytest.raises(UsageError):
        Spool(tmp_path / "x", max_results=0)
