"""Wireshark display filters that select a finding's evidence frames.

Layer: report/. Pure: typed findings (and the connections they name) in, filter
text out; no I/O. A filter is computed from the evidence, per capture file (the
frame numbers are that file's), and selects exactly the frames the evidence
cites, no more:

    frame.number in {12, 15, 19..21} && (ip.addr==192.0.2.1 && ip.addr==203.0.113.2
        && tcp.port==42340 && tcp.port==8080)

The `frame.number` set is the exact part. The protocol part after it only says
what those frames are, so that dropping the set shows the rest of the story:

- frames cited for an ICMP field (`icmp.*`, `icmpv6.*`) are ICMP too-big
  messages: `icmp.type==3 && icmp.code==4` (RFC 792 fragmentation needed) or
  `icmpv6.type==2` (RFC 4443 packet too big);
- the other frames of a finding about one connection (the kinds in
  `ONE_CONNECTION`, whose frames all lie in that connection's first..last frame)
  are that connection's: both addresses and both ports. Wireshark's `tcp.stream`
  numbers are not our connection ids, so the connection is named by its addresses
  and ports (which also match the quoted headers inside an ICMP error).

Findings about many connections (a small MSS shared by many, a clamp seen
across servers) and comparisons get the exact frame set alone: one address
pair could not describe all their frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtuscope.diagnose.findings import Finding
    from mtuscope.passive.results import CaptureAnalysis, Connection

__all__ = [
    "ICMP4_TOO_BIG",
    "ICMP6_TOO_BIG",
    "ONE_CONNECTION",
    "capture_filter",
    "compare_filters",
    "finding_filter",
    "frame_set",
]

ICMP4_TOO_BIG = "icmp.type==3 && icmp.code==4"
ICMP6_TOO_BIG = "icmpv6.type==2"
ONE_CONNECTION = frozenset(
    {
        "oversized-mss",
        "pmtud-blackhole",
        "pmtud-failure",
        "segment-exceeds-mss",
        "mss-floor-ignored",
        "syn-options-changed-on-retransmission",
    }
)
"""Kinds whose finding is about the one connection it names (`Finding.connection`)."""


def frame_set(frames: Iterable[int]) -> str:
    """`frame.number in {...}` for the frames, runs of three or more written a..b."""
    ordered = sorted(set(frames))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            parts.append(f"{ordered[i]}..{ordered[j]}")
        else:
            parts.extend(str(f) for f in ordered[i : j + 1])
        i = j + 1
    # Wireshark 4 separates set members with commas (a space is refused since 4.0).
    return "frame.number in {" + ", ".join(parts) + "}"


def _frames_of(finding: Finding, capture: str) -> list[int]:
    """The frames `finding` cites in `capture`."""
    return [e.frame for e in finding.evidence if e.capture == capture and e.frame is not None]


def _icmp_frames(finding: Finding, capture: str) -> dict[int, str]:
    """Frame -> "icmp" or "icmpv6" for the frames cited for an ICMP field."""
    out: dict[int, str] = {}
    for e in finding.evidence:
        if e.capture == capture and e.frame is not None:
            prefix = e.field.split(".", 1)[0]
            if prefix in ("icmp", "icmpv6"):
                out[e.frame] = prefix
    return out


def _connection_part(conn: Connection) -> str:
    ip = "ip.addr" if conn.family == 4 else "ipv6.addr"
    terms = [f"{ip}=={a}" for a in dict.fromkeys((conn.client.address, conn.server.address))]
    terms += [f"tcp.port=={p}" for p in dict.fromkeys((conn.client.port, conn.server.port))]
    return " && ".join(terms)


def _icmp_part(families: Iterable[str]) -> str:
    parts = [ICMP4_TOO_BIG if f == "icmp" else ICMP6_TOO_BIG for f in sorted(set(families))]
    return parts[0] if len(parts) == 1 else " || ".join(f"({p})" for p in parts)


def _connection(finding: Finding, analysis: CaptureAnalysis | None) -> Connection | None:
    if finding.kind not in ONE_CONNECTION or finding.connection is None or analysis is None:
        return None
    try:
        return analysis.connection(finding.connection)
    except IndexError:
        return None


def capture_filter(finding: Finding, analysis: CaptureAnalysis | None = None) -> str | None:
    """The display filter that selects `finding`'s evidence frames in its capture.

    Args:
        finding: a finding of a capture report (its evidence cites one capture file).
        analysis: that capture's analysis, to name the connection of a finding about
            one connection (None: the frame set and the ICMP part only).

    Returns:
        The filter, or None when the finding cites no frame.
    """
    captures = [e.capture for e in finding.evidence if e.frame is not None and e.capture]
    if not captures:
        return None
    capture = analysis.capture if analysis is not None else captures[0]
    return _filter(finding, capture, _connection(finding, analysis))


def _filter(finding: Finding, capture: str, conn: Connection | None) -> str | None:
    frames = _frames_of(finding, capture)
    if not frames:
        return None
    icmp = _icmp_frames(finding, capture)
    others = [f for f in frames if f not in icmp]
    if conn is not None and not all(conn.first_frame <= f <= conn.last_frame for f in others):
        conn = None  # a frame outside the connection: the address pair would drop it
    parts: list[str] = []
    if others and conn is not None:
        parts.append(_connection_part(conn))
    if icmp:
        parts.append(_icmp_part(icmp.values()))
    exact = frame_set(frames)
    if others and conn is None:
        return exact  # frames the protocol part could not describe
    if len(parts) == 1:
        return f"{exact} && ({parts[0]})"
    return f"{exact} && (" + " || ".join(f"({p})" for p in parts) + ")"


def compare_filters(finding: Finding) -> dict[str, str]:
    """One display filter per capture a finding of a comparison cites: {capture: filter}.

    Frame numbers are each file's own, so each capture gets its own exact set (with
    the ICMP part when all its cited frames are ICMP too-big messages).
    """
    out: dict[str, str] = {}
    for capture in dict.fromkeys(e.capture for e in finding.evidence if e.frame is not None):
        if capture is None:
            continue
        text = _filter(finding, capture, None)
        if text is not None:
            out[capture] = text
    return out


def finding_filter(finding: Finding, analyses: Mapping[str, CaptureAnalysis]) -> str | None:
    """`capture_filter` with the analysis of the capture the finding cites first."""
    first = next((e.capture for e in finding.evidence if e.frame is not None), None)
    return capture_filter(finding, analyses.get(first) if first is not None else None)
