"""jobs/two_ended.py: HOST:PORT checked once, the check diagnosed, folded into a path report."""

from __future__ import annotations

import io
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest
from rich.console import Console

import mtuscope.jobs.two_ended as job
from diagnose.test_responder import C4, S4, _reverse, observation, syn
from mtuscope.active.probe import SearchStop
from mtuscope.active.responder_protocol import ReverseMeasurement
from mtuscope.active.syn_view import TwoEndedObservation
from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.responder import diagnose_two_ended
from mtuscope.errors import UsageError
from mtuscope.jobs.responder import ResponderOptions
from mtuscope.jobs.responder_port import RESPONDER_PORT
from mtuscope.jobs.two_ended import (
    TwoEndedOptions,
    TwoEndedReport,
    check_two_ended,
    endpoint_text,
    with_two_ended,
)
from mtuscope.report.middlebox_json import two_ended_body, two_ended_fields
from mtuscope.report.middlebox_text import render_two_ended
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict
from mtuscope.report.text import render_text


def test_of_target_splits_host_and_port() -> None:
    opts = TwoEndedOptions.of_target("[2001:db8::2]:7000", what="--responder", family=6)
    assert (opts.host, opts.port, opts.family) == ("2001:db8::2", 7000, 6)
    opts = TwoEndedOptions.of_target("example.net:7000", what="--responder", platform="cisco")
    assert (opts.host, opts.port, opts.platform) == ("example.net", 7000, "cisco-ios")


@pytest.mark.parametrize("target", ["192.0.2.1", "2001:db8::2", "[2001:db8::2]", "example.net"])
def test_without_a_port_the_responder_port_is_taken(target: str) -> None:
    opts = TwoEndedOptions.of_target(target, what="responder-check")
    assert opts.port == RESPONDER_PORT == ResponderOptions(bind="127.0.0.1").port
    assert opts.host == target.strip("[]")


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("192.0.2.1:0", "outside 1..65535"),
        ("192.0.2.1:http", "not a number"),
        (":7000", "no host"),
    ],
)
def test_bad_targets_are_usage_errors(target: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as info:
        TwoEndedOptions.of_target(target, what="--responder")
    assert "--responder" in str(info.value)


@pytest.mark.parametrize(
    "fields", [{"family": 5}, {"timeout": 0.0}, {"platform": "nope"}, {"port": 65536}]
)
def test_bad_fields_are_usage_errors(fields: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        TwoEndedOptions(**{"host": "192.0.2.1", "port": 7000, **fields})


def _obs(**kw: Any) -> TwoEndedObservation:
    return observation(syn(C4, S4), syn(C4, S4, mss=1300, ttl=61), **kw)


def _check(
    monkeypatch: pytest.MonkeyPatch, obs: TwoEndedObservation, **fields: Any
) -> tuple[TwoEndedReport, dict[str, Any]]:
    calls: dict[str, Any] = {}

    def fake(address: Any, port: int, **kw: Any) -> TwoEndedObservation:
        calls.update(address=address, port=port, **kw)
        return obs

    monkeypatch.setattr(job, "check_responder", fake)
    report = check_two_ended(TwoEndedOptions(host=str(S4), port=7000, **fields))
    return report, calls


def test_the_check_is_resolved_run_and_diagnosed(monkeypatch: pytest.MonkeyPatch) -> None:
    report, calls = _check(monkeypatch, _obs(), timeout=2.0, reverse_pmtu=False, capture=True)
    assert calls == {
        "address": S4, "port": 7000, "reverse_pmtu": False, "timeout": 2.0, "capture": True,
    }  # fmt: skip
    assert report.kind == "middlebox" and report.inputs == ("responder 198.51.100.20:7000",)
    assert report.address == S4 and report.target == "198.51.100.20:7000"
    # 1300 (IPv4) is a clamp's, below 1380: rewritten, and undersized with its owner.
    assert [f.kind for f in report.findings] == ["mss-rewritten", "undersized-mss"]
    assert report.warnings == ()
    doc = to_dict(report)
    validate_report(doc)
    body = two_ended_body(report.observation)
    assert {k: doc[k] for k in body} == body and doc["hops"] == []


def test_what_could_not_be_seen_is_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    rev = ReverseMeasurement(transport="raw", result=None, stop="wall-clock", sent=3, seconds=1.0)
    obs = observation(None, syn(C4, S4), reverse=rev)
    report, _ = _check(monkeypatch, obs)
    assert len(report.warnings) == 2
    assert "not captured" in report.warnings[0]
    assert report.warnings[1] == "reverse path MTU search stopped early (wall-clock)"
    failed = ReverseMeasurement(
        transport="none", result=None, stop="error", sent=0, seconds=0.0, error="refused"
    )
    report, _ = _check(monkeypatch, _obs(reverse=failed))
    assert report.warnings == ("reverse path MTU not measured: refused",)


def test_an_ipv6_target_is_written_with_brackets() -> None:
    obs = _obs()
    v6 = type(obs.target)(address=IPv6Address("2001:db8::2"), port=7000)
    assert endpoint_text(v6) == "[2001:db8::2]:7000"
    assert endpoint_text(obs.target) == "198.51.100.20:7000"


@dataclass(frozen=True, slots=True, kw_only=True)
class SmallPath:
    """A stand-in for jobs/probe.py `PathReport`: the fields `with_two_ended` needs."""

    inputs: tuple[str, ...]
    findings: tuple[Finding, ...] = ()
    warnings: tuple[str, ...] = ()
    pmtu: int | None = 1400
    two_ended: TwoEndedReport | None = None


def test_with_two_ended_folds_the_check_into_the_path_report() -> None:
    mine = diagnose_two_ended(_obs())[0]
    path = SmallPath(inputs=("198.51.100.20",), findings=(mine,), warnings=("w1",))
    two = TwoEndedReport(
        inputs=("responder 198.51.100.20:7000",),
        findings=(mine,),
        warnings=("w2",),
        observation=_obs(),
    )
    both = with_two_ended(path, two)
    assert isinstance(both, SmallPath) and both.two_ended is two and both.pmtu == 1400
    assert both.inputs == ("198.51.100.20", "responder 198.51.100.20:7000")
    assert both.findings == (mine, mine) and both.warnings == ("w1", "w2")
    assert path.two_ended is None  # frozen: a new report, the old one unchanged


def test_two_ended_fields_are_what_a_path_body_gains() -> None:
    two = TwoEndedReport(inputs=("x",), observation=_obs())
    fields = two_ended_fields(two)
    # Not measured: the path keeps its own pmtu_reverse; reverse_path is null.
    assert list(fields) == ["two_ended", "reverse_path"] and fields["reverse_path"] is None
    assert fields["two_ended"] == two_ended_body(two.observation)["two_ended"]


def test_a_measured_reverse_path_brings_its_pmtu_and_path_body() -> None:
    result = _reverse(C4, stop=SearchStop.BLACKHOLE, reached=1400, silent=1401)
    rev = ReverseMeasurement(transport="raw", result=result, stop="finished", sent=2, seconds=2)
    two = TwoEndedReport(inputs=("x",), observation=_obs(reverse=rev))
    fields = two_ended_fields(two)
    assert list(fields) == ["two_ended", "pmtu_reverse", "reverse_path"]
    assert fields["pmtu_reverse"] == 1400
    assert fields["reverse_path"]["pmtu"] == 1400
    assert fields["reverse_path"]["target"]["address"] == str(C4)
    whole = two_ended_body(two.observation)
    assert whole["pmtu_reverse"] == 1400 and whole["reverse_path"] == fields["reverse_path"]


def test_render_two_ended_prints_its_block_once() -> None:
    two = TwoEndedReport(inputs=("x",), observation=_obs(peer=None))
    out = io.StringIO()
    render_two_ended(two, Console(file=out, width=80))
    text = out.getvalue()
    assert text.splitlines()[0] == "Two-ended check with 198.51.100.20 port 7000 (IPv4)"
    assert "  SYN MSS: 1460 sent, 1300 arrived" in text
    assert "sent; MSS,SACK_PERMITTED" in text and "arrived; 3 hops" in text
    stream = io.StringIO()
    render_text(two, stream)
    assert stream.getvalue().count("Two-ended check with") == 1


def test_render_two_ended_without_the_capture() -> None:
    seen = syn(C4, S4, mss=1300)
    nat = type(seen.src)(address=IPv4Address("203.0.113.7"), port=1)
    two = TwoEndedReport(
        inputs=("x",), observation=observation(None, seen, announced=1460, peer=nat)
    )
    out = io.StringIO()
    render_two_ended(two, Console(file=out, width=200))
    text = out.getvalue()
    assert "SYN MSS: 1460 sent, 1300 arrived" in text and "SYN options" not in text
    assert "translated client.address: 192.0.2.10 here, 203.0.113.7 at the responder" in text
