"""What the server asks an agent to test, and the job options each test becomes.

Layer: agent/. `ScheduledTest` is one entry of `GET /api/v1/agent/schedule`, checked
when read (a bad entry is skipped with a log line, never a crash); `options`
turns one flow of it into the same `jobs.probe.ProbeOptions` the CLI builds for
`mtuscope probe`: kind tcp = TCP SYN probes to the port, icmp = ICMP echo, udp =
UDP probes, agent = TCP SYN probes plus, with flow 0, the two-ended check
against the `mtuscope responder` at host:port (`--responder`: the SYN as it
arrived there, and the path MTU measured back toward the agent). The agent probes the
schedule's hosts and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mtuscope.errors import UsageError
from mtuscope.jobs.path import probe_kind
from mtuscope.jobs.probe import ProbeOptions
from mtuscope.jobs.two_ended import TwoEndedOptions

KIND_WORDS = {"tcp": "tcp", "icmp": "echo", "udp": "udp", "agent": "tcp"}
"""A target's kind -> the `--kind` word of `mtuscope probe` it is probed with."""
MIN_INTERVAL_S = 10
"""The contract's shortest interval; a schedule asking for less is refused."""
BUDGET = 200
"""Probes per test, as `mtuscope probe`'s default."""
MAX_SECONDS = 30.0
"""Wall-clock cap of one test."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledTest:
    """One target of the schedule."""

    target: int
    host: str
    port: int | None
    family: int | None
    kind: str
    interval_s: int
    flows: int

    @classmethod
    def of(cls, entry: Any) -> ScheduledTest:
        """A test from one schedule entry.

        Raises:
            UsageError: a missing or out-of-range field (named).
        """
        if not isinstance(entry, dict):
            raise UsageError("schedule entry: not an object")

        def field(name: str, kinds: tuple[type, ...], *, optional: bool = False) -> Any:
            value = entry.get(name)
            if value is None and optional:
                return None
            if not isinstance(value, kinds) or isinstance(value, bool):
                raise UsageError(f"schedule entry {entry.get('target')!r}: bad {name}")
            return value

        test = cls(
            target=field("target", (int,)),
            host=field("host", (str,)),
            port=field("port", (int,), optional=True),
            family=field("family", (int,), optional=True),
            kind=field("kind", (str,)),
            interval_s=field("interval_s", (int,)),
            flows=field("flows", (int,)),
        )
        if test.kind not in KIND_WORDS:
            raise UsageError(f"target {test.target}: unknown kind {test.kind!r}")
        if test.interval_s < MIN_INTERVAL_S:
            raise UsageError(f"target {test.target}: interval_s below {MIN_INTERVAL_S}")
        if not 1 <= test.flows <= 64:
            raise UsageError(f"target {test.target}: flows outside 1..64")
        test.options(0)  # host, port and family checked as the CLI checks them
        return test

    def options(self, flow: int) -> ProbeOptions:
        """The `probe` job's options for flow `flow` of this test.

        Raises:
            UsageError: what the CLI would refuse (a port outside 1..65535, ...).
        """
        responder = None
        if self.kind == "agent" and self.port is None:
            raise UsageError(f"target {self.target}: an agent test needs the responder's port")
        if self.kind == "agent" and self.port is not None and flow == 0:
            # The two-ended check is one ordinary connection (the kernel's source port, no
            # flow): once a round, with flow 0; the other flows probe one way.
            responder = TwoEndedOptions(host=self.host, port=self.port, family=self.family)
        return ProbeOptions(
            host=self.host,
            family=self.family,
            port=self.port,
            kind=probe_kind(KIND_WORDS[self.kind]),
            budget=BUDGET,
            max_seconds=MAX_SECONDS,
            flow=flow,
            responder=responder,
        )
