"""The Alembic revisions build exactly the tables of `store/models.py`, on SQLite and PostgreSQL.

For each database: migrate an empty one to the head, compare what is there
with the models' metadata (Alembic's autogenerate comparison: tables, columns,
types, nullability, indexes, unique constraints, foreign keys) and expect no
difference; open it again (a no-op); go down to nothing and up again, and
compare once more. PostgreSQL is Debian's, in a temporary cluster (skipped,
saying why, without root or the package). One head only: revisions form a line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mtuscope.store.database import MIGRATIONS, engine_for, open_store  # noqa: E402
from mtuscope.store.models import Base  # noqa: E402
from store.postgres import temporary_cluster, why_not  # noqa: E402


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    why = why_not()
    if why is not None:
        pytest.skip(why)
    with temporary_cluster() as pg:
        yield pg


def _config(connection: Any) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as c:
        return list(compare_metadata(MigrationContext.configure(c), Base.metadata))


def _revision(engine: Engine) -> str | None:
    with engine.connect() as c:
        return MigrationContext.configure(c).get_current_revision()


def test_one_line_of_revisions() -> None:
    script = ScriptDirectory.from_config(_config(None))
    heads = script.get_heads()
    assert len(heads) == 1, heads
    revisions = list(script.walk_revisions())
    assert [r.revision for r in reversed(revisions)] == [
        f"{i:04d}" for i in range(1, 1 + len(revisions))
    ]


def test_migrations_build_the_models(url: str) -> None:
    store = open_store(url)
    try:
        head = ScriptDirectory.from_config(_config(None)).get_current_head()
        assert _revision(store.engine) == head
        assert _differences(store.engine) == []
        events = {i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("events")}
        assert events["ix_events_target_at"] == ["target_id", "at_ms"]
    finally:
        store.close()
    again = open_store(url)  # migrating a migrated store changes nothing
    try:
        assert _differences(again.engine) == []
    finally:
        again.close()


def test_down_and_up_again(url: str) -> None:
    open_store(url).close()
    engine = engine_for(url)
    try:
        with engine.begin() as c:
            command.downgrade(_config(c), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        with engine.begin() as c:
            command.upgrade(_config(c), "head")
        assert _differences(engine) == []
    finally:
        engine.dispose()
