"""The round-trip time of one path, and the per-probe timeout it gives.

Layer: active/. Pure arithmetic on the RTT samples the engines file; no clock.

A probe that gets no answer is only known to be silent once its timeout has
passed, so on a path whose answers take a tenth of a millisecond a fixed one-second
timeout is almost all of a black-hole search. The engines of one run share one
`RttEstimator`: it keeps TCP's smoothed RTT and RTT variation (RFC 6298 §2: the
first sample R gives SRTT = R, RTTVAR = R/2; each later one RTTVAR <- 3/4 RTTVAR +
1/4 |SRTT - R|, SRTT <- 7/8 SRTT + 1/8 R), and the timeout is TCP's RTO, SRTT +
4 RTTVAR, but never less than `MULTIPLE` times SRTT (a steady path's RTTVAR decays
to nothing, and a probe is not a retransmission that may simply be sent again),
then kept within a floor and a cap:

    timeout = min(cap, max(floor, SRTT + 4 RTTVAR, MULTIPLE * SRTT))

The cap is the configured timeout (`Limits.timeout`, `--timeout`): it is also the
wait before the path has given a sample. The floor (`Limits.min_timeout`, 0.2 s:
Linux's TCP_RTO_MIN) keeps scheduling jitter on a short path from passing for
loss. Only answers from the destination are samples (an answer from a router on
the way, a time-exceeded or a too-big message, comes from nearer and would make
the destination's own probes look late); a late answer is a sample too, so a
path that slows down lengthens the timeout of the probes after it.

The timeout decides only when a silent probe is filed as lost, never what silence
proves: a size still needs `Limits.attempts` silent probes before it counts as not
getting through (bounds.py), and an answer that comes after its probe was given up
replaces that verdict while the engine runs.
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHA = 1 / 8
"""Weight of a new sample in SRTT (RFC 6298)."""
BETA = 1 / 4
"""Weight of a new deviation in RTTVAR (RFC 6298)."""
K = 4
"""RTTVARs in the timeout (RFC 6298)."""
MULTIPLE = 3
"""The timeout is at least this many SRTTs."""
MIN_TIMEOUT = 0.2
"""Default floor of the adaptive timeout, seconds (Linux's TCP_RTO_MIN)."""


@dataclass(slots=True)
class RttEstimator:
    """Smoothed RTT and RTT variation of one path (mutable; shared by a run's engines)."""

    srtt: float | None = None
    """Smoothed round-trip time, seconds; None before the first sample."""
    rttvar: float = 0.0
    """Round-trip time variation, seconds."""
    samples: int = 0

    def sample(self, rtt: float) -> None:
        """File one measured round trip (seconds; negative values are ignored)."""
        if rtt < 0:
            return
        self.samples += 1
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
            return
        self.rttvar = (1 - BETA) * self.rttvar + BETA * abs(self.srtt - rtt)
        self.srtt = (1 - ALPHA) * self.srtt + ALPHA * rtt

    def timeout(self, *, floor: float, cap: float) -> float:
        """The per-probe timeout: `cap` before the first sample, else the module's formula.

        Args:
            floor: the shortest timeout, seconds (at most `cap` is used).
            cap: the longest, and the one before any sample, seconds.
        """
        if self.srtt is None:
            return cap
        rto = max(self.srtt + K * self.rttvar, MULTIPLE * self.srtt)
        return min(cap, max(floor, rto))
