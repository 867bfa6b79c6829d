"""The TCP proxy check of the path jobs: two echoes after TCP SYN probes got their answer.

Layer: jobs/. Orchestration only: picks the SYN/ACK the run's TCP probes got (the
one at the smallest TTL), drives `active.end_check.EndCheck` through the run
(its budget and clock), and returns the `TcpEnd` that diagnose/rules/tcp_proxy.py
reads. `probe` and `trace` call it with their probes; `middlebox` has the same
echoes in its own walk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mtuscope.active.end_check import EndCheck, TcpEnd, tcp_answer
from mtuscope.active.probe import ProbeKind, ProbeRecord
from mtuscope.jobs.path import PathRun, PathTransport

__all__ = ["ECHOES_BUDGET", "check_tcp_end"]

ECHOES_BUDGET = 2
"""Probes the check may send: two echoes, sent once each (a lost one shows no sign: the
check then says nothing, and a destination that filters echoes costs one timeout)."""


def check_tcp_end(
    run: PathRun, records: Sequence[ProbeRecord], *, first_id: int | None = None
) -> TcpEnd | None:
    """Whoever answered the run's TCP SYN probes, checked with two ICMP echoes.

    Args:
        run: the open run (raw sockets, TCP SYN probes; otherwise nothing is sent).
        records: the run's probes so far.
        first_id: the echoes' first probe id (default: after the last of `records`).

    Returns:
        The TCP answer with the echoes' answers; None when the run did not probe with
        TCP over raw sockets, no SYN got a TCP answer, or no budget or time was left.
    """
    if run.mode is not PathTransport.RAW or run.kind is not ProbeKind.TCP_SYN:
        return None
    answer = tcp_answer(records)
    if answer is None:
        return None
    engine = EndCheck(
        dst=run.dst,
        ttl=answer.probe_ttl,
        limits=dataclasses.replace(
            run.limits(min(ECHOES_BUDGET, run.budget_left)), attempts=1, burst=ECHOES_BUDGET
        ),
        first_id=first_id or 1 + max((r.probe.id for r in records), default=0),
    )
    done = run.run(engine, "the TCP proxy check")
    return done.tcp_end(answer, run.dport) if done is not None else None
