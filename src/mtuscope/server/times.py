"""Store times (milliseconds since the epoch) as the API's ISO 8601 UTC, and back.

Layer: server/. Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mtuscope.errors import UsageError


def iso(ms: int | None) -> str | None:
    """`2026-12-01T10:00:00.123Z` for a time in milliseconds; None stays None."""
    if ms is None:
        return None
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: Any, *, what: str) -> int:
    """ISO 8601 with a zone (`2026-12-01T10:00:00Z`) as milliseconds since the epoch.

    Raises:
        UsageError: not such a string.
    """
    if not isinstance(text, str):
        raise UsageError(f"{what}: want an ISO 8601 time")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise UsageError(f"{what}: {text!r} has no time zone (add Z for UTC)")
    return int(when.timestamp() * 1000)
