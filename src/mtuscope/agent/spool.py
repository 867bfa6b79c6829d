"""The agent's spool: every result, kept on disk until the server has acknowledged it.

Layer: agent/. A SQLite file (stdlib sqlite3, WAL, synchronous FULL) with one
row per result: its id (the UUID4 the agent made when the test ended), the
target and flow, and the JSON object posted for it. A result is written here
before any attempt to send it (`put` commits before it returns) and deleted
only when the server's answer lists its id as accepted or duplicate (`ack`):
a crash between the two leaves it here, and the next send is a duplicate the
server recognises by its id, never a second row.

Bounded: at most `max_results` rows and `max_bytes` bytes of JSON; beyond,
the oldest results are dropped, each with a log line.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtuscope.errors import UsageError

log = logging.getLogger("mtuscope.agent.spool")

MAX_BYTES = 1 << 30
"""Default bound on the spooled JSON: 1 GiB."""
MAX_RESULTS = 1_000_000
"""Default bound on the spooled results."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    target INTEGER NOT NULL,
    flow INTEGER NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Spooled:
    """One result waiting for the server's acknowledgement."""

    id: str
    target: int
    flow: int
    body: dict[str, Any]
    """The object posted for it: {id, target, at, flow, report, capture?}."""
    size: int
    """Bytes of its JSON."""


class Spool:
    """The results not yet acknowledged, oldest first; safe to share between threads."""

    def __init__(
        self, path: str | Path, *, max_bytes: int = MAX_BYTES, max_results: int = MAX_RESULTS
    ) -> None:
        """Open (or create) the spool file.

        Raises:
            UsageError: bounds below 1, or a file that is not a spool.
        """
        if max_bytes < 1 or max_results < 1:
            raise UsageError("spool bounds must be at least 1")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_results = max_results
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            count, size = self._db.execute(
                "SELECT count(*), coalesce(sum(size), 0) FROM spool"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise UsageError(f"--spool {self.path}: not a usable spool ({exc})") from None
        self._count: int = count
        self._size: int = size

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __len__(self) -> int:
        return self._count

    @property
    def size(self) -> int:
        """Bytes of spooled JSON."""
        return self._size

    def put(self, body: dict[str, Any]) -> None:
        """Keep one result (committed to disk when this returns); drop the oldest beyond
        the bounds, each with a log line.

        Args:
            body: the object to post, with `id`, `target` and `flow`.
        """
        text = json.dumps(body, separators=(",", ":"))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO spool (id, target, flow, body, size) VALUES (?,?,?,?,?)",
                    (body["id"], body["target"], body.get("flow", 0), text, len(text)),
                )
                if self._db.execute("SELECT changes()").fetchone()[0]:
                    self._count += 1
                    self._size += len(text)
                self._trim()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _trim(self) -> None:
        """Drop the oldest results while over a bound (inside the caller's transaction)."""
        while self._count > self.max_results or (self._size > self.max_bytes and self._count > 1):
            row = self._db.execute(
                "SELECT seq, id, target, size FROM spool ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is None:
                break
            seq, rid, target, size = row
            self._db.execute("DELETE FROM spool WHERE seq = ?", (seq,))
            self._count -= 1
            self._size -= size
            log.warning(
                "spool full (%d results, %d bytes): dropped the oldest result %s of target %d",
                self.max_results,
                self.max_bytes,
                rid,
                target,
            )

    def oldest(self, limit: int) -> list[Spooled]:
        """Up to `limit` results, oldest first (they stay until `ack`)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, target, flow, body, size FROM spool ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [Spooled(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def ack(self, ids: Iterable[str]) -> int:
        """Forget the results the server has (accepted or duplicate); how many were here."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0
        done = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for rid in wanted:
                    row = self._db.execute(
                        "DELETE FROM spool WHERE id = ? RETURNING size", (rid,)
                    ).fetchone()
                    if row is not None:
                        done += 1
                        self._count -= 1
                        self._size -= row[0]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return done

    def ids(self) -> list[str]:
        """Every spooled id, oldest first."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM spool ORDER BY seq")]
