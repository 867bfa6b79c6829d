"""Rule `ip-fragmentation`: IP fragments seen, per flow, with DF state.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Severity: warning for fragmented TCP (a TCP stack doing PMTUD never needs
fragments) and for IPv4 fragments that carry DF (contradictory); info otherwise
(UDP applications such as DNS or IKE fragment legitimately, if fragilely).
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import advice, frame_evidence, ip_len_field
from mtuscope.passive.results import CaptureAnalysis

KIND = "ip-fragmentation"
PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 58: "ICMPv6"}


def check(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for fragmented flows.

    Args:
        analysis: a finished capture analysis.
        platform: configuration platform for the advice snippets, if any.

    Returns:
        An iterator of findings.
    """
    cap = analysis.capture
    for f in analysis.fragments:
        proto = PROTOCOLS.get(f.proto, f"protocol {f.proto}")
        offset_field = "ip.frag_offset" if f.family == 4 else "ipv6.fraghdr.offset"
        evidence = [
            frame_evidence(
                cap, f.first_frame, offset_field, "fragment", note=f"first of {f.fragments}"
            ),
            frame_evidence(
                cap,
                f.first_frame,
                ip_len_field(f.family),
                f.max_len if f.family == 4 else f.max_len - 40,
                note=f"largest fragment {f.max_len} bytes (IP), smallest {f.min_len}",
            ),
        ]
        if f.df_fragments:
            evidence.append(
                frame_evidence(cap, f.first_frame, "ip.flags.df", 1, 0, note="DF on a fragment")
            )
        facts: dict[str, int | str | None] = {
            "fragments": f.fragments,
            "datagrams": f.datagrams,
            "path_mtu": f.max_len,
            "segment": f.max_len,
            "df_fragments": f.df_fragments,
            "proto": f.proto,
            "family": f.family,
            "address": f.src,
        }
        warn = f.proto == 6 or f.df_fragments > 0
        yield Finding(
            kind=KIND,
            severity=Severity.WARNING if warn else Severity.INFO,
            summary=(
                f"{f.fragments} IPv{f.family} fragment(s) of {proto} from {f.src} to {f.dst} "
                f"({f.datagrams} first fragment(s), largest {f.max_len} bytes"
                + (f", {f.df_fragments} with DF set)" if f.df_fragments else ")")
            ),
            evidence=tuple(evidence),
            advice=advice(KIND, facts, platform),
            reference="RFC 791 §2.3, RFC 8200 §4.5, RFC 8900",
            facts=facts,
        )
