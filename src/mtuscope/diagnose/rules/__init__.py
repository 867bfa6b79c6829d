"""diagnose/rules: one module per finding kind, for every source, and the registry.

Layer: diagnose/. Each `<kind>.py` holds that kind's `RULE` (severity, reference,
advice wording) and its pure check functions, one per source it applies to:
`check_capture(analysis)`, `check_compare(result)`, `check_path(obs)` (and
`check_path_drop(obs, drop)` per drop of a trace), `check_middlebox(result)` (and
`check_middlebox_change(result, change)` per change along the path),
`check_two_ended(obs, direction)`. All take `platform=` for the advice snippets.

The tables below are the one registry: `RULES` from kind to rule (kinds without a
rule yet are in `PLANNED`), and per source the ordered checks the diagnosers in
diagnose/ run; the order of a table is the order of the findings in a report.
"""

import importlib
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum

from mtuscope.diagnose.findings import KINDS, Finding
from mtuscope.diagnose.rules import (
    address_translated,
    icmp_too_big,
    ip_fragmentation,
    isn_rewritten,
    lost_between_points,
    mss_floor_ignored,
    mss_rewritten,
    mtu_drop,
    offload_artifact,
    oversized_mss,
    pmtud_blackhole,
    pmtud_failure,
    segment_exceeds_mss,
    syn_options_changed_on_retransmission,
    tcp_option_changed,
    tcp_proxy,
    undersized_mss,
    undersized_pmtu,
)
from mtuscope.diagnose.rules.rule import Rule
from mtuscope.errors import UsageError


class Source(StrEnum):
    """What a check reads; each source has its own typed input: CAPTURE one capture
    (`passive.results.CaptureAnalysis`), COMPARE two capture points
    (`passive.compare.CompareResult`), PATH active probing
    (`diagnose.observations.PathObservations`), MIDDLEBOX the per-hop quote walk
    (`active.middlebox.MiddleboxResult`), TWO_ENDED client and responder
    (`active.responder_protocol.TwoEndedObservation`)."""

    CAPTURE = "capture"
    COMPARE = "compare"
    PATH = "path"
    MIDDLEBOX = "middlebox"
    TWO_ENDED = "two-ended"


_BY_KIND: dict[str, Rule] = {
    m.RULE.kind: m.RULE
    for m in (
        address_translated,
        icmp_too_big,
        ip_fragmentation,
        isn_rewritten,
        lost_between_points,
        mss_floor_ignored,
        mss_rewritten,
        mtu_drop,
        offload_artifact,
        oversized_mss,
        pmtud_blackhole,
        pmtud_failure,
        segment_exceeds_mss,
        syn_options_changed_on_retransmission,
        tcp_option_changed,
        tcp_proxy,
        undersized_mss,
        undersized_pmtu,
    )
}

RULES: dict[str, Rule] = {kind: _BY_KIND[kind] for kind in KINDS if kind in _BY_KIND}
"""Finding kind -> its rule (severity, reference, advice), in the order of `KINDS`."""

PLANNED: tuple[str, ...] = tuple(kind for kind in KINDS if kind not in RULES)
"""Kinds of DESIGN.md's vocabulary no rule produces yet."""

CaptureCheck = Callable[..., Iterator[Finding]]
"""`check_capture(analysis: CaptureAnalysis, *, platform: str | None) -> Iterator[Finding]`."""
CompareCheck = Callable[..., Iterator[Finding]]
"""`check_compare(result: CompareResult, *, platform: str | None) -> Iterator[Finding]`."""
PathCheck = Callable[..., Iterator[Finding]]
"""`check_path(obs: PathObservations, *, platform: str | None) -> Iterator[Finding]`."""
PathDropCheck = Callable[..., Iterator[Finding]]
"""`check_path_drop(obs: PathObservations, drop: MtuDrop, *, platform) -> Iterator[Finding]`."""
MiddleboxCheck = Callable[..., Iterator[Finding]]
"""`check_middlebox(result: MiddleboxResult, *, platform: str | None) -> Iterator[Finding]`."""
MiddleboxChangeCheck = Callable[..., Iterator[Finding]]
"""`check_middlebox_change(result: MiddleboxResult, change: PathChange, *, platform)`."""
TwoEndedCheck = Callable[..., Iterator[Finding]]
"""`check_two_ended(obs: TwoEndedObservation, direction: str, *, platform)`."""

CAPTURE_CHECKS: tuple[CaptureCheck, ...] = (
    pmtud_blackhole.check_capture,
    pmtud_failure.check_capture,
    oversized_mss.check_capture,
    segment_exceeds_mss.check_capture,
    mss_floor_ignored.check_capture,
    syn_options_changed_on_retransmission.check_capture,
    icmp_too_big.check_capture,
    mss_rewritten.check_capture,
    undersized_mss.check_capture,
    ip_fragmentation.check_capture,
    offload_artifact.check_capture,
)
"""The checks for one capture, most severe kinds first."""

COMPARE_CHECKS: tuple[CompareCheck, ...] = (
    mss_rewritten.check_compare,
    isn_rewritten.check_compare,
    tcp_proxy.check_compare,
    address_translated.check_compare,
    tcp_option_changed.check_compare,
    lost_between_points.check_compare,
    offload_artifact.check_compare,
    icmp_too_big.check_compare,
)
"""The checks for two capture points; within a kind, by first connection."""

PATH_DROP_CHECKS: tuple[PathDropCheck, ...] = (
    mtu_drop.check_path_drop,
    pmtud_failure.check_path_drop,
)
"""The checks run per drop of the hop trace, drop after drop, before `PATH_CHECKS`."""

PATH_CHECKS: tuple[PathCheck, ...] = (
    pmtud_blackhole.check_path,
    pmtud_failure.check_path,
    undersized_pmtu.check_path,
    oversized_mss.check_path,
    mss_rewritten.check_path,
    undersized_mss.check_path,
    pmtud_blackhole.check_path_stall,
    tcp_proxy.check_path,
)
"""The checks for a path run: black hole, failures, sizes, the MSS measurements, then a
TCP proxy answering the SYN probes."""

MIDDLEBOX_CHANGE_CHECKS: tuple[MiddleboxChangeCheck, ...] = (
    mss_rewritten.check_middlebox_change,
    isn_rewritten.check_middlebox_change,
)
"""The checks run per change along the path, in path order, before `MIDDLEBOX_CHECKS`."""

MIDDLEBOX_CHECKS: tuple[MiddleboxCheck, ...] = (
    tcp_option_changed.check_middlebox,
    tcp_proxy.check_middlebox,
)
"""The checks over the whole walk: option changes, then a TCP proxy."""

TWO_ENDED_CHECKS: tuple[TwoEndedCheck, ...] = (
    mss_rewritten.check_two_ended,
    undersized_mss.check_two_ended,
    tcp_option_changed.check_two_ended,
    isn_rewritten.check_two_ended,
    tcp_proxy.check_two_ended,
    address_translated.check_two_ended,
)
"""The checks run per direction of `passive.compare_results.DIRECTIONS`, before the
reverse path."""

SOURCE_CHECKS: Mapping[Source, tuple[Callable[..., Iterator[Finding]], ...]] = {
    Source.CAPTURE: CAPTURE_CHECKS,
    Source.COMPARE: COMPARE_CHECKS,
    Source.PATH: PATH_DROP_CHECKS + PATH_CHECKS,
    Source.MIDDLEBOX: MIDDLEBOX_CHANGE_CHECKS + MIDDLEBOX_CHECKS,
    Source.TWO_ENDED: TWO_ENDED_CHECKS,
}
"""Every check by source (for the registry's own consistency tests)."""


def kind_of(check: Callable[..., Iterator[Finding]]) -> str:
    """The kind `check` produces: that of the rule module it is defined in."""
    kind: str = importlib.import_module(check.__module__).KIND
    return kind


def sources(kind: str) -> frozenset[Source]:
    """The sources that have a check for `kind` (empty for a `PLANNED` kind)."""
    return frozenset(
        src for src, checks in SOURCE_CHECKS.items() if any(kind_of(c) == kind for c in checks)
    )


def rule(kind: str) -> Rule:
    """The rule of `kind`.

    Raises:
        UsageError: the kind is unknown, or no rule produces it yet.
    """
    found = RULES.get(kind)
    if found is None:
        planned = " (no rule yet)" if kind in PLANNED else ""
        raise UsageError(f"no advice for unknown finding kind {kind!r}{planned}")
    return found


def advise(kind: str, facts: Mapping[str, int | str | None], *, platform: str | None = None) -> str:
    """The advice of `kind` for `facts` (any may be missing), with `platform`'s lines.

    Raises:
        UsageError: unknown kind or platform.
    """
    return rule(kind).advice(facts, platform=platform)


__all__ = [
    "CAPTURE_CHECKS",
    "COMPARE_CHECKS",
    "MIDDLEBOX_CHANGE_CHECKS",
    "MIDDLEBOX_CHECKS",
    "PATH_CHECKS",
    "PATH_DROP_CHECKS",
    "PLANNED",
    "RULES",
    "Rule",
    "SOURCE_CHECKS",
    "Source",
    "TWO_ENDED_CHECKS",
    "advise",
    "kind_of",
    "rule",
    "sources",
]
