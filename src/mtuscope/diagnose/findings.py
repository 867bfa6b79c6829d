"""Findings: what mtuscope concluded, from one fixed vocabulary, with evidence.

Layer: diagnose/. Pure data; no I/O. Wording for people lives in report/;
a finding only fills in fields. No evidence, no finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mtuscope.errors import UsageError


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


KINDS: tuple[str, ...] = (
    "oversized-mss",
    "undersized-pmtu",
    "undersized-mss",
    "pmtud-failure",
    "pmtud-blackhole",
    "mtu-drop",
    "icmp-too-big",
    "segment-exceeds-mss",
    "offload-artifact",
    "mss-floor-ignored",
    "mss-rewritten",
    "isn-rewritten",
    "tcp-option-changed",
    "lost-between-points",
    "ip-fragmentation",
    "address-translated",
    "ip-header-changed",
    "tcp-proxy",
    "syn-options-changed-on-retransmission",
)
"""The stable finding identifiers of DESIGN.md (JSON `findings[].kind`). Which rule makes
each, and which have no rule yet, is the registry of `mtuscope.diagnose.rules`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """One fact behind a finding, named by where it can be checked.

    Captures name `capture` and `frame` (1-based, as Wireshark numbers it);
    probes name `hop` and/or `probe`.

    Raises:
        UsageError: a frame below 1, or no source named.
    """

    field: str
    """What was looked at, in Wireshark's field names where one exists ("tcp.options.mss")."""
    observed: int | str | None
    """What was seen."""
    expected: int | str | None = None
    """What would have been right, when there is such a value."""
    capture: str | None = None
    frame: int | None = None
    hop: int | None = None
    probe: int | None = None
    note: str | None = None
    """A few words of context ("retransmission 3 of 5")."""

    def __post_init__(self) -> None:
        if self.frame is not None and self.frame < 1:
            raise UsageError(f"frame numbers are 1-based, got {self.frame}")
        if self.capture is None and self.hop is None and self.probe is None:
            raise UsageError("evidence must name its source: capture+frame or hop/probe")


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One conclusion, with the evidence behind it and what to do about it.

    Raises:
        UsageError: an unknown kind, a summary of more than one line, or no evidence.
    """

    kind: str
    """Stable id from `KINDS`."""
    severity: Severity
    summary: str
    """One sentence, no newline."""
    evidence: tuple[Evidence, ...]
    advice: str
    """What to configure or check, concretely (values computed by calc/)."""
    reference: str = ""
    """The rule followed, e.g. "RFC 9293 §3.7.1"."""
    connection: int | None = None
    """Connection id (capture reports) the finding is about, if one."""
    facts: dict[str, int | str | None] = field(default_factory=dict)
    """Machine-readable numbers behind the summary (mtu, mss, ...)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown finding kind {self.kind!r}")
        if "\n" in self.summary:
            raise UsageError("a finding summary is one line")
        if not self.evidence:
            raise UsageError(f"finding {self.kind!r} has no evidence")
