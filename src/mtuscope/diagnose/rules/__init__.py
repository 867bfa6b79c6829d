"""diagnose/rules: one rule per finding kind, each `check(analysis, *, platform)`.

Layer: diagnose/. Rules are pure functions from a finished analysis to
`Finding`s; they do no I/O and word nothing for people beyond the one-line
summary (layout lives in report/). `CAPTURE_RULES` is the one registry table
`mtuscope.diagnose.capture.diagnose_capture` runs, in this order.
"""

from collections.abc import Callable, Iterator

from mtuscope.diagnose.findings import Finding
from mtuscope.diagnose.rules import (
    icmp_too_big,
    ip_fragmentation,
    mss_floor_ignored,
    offload_artifact,
    oversized_mss,
    pmtud_blackhole,
    pmtud_failure,
    segment_exceeds_mss,
    undersized_mss,
)

CaptureRule = Callable[..., Iterator[Finding]]
"""`check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]`."""

CAPTURE_RULES: tuple[tuple[str, CaptureRule], ...] = (
    (pmtud_blackhole.KIND, pmtud_blackhole.check),
    (pmtud_failure.KIND, pmtud_failure.check),
    (oversized_mss.KIND, oversized_mss.check),
    (segment_exceeds_mss.KIND, segment_exceeds_mss.check),
    (mss_floor_ignored.KIND, mss_floor_ignored.check),
    (icmp_too_big.KIND, icmp_too_big.check),
    (undersized_mss.KIND, undersized_mss.check),
    (ip_fragmentation.KIND, ip_fragmentation.check),
    (offload_artifact.KIND, offload_artifact.check),
)
"""(finding kind, rule) for capture analyses, most severe kinds first."""

__all__ = ["CAPTURE_RULES", "CaptureRule"]
