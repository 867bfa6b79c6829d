"""jobs/tcp_end.py: the TCP proxy check runs only where it can, and is bounded."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import pytest

import mtuscope.jobs.tcp_end as job
from mtuscope.active.end_check import EndCheck
from mtuscope.active.engine import Limits
from mtuscope.active.probe import Probe, ProbeKind, ProbeOutcome, ProbeRecord, Reply, ReplyKind
from mtuscope.jobs.path import PathTransport

DST = IPv4Address("203.0.113.2")


def _synack(ttl: int) -> ProbeRecord:
    probe = Probe(id=5, family=4, dst=DST, size=60, ttl=ttl, kind=ProbeKind.TCP_SYN, dport=8443)
    reply = Reply(probe_id=5, kind=ReplyKind.TCP_RESPONSE, from_addr=DST, ttl=63)
    return ProbeRecord(
        probe=probe, sent_at=0.0, reply=reply, replied_at=0.001, outcome=ProbeOutcome.REACHED
    )


class FakeRun:
    def __init__(self, mode: PathTransport, kind: ProbeKind) -> None:
        self.mode, self.kind, self.dst, self.dport = mode, kind, DST, 8443
        self.budget_left = 50
        self.driven: list[Any] = []

    def limits(self, budget: int) -> Limits:
        return Limits(timeout=1.0, budget=budget)

    def run(self, engine: EndCheck, what: str) -> Any:
        self.driven.append(engine)
        return None


@pytest.mark.parametrize(
    ("mode", "kind"),
    [(PathTransport.UDP, ProbeKind.UDP), (PathTransport.RAW, ProbeKind.ECHO)],
)
def test_nothing_is_sent_without_raw_tcp_probes(mode: PathTransport, kind: ProbeKind) -> None:
    run = FakeRun(mode, kind)
    assert job.check_tcp_end(run, (_synack(2),)) is None  # type: ignore[arg-type]
    assert run.driven == []


def test_two_echoes_once_each_after_the_syn_ack() -> None:
    run = FakeRun(PathTransport.RAW, ProbeKind.TCP_SYN)
    assert job.check_tcp_end(run, (_synack(2),), first_id=40) is None  # type: ignore[arg-type]
    (engine,) = run.driven
    assert engine.ttl == 2 and engine.limits.budget == 2 and engine.limits.attempts == 1
    assert [p.ttl for p in engine.probes_due(0.0)] == [2, 255]
    assert job.check_tcp_end(run, ()) is None and len(run.driven) == 1  # type: ignore[arg-type]
