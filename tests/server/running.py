"""A real `mtuscope serve` for tests: its own process, uvicorn on a loopback port.

`running_server(db_url)` starts the CLI as a subprocess with a known admin
token, waits until it answers, yields a `Running` (base URL, admin headers, the
process), and stops it afterwards, also when the test fails. `kill()` ends it
with SIGKILL, as a crash would.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SRC = str(Path(__file__).resolve().parents[2] / "src")
START_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Running:
    url: str
    admin: dict[str, str]
    proc: subprocess.Popen[str]
    argv: list[str]
    env: dict[str, str]
    log: Path
    """The server's standard error (its log)."""

    def kill(self) -> None:
        """SIGKILL, as a crash would; waits for the process to go."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Start it again on the same port and store."""
        self.proc = _start(self.argv, self.env, self.url, self.log)


def _start(argv: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen[str]:
    with log.open("a") as out:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=out, text=True)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mtuscope serve exited {proc.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{url}/metrics", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("mtuscope serve did not answer within 30 s")


@contextmanager
def running_server(
    db_url: str,
    log: Path,
    *,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> Iterator[Running]:
    """A served store at `db_url`, logging to `log`; the admin token is fixed through
    MTUSCOPE_ADMIN_TOKEN. `extra_args` go to `mtuscope serve`, `extra_env` to its
    environment."""
    port = free_port()
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "PYTHONPATH": SRC, "MTUSCOPE_ADMIN_TOKEN": token, **(extra_env or {})}
    argv = [
        sys.executable,
        "-m",
        "mtuscope",
        "serve",
        "--db",
        db_url,
        "--listen",
        f"127.0.0.1:{port}",
        *extra_args,
    ]
    url = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {token}"}
    running = Running(url, admin, _start(argv, env, url, log), argv, env, log)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.send_signal(signal.SIGTERM)
            try:
                running.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                running.proc.kill()
                running.proc.wait(timeout=10)
