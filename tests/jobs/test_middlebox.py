"""jobs/middlebox.py: options checked once, the walk driven and diagnosed, a cut-short walk kept."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address
from typing import Any

import pytest

import mtuscope.jobs.middlebox as job
from mtuscope.active.middlebox import MiddleboxTrace
from mtuscope.active.middlebox_result import MiddleboxStop
from mtuscope.active.probe import Reply, ReplyKind
from mtuscope.active.transport import Drive, DriveStop
from mtuscope.errors import UsageError
from mtuscope.jobs.middlebox import MiddleboxOptions, MiddleboxReport
from mtuscope.report.serialize import to_dict

DST = IPv4Address("203.0.113.2")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"port": 0}, "--port: port 0 is outside 1..65535"),
        ({"port": 70000}, "outside 1..65535"),
        ({"family": 5}, "IP family must be 4 or 6"),
        ({"max_ttl": 256}, "--max-ttl 256"),
        ({"timeout": 0.0}, "--timeout 0.0"),
        ({"timeout": 11.0}, "at most 10 seconds"),
        ({"platform": "nope"}, "unknown platform"),
    ],
)
def test_bad_options_are_usage_errors(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        MiddleboxOptions(**{"host": "203.0.113.2", "port": 443, **fields})


def test_a_platform_alias_is_stored_canonical() -> None:
    assert MiddleboxOptions(host="h", port=1, platform="cisco").platform == "cisco-ios"


class FakeTransport:
    def __init__(self, family: int, *, src: str | None, iface: str | None) -> None:
        self.family, self.src, self.iface = family, src, iface

    def __enter__(self) -> FakeTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@contextmanager
def faked(monkeypatch: pytest.MonkeyPatch, answer: Any) -> Iterator[list[dict[str, Any]]]:
    """Replace the raw transport and the driver; `answer(engine)` plays the network."""
    calls: list[dict[str, Any]] = []

    def fake_drive(engine: MiddleboxTrace, transport: FakeTransport, **kw: Any) -> Drive[Any]:
        calls.append({"engine": engine, "transport": transport, **kw})
        return answer(engine)  # type: ignore[no-any-return]

    monkeypatch.setattr(job, "RawTransport", FakeTransport)
    monkeypatch.setattr(job, "drive", fake_drive)
    yield calls


def _reach(engine: MiddleboxTrace) -> Drive[Any]:
    """Every SYN is answered by the destination itself (TTL 1 already)."""
    (probe, *_rest) = engine.probes_due(0.0)
    reply = Reply(probe_id=probe.id, kind=ReplyKind.TCP_RESPONSE, from_addr=DST, ttl=64)
    engine.on_reply(reply, 0.01)
    for later in _rest:
        engine.on_reply(Reply(probe_id=later.id, kind=ReplyKind.TCP_RESPONSE, from_addr=DST), 0.01)
    assert engine.finished
    return Drive(
        result=engine.result(),
        stop=DriveStop.FINISHED,
        sent=1,
        replies=1,
        seconds=0.01,
        ended_at=0.01,
    )


def _cut(engine: MiddleboxTrace) -> Drive[Any]:
    """The first TTLs go out, then the wall clock runs out before any answer."""
    engine.probes_due(0.0)
    return Drive(
        result=None, stop=DriveStop.WALL_CLOCK, sent=8, replies=0, seconds=9.0, ended_at=9.0
    )


def test_the_walk_is_driven_within_its_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = MiddleboxOptions(
        host="203.0.113.2", port=8443, max_ttl=4, src="127.0.0.1", proxy_check=False
    )
    with faked(monkeypatch, _reach) as calls:
        report = job.middlebox(opts)
    (call,) = calls
    assert call["transport"].src == IPv4Address("127.0.0.1") and call["transport"].family == 4
    # (max_ttl + 1) TTLs, 2 attempts each, 0.5 s each, plus slack; budget 4 per TTL + 4, + 2.
    assert call["max_seconds"] == 5 * 2 * 0.5 + 5.0 and call["max_probes"] == 4 * 4 + 4 + 2
    assert "rate" not in call and "burst" not in call
    assert isinstance(report, MiddleboxReport) and report.kind == "middlebox"
    assert report.walk.dst == DST and report.walk.stop_reason is MiddleboxStop.REACHED
    assert report.inputs == ("203.0.113.2 port 8443",) and report.warnings == ()
    assert report.target == "203.0.113.2"
    doc = to_dict(report)
    assert doc["target"] == {"address": "203.0.113.2", "port": 8443}
    assert doc["stop_reason"] == "reached" and doc["destination"]["ttl"] == 1


def test_a_walk_cut_short_is_a_result_with_its_reason_and_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with faked(monkeypatch, _cut):
        report = job.middlebox(MiddleboxOptions(host="203.0.113.2", port=443, max_ttl=4))
    assert report.walk.stop_reason is MiddleboxStop.TIME_LIMIT
    assert report.walk.response is None and len(report.walk.probes) == 4
    (warning,) = report.warnings
    assert "stopped early (wall-clock)" in warning
    assert to_dict(report)["stop_reason"] == "time-limit"


@pytest.mark.parametrize(
    ("src", "words"),
    [
        # 203.0.113.77 is nobody's address here: SYNs from it would be spoofed.
        ("203.0.113.77", "--src 203.0.113.77: not an address of this host"),
        ("::1", "--src ::1: not an IPv4 address like the destination"),
        ("bogus", "--src 'bogus': not an IP address"),
    ],
)
def test_src_must_be_an_address_of_this_host(
    monkeypatch: pytest.MonkeyPatch, src: str, words: str
) -> None:
    with faked(monkeypatch, _reach) as calls, pytest.raises(UsageError, match=words):
        job.middlebox(MiddleboxOptions(host="203.0.113.2", port=443, src=src))
    assert calls == []  # nothing was sent
