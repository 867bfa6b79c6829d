"""The responder protocol: what `mtuscope responder` and its client say to each other.

Layer: active/. Sans-IO: messages as frozen dataclasses, their encoders and
decoders, the frame buffer that enforces the size limits, and the per-source
rate limiter (time comes in as `now`). No sockets, no clock, no threads:
active/transport/responder.py (server) and responder_client.py do the I/O. The
SYN views the two ends compare are in active/syn_view.py.

One exchange per TCP connection, client first:

    frame    = length (4 bytes, big-endian, of the body) + body
    body     = one JSON object, UTF-8
    request  = {"v": 1, "reverse_pmtu": bool}                       at most 1 KiB
    response = {"v": 1, "ok": true, "peer": {address, port}, "local": {address, port},
                "syn": hex of the saved SYN (IP + TCP headers as received),
                "server_mss": the MSS the server's SYN/ACK announced | null,
                "reverse": reverse path MTU measurement | null}     at most 16 KiB
             | {"v": 1, "ok": false, "error": code, "message": text}

The responder answers one request and closes. A frame whose length field is
above the limit is refused before its body is read; anything that is not a
valid request gets an error response and the connection is closed.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from mtuscope.active.engine import TokenBucket
from mtuscope.active.path_mtu import PathMtuResult
from mtuscope.active.probe import (
    IPAddress,
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
    SearchStop,
)
from mtuscope.active.syn_view import Endpoint, decode_syn
from mtuscope.errors import DecodeError, Malformed, UsageError

__all__ = [
    "ErrorCode",
    "ErrorResponse",
    "FrameBuffer",
    "LENGTH_PREFIX",
    "MAX_REQUEST",
    "MAX_RESPONSE",
    "MAX_REVERSE_PROBES",
    "MAX_SAVED_SYN",
    "Request",
    "Response",
    "ReverseMeasurement",
    "SourceLimiter",
    "VERSION",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "endpoint_summary",
    "frame",
    "reverse_summary",
]

VERSION = 1
"""Protocol version; a message of another version is refused (`ErrorCode.BAD_REQUEST`)."""
LENGTH_PREFIX = 4
MAX_REQUEST = 1024
"""Largest request body, bytes."""
MAX_RESPONSE = 16384
"""Largest response body, bytes (a saved SYN is at most 120, a reverse search ~5 KiB)."""
MAX_REVERSE_PROBES = 64
"""Most probe records a response may carry (the responder's budget is below it)."""
MAX_SAVED_SYN = 256
"""Largest saved SYN accepted: 60 bytes of IPv4 or 40 of IPv6 (plus extensions) + 60 TCP."""


class ErrorCode(StrEnum):
    """Why the responder refused a request."""

    BAD_REQUEST = "bad-request"
    """Not JSON, another protocol version, unknown fields or wrong types."""
    TOO_LARGE = "too-large"
    RATE_LIMITED = "rate-limited"
    TIMEOUT = "timeout"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    """The kernel kept no SYN (TCP_SAVED_SYN unsupported) or the measurement is disabled."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What the client asks for."""

    reverse_pmtu: bool = False
    """Measure the path MTU from the responder back toward the client, too."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReverseMeasurement:
    """The path MTU search the responder ran back toward the client."""

    transport: str
    """"raw" (ICMP echo probes, root) or "udp" (unprivileged UDP probes)."""
    result: PathMtuResult | None
    """The search; None when it did not finish (see `stop`) or could not run (`error`)."""
    stop: str
    """The driver's stop reason ("finished", "wall-clock", "probe-budget") or "error"."""
    sent: int
    seconds: float
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """The responder's answer."""

    peer: Endpoint
    """The client's address and port as the responder's accept() saw them."""
    local: Endpoint
    """The responder's own address and port of this connection."""
    saved_syn: bytes
    """The SYN as it arrived: IP and TCP headers (TCP_SAVED_SYN)."""
    server_mss: int | None
    """The MSS option of the responder's SYN/ACK (from its TCP_INFO), when known."""
    reverse: ReverseMeasurement | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorResponse:
    code: ErrorCode
    message: str


# -- framing -----------------------------------------------------------------


def frame(body: bytes) -> bytes:
    """Prefix a body with its length."""
    return len(body).to_bytes(LENGTH_PREFIX, "big") + body


class FrameBuffer:
    """Collects bytes until one whole frame is in; refuses one above `limit` at its header.

    Args:
        limit: the largest body accepted, bytes.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._want: int | None = None

    def feed(self, data: bytes) -> bytes | None:
        """Add received bytes.

        Returns:
            The body once it is complete (bytes after it are ignored: one exchange
            per connection), else None.

        Raises:
            Malformed: the announced length is above the limit (`offset` 0).
        """
        self._buf += data
        if self._want is None and len(self._buf) >= LENGTH_PREFIX:
            want = int.from_bytes(self._buf[:LENGTH_PREFIX], "big")
            if want > self.limit:
                raise Malformed(
                    f"frame of {want} bytes is above the {self.limit}-byte limit", offset=0
                )
            self._want = want
        if self._want is not None and len(self._buf) >= LENGTH_PREFIX + self._want:
            return bytes(self._buf[LENGTH_PREFIX : LENGTH_PREFIX + self._want])
        if len(self._buf) > LENGTH_PREFIX + self.limit:  # cannot happen with a sane header
            raise Malformed("frame overrun")
        return None

    def wanted(self) -> int:
        """How many more bytes the frame needs (at least 1 while incomplete)."""
        if self._want is None:
            return LENGTH_PREFIX - len(self._buf)
        return max(1, LENGTH_PREFIX + self._want - len(self._buf))


# -- JSON bodies -------------------------------------------------------------


def _load(body: bytes, limit: int) -> dict[str, Any]:
    if len(body) > limit:
        raise Malformed(f"body of {len(body)} bytes is above the {limit}-byte limit")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError too
        raise Malformed(f"not a JSON document: {exc}") from exc
    if not isinstance(doc, dict):
        raise Malformed("the body is not a JSON object")
    if doc.get("v") != VERSION or isinstance(doc.get("v"), bool):
        raise Malformed(f"protocol version {doc.get('v')!r}, this end speaks {VERSION}")
    return doc


def _dump(doc: dict[str, Any], limit: int) -> bytes:
    body = json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > limit:
        raise UsageError(f"message of {len(body)} bytes is above the {limit}-byte limit")
    return body


def encode_request(request: Request) -> bytes:
    """The request body (unframed)."""
    return _dump({"v": VERSION, "reverse_pmtu": request.reverse_pmtu}, MAX_REQUEST)


def decode_request(body: bytes) -> Request:
    """Decode a request body.

    Raises:
        Malformed: not JSON, another version, unknown keys, or wrong types.
    """
    doc = _load(body, MAX_REQUEST)
    extra = set(doc) - {"v", "reverse_pmtu"}
    if extra:
        raise Malformed(f"unknown request fields {sorted(extra)}")
    reverse = doc.get("reverse_pmtu", False)
    if not isinstance(reverse, bool):
        raise Malformed("reverse_pmtu must be true or false")
    return Request(reverse_pmtu=reverse)


def endpoint_summary(e: Endpoint) -> dict[str, Any]:
    """An endpoint as `{address, port}`, JSON-ready: the response carries it, and so does
    the two-ended report (report/middlebox_json.py)."""
    return {"address": str(e.address), "port": e.port}


def _record(r: ProbeRecord) -> list[Any]:
    reply = r.reply
    return [
        r.probe.id,
        r.probe.size,
        r.probe.ttl,
        round(r.sent_at, 6),
        r.outcome.value,
        None if reply is None else reply.kind.value,
        None if reply is None or reply.from_addr is None else str(reply.from_addr),
        None if reply is None else reply.mtu,
        None if r.replied_at is None else round(r.replied_at, 6),
    ]


def _result(p: PathMtuResult) -> dict[str, Any]:
    return {
        "dst": str(p.dst),
        "kind": p.kind.value,
        "dport": p.dport,
        "path_mtu": p.path_mtu,
        "stop_reason": p.stop_reason.value,
        "too_big_mtu": p.too_big_mtu,
        "ceiling": p.ceiling,
        "floor": p.floor,
        "started_at": round(p.started_at, 6),
        "ended_at": round(p.ended_at, 6),
        "probes": [_record(r) for r in p.probes[:MAX_REVERSE_PROBES]],
    }


def encode_response(response: Response | ErrorResponse) -> bytes:
    """The response body (unframed).

    Raises:
        UsageError: it would exceed `MAX_RESPONSE` (the responder's budget prevents that).
    """
    if isinstance(response, ErrorResponse):
        msg = response.message[:200]
        return _dump(
            {"v": VERSION, "ok": False, "error": response.code.value, "message": msg}, MAX_RESPONSE
        )
    rev = response.reverse
    doc: dict[str, Any] = {
        "v": VERSION,
        "ok": True,
        "peer": endpoint_summary(response.peer),
        "local": endpoint_summary(response.local),
        "syn": response.saved_syn.hex(),
        "server_mss": response.server_mss,
        "reverse": None
        if rev is None
        else {
            **reverse_summary(rev),
            "result": None if rev.result is None else _result(rev.result),
        },
    }
    return _dump(doc, MAX_RESPONSE)


def reverse_summary(rev: ReverseMeasurement) -> dict[str, Any]:
    """How a reverse search went, JSON-ready (the search itself aside): transport, stop,
    probes sent, seconds (to the millisecond) and error. The response carries it, and
    so does the two-ended report (report/middlebox_json.py)."""
    return {
        "transport": rev.transport,
        "stop": rev.stop,
        "sent": rev.sent,
        "seconds": round(rev.seconds, 3),
        "error": rev.error,
    }


def _get(
    doc: dict[str, Any], key: str, kind: type | tuple[type, ...], *, null: bool = False
) -> Any:
    value = doc.get(key)
    if value is None and null:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise Malformed(f"field {key!r}: {type(value).__name__} is not expected here")
    return value


def _decode_endpoint(doc: dict[str, Any], key: str) -> Endpoint:
    e = _get(doc, key, dict)
    return Endpoint(address=ip_address(_get(e, "address", str)), port=_get(e, "port", int))


def _decode_record(row: Any, dst: IPAddress, kind: ProbeKind, dport: int | None) -> ProbeRecord:
    if not isinstance(row, list) or len(row) != 9:
        raise Malformed("a probe record is a list of 9 fields")
    pid, size, ttl, sent_at, outcome, rkind, rfrom, rmtu, replied_at = row
    for v in (pid, size, ttl):
        if not isinstance(v, int) or isinstance(v, bool):
            raise Malformed("probe id, size and ttl are integers")
    for t in (sent_at, replied_at):
        if t is not None and (not isinstance(t, int | float) or isinstance(t, bool)):
            raise Malformed("probe times are numbers")
    if rmtu is not None and (not isinstance(rmtu, int) or isinstance(rmtu, bool)):
        raise Malformed("a reply MTU is an integer")
    probe = Probe(id=pid, family=dst.version, dst=dst, size=size, ttl=ttl, kind=kind, dport=dport)
    reply = None
    if rkind is not None:
        sender = None if rfrom is None else ip_address(rfrom)
        reply = Reply(probe_id=pid, kind=ReplyKind(rkind), from_addr=sender, mtu=rmtu)
    return ProbeRecord(
        probe=probe,
        sent_at=float(sent_at),
        reply=reply,
        replied_at=None if replied_at is None else float(replied_at),
        outcome=ProbeOutcome(outcome),
    )


def _decode_result(doc: dict[str, Any]) -> PathMtuResult:
    dst: IPv4Address | IPv6Address = ip_address(_get(doc, "dst", str))
    kind = ProbeKind(_get(doc, "kind", str))
    dport = _get(doc, "dport", int, null=True)
    rows = _get(doc, "probes", list)
    if len(rows) > MAX_REVERSE_PROBES:
        raise Malformed(f"{len(rows)} probe records, at most {MAX_REVERSE_PROBES}")
    return PathMtuResult(
        dst=dst,
        family=dst.version,
        kind=kind,
        dport=dport,
        path_mtu=_get(doc, "path_mtu", int, null=True),
        stop_reason=SearchStop(_get(doc, "stop_reason", str)),
        too_big_mtu=_get(doc, "too_big_mtu", int, null=True),
        ceiling=_get(doc, "ceiling", int),
        floor=_get(doc, "floor", int),
        probes=tuple(_decode_record(r, dst, kind, dport) for r in rows),
        started_at=float(_get(doc, "started_at", (int, float))),
        ended_at=float(_get(doc, "ended_at", (int, float))),
    )


def _decode_reverse(doc: dict[str, Any]) -> ReverseMeasurement:
    result = _get(doc, "result", dict, null=True)
    return ReverseMeasurement(
        transport=_get(doc, "transport", str),
        stop=_get(doc, "stop", str),
        sent=_get(doc, "sent", int),
        seconds=float(_get(doc, "seconds", (int, float))),
        error=_get(doc, "error", str, null=True),
        result=None if result is None else _decode_result(result),
    )


def decode_response(body: bytes) -> Response | ErrorResponse:
    """Decode a response body.

    Returns:
        The response, or the responder's refusal.

    Raises:
        DecodeError: not a valid response (Malformed), or a saved SYN that does not decode.
    """
    doc = _load(body, MAX_RESPONSE)
    try:
        if _get(doc, "ok", bool) is False:
            return ErrorResponse(
                code=ErrorCode(_get(doc, "error", str)), message=_get(doc, "message", str)
            )
        syn = bytes.fromhex(_get(doc, "syn", str))
        if len(syn) > MAX_SAVED_SYN:
            raise Malformed(f"saved SYN of {len(syn)} bytes")
        decode_syn(syn)  # a response whose SYN does not decode is not a response
        rev = _get(doc, "reverse", dict, null=True)
        return Response(
            peer=_decode_endpoint(doc, "peer"),
            local=_decode_endpoint(doc, "local"),
            saved_syn=syn,
            server_mss=_get(doc, "server_mss", int, null=True),
            reverse=None if rev is None else _decode_reverse(rev),
        )
    except DecodeError:
        raise
    except (UsageError, ValueError, TypeError, OverflowError) as exc:
        # Enum, address, hex and dataclass checks: the peer sent a value that cannot be.
        raise Malformed(f"invalid response: {exc}") from exc


# -- rate limit --------------------------------------------------------------


class SourceLimiter:
    """A token bucket per source address, for at most `max_sources` sources at once.

    The oldest source is forgotten when a new one would exceed `max_sources`, so
    memory stays bounded however many addresses connect (a forgotten source
    starts again with a full bucket: the bound on memory wins over precision).

    Args:
        rate: requests per second per source, sustained.
        burst: requests a source may make back to back.
        max_sources: sources remembered.

    Raises:
        UsageError: a rate, burst or size that is not positive.
    """

    def __init__(self, rate: float, burst: int, max_sources: int = 4096) -> None:
        if not rate > 0 or burst < 1 or max_sources < 1:
            raise UsageError("rate must be positive, burst and max_sources at least 1")
        self._rate = rate
        self._burst = burst
        self._max = max_sources
        self._buckets: OrderedDict[IPAddress, TokenBucket] = OrderedDict()

    def take(self, source: IPAddress, now: float) -> bool:
        """Spend one of `source`'s tokens at `now`; False when it has none left."""
        bucket = self._buckets.pop(source, None)
        if bucket is None:
            bucket = TokenBucket(self._rate, self._burst)
        self._buckets[source] = bucket
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return bucket.take(now)
