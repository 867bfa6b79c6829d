"""The agent's side of the HTTP API: pull the schedule, push results (httpx).

Layer: agent/. Two calls of DESIGN.md's contract and docs/monitoring.md:
`GET /api/v1/agent/schedule` and `POST /api/v1/results`. What can go wrong is
sorted into three answers the runner acts on:

- `ServerAway`: no connection, a timeout, a 5xx or a 429: try again later
  (with `Backoff`); nothing is lost, the results stay spooled.
- `Refused`: 401 or 403 for the token itself: the agent stops with one line.
- `Rejected`: the server refused one result of a batch for good (422, 413, or
  403 for a target no longer given to this agent) and said which (`index`), or
  the batch as a whole was too big (`index` None).

The token goes in the `Authorization` header only; it is never part of a
message, a log line or an exception.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import httpx

from mtuscope import __version__
from mtuscope.errors import MtuscopeError

BATCH = 500
"""Most results one POST carries."""
_INDEX = re.compile(r"^results(?:\[(\d+)\]|\.(\d+))")
"""Which result a refusal names: `results[3].report...` (ingest) or `results.3.id` (pydantic)."""


class ServerAway(MtuscopeError):
    """The server cannot be reached or is not answering now; try again later."""


class Refused(MtuscopeError):
    """The server refused this agent's token (401 or 403): the agent stops."""


class Rejected(MtuscopeError):
    """The server refused one result of the batch (`index`) or the whole batch for good."""

    def __init__(self, message: str, *, index: int | None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True, slots=True)
class Posted:
    """The server's answer to a batch: the ids it now has."""

    accepted: list[str]
    duplicates: list[str]


class Backoff:
    """Exponential backoff with full jitter: 1 s, 2 s, 4 s ... capped, each drawn uniformly."""

    def __init__(
        self, *, first: float = 1.0, cap: float = 60.0, rng: random.Random | None = None
    ) -> None:
        self.first = first
        self.cap = cap
        self._rng = rng or random.Random()
        self._failures = 0

    def reset(self) -> None:
        self._failures = 0

    def next_delay(self) -> float:
        """Seconds to wait after one more failure."""
        ceiling = min(self.cap, self.first * 2 ** min(self._failures, 30))
        self._failures += 1
        return self._rng.uniform(self.first / 2, ceiling)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    text = detail if isinstance(detail, str) else response.reason_phrase
    return " ".join(str(text).split())[:300]


def _json(response: httpx.Response, server: str) -> dict[str, Any]:
    """A 200's JSON object; anything else (a proxy's page) is a server not there yet."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ServerAway(f"{server}: HTTP 200 without a JSON object ({response.url.path})")
    return body


class AgentClient:
    """One server, one agent token."""

    def __init__(self, server: str, token: str, *, timeout: float = 10.0) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.Client(
            base_url=self.server,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {token}",
                "User-Agent": f"mtuscope-agent/{__version__}",
            },
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            if body is None:
                response = self._http.request(method, path)
            else:
                response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            # httpx's message names the URL at most, never the headers.
            raise ServerAway(f"{self.server}: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status >= 500 or status == 429:
            raise ServerAway(f"{self.server}{path}: HTTP {status}: {_detail(response)}")
        if status == 401:
            raise Refused(f"{self.server}: the agent token is not known (HTTP 401)")
        return response

    def schedule(self) -> dict[str, Any]:
        """This agent's tests and the instant tests waiting for it.

        Raises:
            ServerAway, Refused: as the module says; Refused also for any other 4xx.
        """
        response = self._call("GET", "/api/v1/agent/schedule")
        if response.status_code != 200:
            raise Refused(
                f"{self.server}: the schedule was refused (HTTP {response.status_code}): "
                f"{_detail(response)}"
            )
        body = _json(response, self.server)
        return body

    def post(self, results: list[dict[str, Any]]) -> Posted:
        """Post one batch (at most `BATCH`).

        Raises:
            ServerAway, Refused, Rejected: as the module says.
        """
        response = self._call("POST", "/api/v1/results", {"results": results})
        status = response.status_code
        if status == 200:
            body = _json(response, self.server)
            return Posted(list(body.get("accepted", [])), list(body.get("duplicates", [])))
        detail = _detail(response)
        found = _INDEX.match(detail)
        index = int(found.group(1) or found.group(2)) if found else None
        if status == 403 and index is None:
            raise Refused(f"{self.server}: results refused for this token (HTTP 403): {detail}")
        if status in (403, 413, 422):
            raise Rejected(f"HTTP {status}: {detail}", index=index)
        raise Refused(f"{self.server}: unexpected HTTP {status} to a batch: {detail}")
