"""A real PostgreSQL for tests: Debian's server, in a temporary cluster, as its own user.

`temporary_cluster()` runs `initdb` as the `postgres` user into a fresh
directory, starts the server on a free loopback port with `pg_ctl`, creates a
database, yields its URL, and stops and removes the cluster afterwards (also when
the test fails). It needs root (to run as `postgres`) and the Debian package; the
reason it cannot run is `why_not()`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")


def _bindir() -> Path | None:
    versions = sorted(PG_ROOT.glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def why_not() -> str | None:
    """Why no temporary cluster can start here, or None."""
    if not sys.platform.startswith("linux"):
        return "PostgreSQL tests run on Linux"
    if os.geteuid() != 0:
        return "PostgreSQL tests need root (the server runs as the postgres user)"
    if _bindir() is None:
        return "Debian's postgresql package is not installed (make test installs it)"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user (the postgresql package creates it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_postgres(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    cmd = ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", *argv]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, **kw)  # type: ignore[call-overload, no-any-return]


@contextmanager
def temporary_cluster() -> Iterator[str]:
    """A running PostgreSQL with an empty database; yields `postgresql://...` for it."""
    bindir = _bindir()
    assert bindir is not None, why_not()
    top = Path(tempfile.mkdtemp(prefix="mtuscope-pg-"))
    shutil.chown(top, "postgres", "postgres")
    data = top / "data"
    port = _free_port()
    started = False
    try:
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"])
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(top / "log"),
                "-w",
                "-o",
                f"-p {port} -k {top} -c listen_addresses=127.0.0.1 -c fsync=off",
                "start",
            ]
        )
        started = True
        _as_postgres(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "mtuscope",
            ]
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/mtuscope"
    finally:
        if started:
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(top, ignore_errors=True)
