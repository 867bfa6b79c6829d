"""What a server is told at start: where it listens, its store, its limits.

Layer: server/. Frozen; `mtuscope serve` fills it from flags and the
environment, tests build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LISTEN = ("127.0.0.1", 8077)
"""The contract's default address."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Limits and policies of one server process."""

    upload_limit: int = 64 * 1024 * 1024
    """Largest capture upload, in bytes (413 beyond)."""
    results_per_post: int = 1000
    """Most results one POST /api/v1/results may carry (422 beyond)."""
    report_limit: int = 2 * 1024 * 1024
    """Largest report of one result, in bytes of JSON."""
    rate_per_minute: int = 6000
    """Requests per minute one token (or one client address without a token) may make."""
    confirm_rounds: int = 3
    """X of "X of Y rounds": how many of the window must agree before a change is an event."""
    window_rounds: int = 4
    """Y of "X of Y rounds"."""
    silent_intervals: int = 3
    """An agent unheard for this many intervals of its shortest test is `agent-silent`."""
    raw_retention_s: int = 7 * 86400
    """Raw results older than this are purged (their hours stay in `hourly`)."""
    hourly_retention_s: int = 400 * 86400
    """Hourly rollups older than this are purged."""
    webhook_give_up_s: int = 86400
    """A webhook delivery is retried (with backoff) for this long."""
