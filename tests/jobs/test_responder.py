"""jobs/responder.py: the service's options checked once, one run served on loopback."""

from __future__ import annotations

import sys
import threading
from ipaddress import IPv4Address
from typing import Any

import pytest

from mtuscope.active.transport.responder_client import check_responder
from mtuscope.errors import UsageError
from mtuscope.jobs.responder import (
    DEFAULT_PORT,
    ResponderLimits,
    ResponderOptions,
    serve_responder,
)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"bind": "localhost"}, "--bind 'localhost': not an IP address"),
        ({"port": 70000}, "--port 70000"),
        ({"max_connections": 0}, "--max-connections 0"),
    ],
)
def test_bad_options_are_usage_errors(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        ResponderOptions(**{"bind": "127.0.0.1", **fields})


def test_the_defaults() -> None:
    opts = ResponderOptions(bind="127.0.0.1")
    assert opts.port == DEFAULT_PORT and opts.limits == ResponderLimits()
    assert opts.limits.max_clients == 8 and opts.max_connections is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_SAVED_SYN is Linux-only")
def test_one_connection_is_served_then_the_run_ends() -> None:
    lines: list[str] = []
    listening = threading.Event()
    runs: list[Any] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("listening on"):
            listening.set()

    limits = ResponderLimits(reverse=False)
    opts = ResponderOptions(bind="127.0.0.1", port=0, limits=limits, max_connections=1)
    thread = threading.Thread(
        target=lambda: runs.append(serve_responder(opts, stop=threading.Event(), log=log))
    )
    thread.start()
    try:
        assert listening.wait(10)
        port = int(lines[0].rsplit(" ", 1)[1])
        obs = check_responder("127.0.0.1", port, capture=False)
    finally:
        thread.join(15)
    (run,) = runs
    assert (run.address, run.port, run.connections) == (IPv4Address("127.0.0.1"), port, 1)
    assert obs.seen.dst.port == port and len(lines) == 2 and lines[1].endswith(": ok")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_SAVED_SYN is Linux-only")
def test_stop_ends_the_run() -> None:
    stop = threading.Event()
    stop.set()
    lines: list[str] = []
    run = serve_responder(ResponderOptions(bind="127.0.0.1", port=0), stop=stop, log=lines.append)
    assert run.connections == 0 and run.port > 0
    assert lines == [f"listening on 127.0.0.1 port {run.port}"]
