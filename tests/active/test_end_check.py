"""active/end_check.py: the two echoes that tell a TCP proxy's SYN/ACK from the destination's."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address, IPv6Address

import pytest

from mtuscope.active.end_check import FAR_TTL, EndCheck, TcpAnswer, tcp_answer
from mtuscope.active.engine import Limits
from mtuscope.active.probe import (
    Probe,
    ProbeKind,
    ProbeOutcome,
    ProbeRecord,
    Reply,
    ReplyKind,
    SearchStop,
)
from mtuscope.errors import UsageError

DST = IPv4Address("203.0.113.2")
PROXY_HOP = IPv4Address("198.51.100.2")


def play(engine: EndCheck, answer: dict[int, Reply | None]) -> None:
    """Answer each echo by its TTL (None: lost) on a fake clock, until the engine ends."""
    now = 0.0
    for _ in range(100):
        if engine.finished:
            return
        for probe in engine.probes_due(now):
            reply = answer.get(probe.ttl)
            if reply is not None:
                engine.on_reply(dataclasses.replace(reply, probe_id=probe.id), now + 0.001)
        deadline = engine.deadline()
        if deadline is None:
            return
        now = max(now + 0.001, deadline)
        engine.on_timeout(now)
    raise AssertionError("the check did not end")


def test_an_echo_that_expires_where_tcp_was_answered_and_the_far_reply() -> None:
    engine = EndCheck(dst=DST, ttl=2, first_id=20)
    expired = Reply(probe_id=0, kind=ReplyKind.TIME_EXCEEDED, from_addr=PROXY_HOP, ttl=63)
    reply = Reply(probe_id=0, kind=ReplyKind.ECHO_REPLY, from_addr=DST, ttl=61)
    play(engine, {2: expired, FAR_TTL: reply})
    result = engine.result()
    assert result.stop_reason is SearchStop.CONVERGED
    assert result.same_ttl is not None and result.same_ttl.kind is ReplyKind.TIME_EXCEEDED
    assert result.same_ttl.address == PROXY_HOP and result.same_ttl.probe_id == 20
    assert result.far is not None and result.far.reply_ttl == 61 and result.far.probe_ttl == 255
    assert all(r.probe.kind is ProbeKind.ECHO for r in result.probes)
    assert len(result.probes) == 2


def test_lost_echoes_are_retried_within_the_budget_then_given_up() -> None:
    engine = EndCheck(dst=DST, ttl=3, limits=Limits(timeout=0.5, budget=4))
    play(engine, {})
    result = engine.result()
    assert len(result.probes) == 4  # two echoes, two attempts each
    assert result.same_ttl is not None and result.same_ttl.kind is None
    assert result.far is not None and result.far.kind is None


def test_ipv6_and_a_destination_at_ttl_255_needs_one_echo() -> None:
    six = IPv6Address("2001:db8:0:3::2")
    engine = EndCheck(dst=six, ttl=FAR_TTL)
    play(engine, {FAR_TTL: Reply(probe_id=0, kind=ReplyKind.ECHO_REPLY, from_addr=six, ttl=60)})
    result = engine.result()
    assert len(result.probes) == 1 and result.far is None and result.same_ttl is not None


def test_bad_ttl() -> None:
    with pytest.raises(UsageError, match="TTL 0 outside"):
        EndCheck(dst=DST, ttl=0)


def _syn(pid: int, ttl: int, kind: ReplyKind, reply_ttl: int = 63) -> ProbeRecord:
    probe = Probe(id=pid, family=4, dst=DST, size=60, ttl=ttl, kind=ProbeKind.TCP_SYN, dport=443)
    reply = Reply(probe_id=pid, kind=kind, from_addr=DST, ttl=reply_ttl)
    return ProbeRecord(
        probe=probe, sent_at=0.0, reply=reply, replied_at=0.01, outcome=ProbeOutcome.REACHED
    )


def test_tcp_answer_is_the_one_at_the_smallest_ttl() -> None:
    records = (
        _syn(1, 64, ReplyKind.TCP_RESPONSE, 62),
        _syn(2, 1, ReplyKind.TIME_EXCEEDED),
        _syn(3, 2, ReplyKind.TCP_RESPONSE),
        _syn(4, 3, ReplyKind.TCP_RESPONSE),
    )
    answer = tcp_answer(records)
    assert answer == TcpAnswer(probe_id=3, probe_ttl=2, address=DST, reply_ttl=63, syn_ack=True)
    assert tcp_answer(records[1:2]) is None
