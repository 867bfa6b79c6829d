"""The responder service: the far end of the two-ended check, served until told to stop.

Layer: jobs/. Checks the options once, builds the hardening bounds, opens the
`Responder` (active/transport/responder.py, where the serving happens) and
serves until `stop` is set or enough connections were taken. Signals are the
edge's business: the CLI sets `stop` from its SIGINT/SIGTERM handler.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address

from mtuscope.active.probe import IPAddress
from mtuscope.active.transport.responder import Responder, ResponderLimits
from mtuscope.errors import UsageError
from mtuscope.jobs.responder_port import RESPONDER_PORT

__all__ = [
    "DEFAULT_PORT",
    "ResponderLimits",
    "ResponderOptions",
    "ResponderRun",
    "serve_responder",
]

DEFAULT_PORT = RESPONDER_PORT
"""The responder's TCP port unless told otherwise (`jobs.responder_port`, which
`responder-check` defaults to as well)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponderOptions:
    """Where to listen and how much to do for anyone; checked when made (UsageError)."""

    bind: str
    """The local address to listen on, numeric (never a wildcard chosen for the user)."""
    port: int = DEFAULT_PORT
    """The TCP port; 0 takes any free one (see `ResponderRun.port`)."""
    limits: ResponderLimits = ResponderLimits()
    """Deadline, per-source rate and burst, clients at once, reverse search on or off
    (checked when made: UsageError)."""
    max_connections: int | None = None
    """Stop after accepting this many connections; None: until stopped."""

    def __post_init__(self) -> None:
        try:
            ip_address(self.bind)
        except ValueError:
            raise UsageError(f"--bind {self.bind!r}: not an IP address") from None
        if not 0 <= self.port <= 65535:
            raise UsageError(f"--port {self.port}: want 0..65535")
        if self.max_connections is not None and self.max_connections < 1:
            raise UsageError(f"--max-connections {self.max_connections}: want at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponderRun:
    """How one run of the service went."""

    address: IPAddress
    """Where it listened."""
    port: int
    """The port it listened on (the real one when 0 was asked)."""
    connections: int
    """Connections accepted."""


def serve_responder(
    opts: ResponderOptions, *, stop: threading.Event, log: Callable[[str], None]
) -> ResponderRun:
    """Listen, answer connections until `stop` is set (or `max_connections`), close.

    Args:
        opts: checked options.
        stop: set it (from a signal handler or another thread) to return.
        log: called with "listening on ..." once bound, then one line per connection.

    Returns:
        Where it listened and how many connections it took.

    Raises:
        UsageError: the address is not local, or the port is taken or privileged.
        ProbeError: the kernel keeps no SYNs (TCP_SAVE_SYN, Linux 4.2+).
    """
    with Responder(opts.bind, opts.port, limits=opts.limits, log=log) as responder:
        where = responder.address
        log(f"listening on {where.address} port {where.port}")
        accepted = responder.serve(stop=stop, max_connections=opts.max_connections)
    return ResponderRun(address=where.address, port=where.port, connections=accepted)
