"""Opening the store: the engine for a URL, its migrations, and sessions.

Layer: store/. `open_store(url)` is the one way in: it creates the engine
(SQLite: a file, WAL journal, foreign keys on; PostgreSQL: a pooled
`postgresql+psycopg` engine), runs the Alembic migrations to the newest
revision, and returns a `Store` whose `session()` the server uses per request.
Several server processes may share one PostgreSQL: Alembic takes its own lock.

Writers that must not fail under concurrency (the ingest of results) use
`writing()`: on SQLite it serialises them inside the process with a lock and
starts the transaction with `BEGIN IMMEDIATE`, so a writer takes the file's
write lock before it reads (waiting up to `busy_timeout` for another process)
instead of upgrading a read snapshot mid-way, which SQLite refuses at once
("database is locked"). On PostgreSQL it is a plain session: rows are locked
where they are read (`FOR UPDATE`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from mtuscope.errors import UsageError

DEFAULT_URL = "sqlite:///mtuscope.db"
"""The contract's default: a SQLite file in the working directory."""
MIGRATIONS = Path(__file__).with_name("migrations")


def engine_for(url: str) -> Engine:
    """An engine for a store URL (`sqlite:///PATH` or `postgresql://...`).

    Raises:
        UsageError: a URL of another database, or one SQLAlchemy cannot parse.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UsageError(f"--db {url!r}: not a database URL ({exc})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False}, pool_size=8, max_overflow=24
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_size=10, max_overflow=30, pool_pre_ping=True)
    raise UsageError(f"--db {url!r}: want sqlite:///PATH or postgresql://...")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Run every Alembic revision the database lacks (idempotent)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


class Store:
    """An open, migrated store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._writer = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session for a writer: committed on success, rolled back on error; on SQLite
        one writer of this process at a time, holding the write lock from its first read."""
        if not self.sqlite:
            with self.session() as session:
                yield session
            return
        with self._writer, self._sessions() as session, session.begin():
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


def open_store(url: str = DEFAULT_URL, *, upgrade: bool = True) -> Store:
    """Open (and, unless `upgrade` is False, migrate) the store at `url`.

    Raises:
        UsageError: a URL that names no supported database.
    """
    engine = engine_for(url)
    if upgrade:
        migrate(engine)
    return Store(engine)
