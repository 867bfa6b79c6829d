"""Rule `ip-fragmentation`: IP fragments seen, per flow, with DF state.

Layer: diagnose/. A pure function of a `CaptureAnalysis`; no I/O.

Severity: warning for fragmented TCP (a TCP stack doing PMTUD never needs
fragments) and for IPv4 fragments that carry DF (contradictory); info otherwise
(UDP applications such as DNS or IKE fragment legitimately, if fragilely).
"""

from __future__ import annotations

from collections.abc import Iterator

from mtuscope.diagnose.findings import Finding, Severity
from mtuscope.diagnose.rules.evidence import frame_evidence, ip_len_field
from mtuscope.diagnose.rules.phrases import FactsIn, clamp_text, fact_mtu
from mtuscope.diagnose.rules.rule import Advice, Facts, Rule
from mtuscope.passive.results import CaptureAnalysis
from mtuscope.wire.ipv6 import IPV6_HEADER

KIND = "ip-fragmentation"
PROTOCOLS = {1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 58: "ICMPv6"}


REFERENCE = "RFC 791 §2.3, RFC 8200 §4.5, RFC 8900"


def check_capture(analysis: CaptureAnalysis, *, platform: str | None = None) -> Iterator[Finding]:
    """Findings for fragmented flows."""
    cap = analysis.capture
    for f in analysis.fragments:
        proto = PROTOCOLS.get(f.proto, f"protocol {f.proto}")
        offset_field = "ip.frag_offset" if f.family == 4 else "ipv6.fraghdr.offset"
        evidence = [
            frame_evidence(
                cap,
                f.first_frame,
                offset_field,
                "fragment",
                note=f"the first of {f.fragments} fragments"
                if f.fragments != 1
                else "a lone fragment (the rest was not captured)",
            ),
            frame_evidence(
                cap,
                f.first_frame,
                ip_len_field(f.family),
                f.max_len if f.family == 4 else f.max_len - IPV6_HEADER,
                note=f"largest fragment {f.max_len} bytes (IP), smallest {f.min_len}",
            ),
        ]
        if f.df_fragments:
            evidence.append(
                frame_evidence(cap, f.first_frame, "ip.flags.df", 1, 0, note="DF on a fragment")
            )
        facts: Facts = {
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
        yield RULE.finding(
            severity=Severity.WARNING if warn else Severity.INFO,
            summary=(
                f"{f.fragments} IPv{f.family} fragment(s) of {proto} from {f.src} to {f.dst} "
                f"({f.datagrams} first fragment(s), largest {f.max_len} bytes"
                + (f", {f.df_fragments} with DF set)" if f.df_fragments else ")")
            ),
            evidence=tuple(evidence),
            facts=facts,
            platform=platform,
        )


def advise(f: FactsIn) -> Advice:
    """Fit packets unfragmented: the MTU of the fragments, and smaller UDP packets."""
    mtu = fact_mtu(f)
    target = (
        f"Set {clamp_text(mtu)} on the tunnel or interface"
        if mtu is not None
        else "Lower the tunnel or interface MTU to the path MTU and clamp the MSS"
    )
    return (
        "IP fragments are on the wire: fragmentation is fragile (RFC 8900) and many firewalls "
        f"drop fragments. {target} so packets fit unfragmented, and for UDP applications "
        "(DNS, VPNs) lower their packet size.",
        mtu,
    )


RULE = Rule(kind=KIND, severity=Severity.INFO, reference=REFERENCE, advise=advise)
