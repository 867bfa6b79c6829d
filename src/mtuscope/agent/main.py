"""Running the agent: logging, signals, the spool and the client, then `Agent.run`.

Layer: agent/. `run_agent` is what `mtuscope agent` calls. SIGINT and SIGTERM
stop it cleanly: the rounds in progress finish, one last send is tried, and
whatever the server has not acknowledged stays in the spool for the next start.
The token is handed to the client and nowhere else: it is never printed or logged.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from mtuscope.agent.client import AgentClient
from mtuscope.agent.runner import Agent
from mtuscope.agent.spool import Spool
from mtuscope.errors import UsageError

TOKEN_ENV = "MTUSCOPE_AGENT_TOKEN"


def run_agent(
    server: str,
    token: str,
    *,
    name: str | None,
    spool_path: str,
    pull_seconds: float | None = None,
    workers: int = 32,
    capture: bool = True,
    max_seconds: float | None = None,
) -> int:
    """Run until stopped (or `max_seconds`); the exit code (0).

    Raises:
        UsageError: a bad server URL, spool or option.
        Refused: the server refused the token.
    """
    if not server.startswith(("http://", "https://")):
        raise UsageError(f"--server {server!r}: want an http:// or https:// URL")
    if not token:
        raise UsageError(f"no agent token: give --token or set {TOKEN_ENV}")
    if max_seconds is not None and not max_seconds > 0:
        raise UsageError("--max-seconds: want more than 0")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s mtuscope-agent %(message)s", stream=sys.stderr
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too many
    spool = Spool(spool_path)
    client = AgentClient(server, token)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("mtuscope.agent").info("signal %d: stopping", signum)
        stop.set()

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        agent = Agent(
            client,
            spool,
            name=name,
            pull_seconds=pull_seconds,
            workers=workers,
            capture=capture,
        )
        print(
            f"mtuscope agent: {server} (spool {spool_path}, {len(spool)} result(s) waiting)",
            file=sys.stderr,
        )
        agent.run(stop, max_seconds=max_seconds)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        client.close()
        spool.close()
    return 0
