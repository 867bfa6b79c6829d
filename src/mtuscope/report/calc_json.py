"""The `calc` report body (DESIGN.md "Contracts"), JSON-ready.

Layer: report/. A renderer: a typed `CalcReport` in, plain dicts out; no I/O.

Fields, in both modes:

    mode          "stack" or "explain"
    link_mtu      stack: the link MTU; explain: the MTU before the drop (--from-mtu)
    layers[]      stack: {name, label, bytes, mtu_after, alignment_loss, adds_to, reference};
                  explain: [] (the candidate stacks are in explanations[])
    ip_mtu        stack: the inner IP MTU; explain: the observed MTU (--explain-mtu)
    mss_ipv4, mss_ipv6   the MSS that fits ip_mtu (mss_ipv6 null below 1280)
    overhead      link_mtu - ip_mtu
    stack only:   inner_family, outer_family, tcp_timestamps, payload_ipv4, payload_ipv6,
                  frame_size
    explanations[]  explain only: {stack, label, overhead, mtu, commonness, how_common, reference}
    conventions[]   explain only: {label, config, mtu, mss_ipv4, mss_ipv6, source}: configured
                  values (Cisco's `ip mtu 1400`, WireGuard's 1420, PPPoE's 1492) that set this MTU
    nearest[]       explain only, when no stack matches: explanations[] items plus `difference`
    recommended   {interface_mtu, mss_clamp_ipv4, mss_clamp_ipv6}
    snippets      {platform: text} setting ip_mtu and clamping to the MSS
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mtuscope.report.serialize import plain

if TYPE_CHECKING:
    from mtuscope.calc.explain import Explanation
    from mtuscope.jobs.calc import CalcReport


def body(result: CalcReport) -> dict[str, Any]:
    """The kind-specific fields of a `calc` report, in document order."""
    doc: dict[str, Any] = {
        "mode": result.mode.value,
        "link_mtu": result.link_mtu,
        "layers": [plain(r) for r in result.stack.layers] if result.stack else [],
        "ip_mtu": result.ip_mtu,
        "mss_ipv4": result.mss_ipv4,
        "mss_ipv6": result.mss_ipv6,
        "overhead": result.overhead,
    }
    if result.stack is not None:
        s = result.stack
        doc.update(
            inner_family=s.inner_family,
            outer_family=result.outer_family,
            tcp_timestamps=s.tcp_timestamps,
            payload_ipv4=s.payload_ipv4,
            payload_ipv6=s.payload_ipv6,
            frame_size=s.frame_size,
        )
    if result.explanations is not None:
        doc["explanations"] = [_explanation(e) for e in result.explanations]
        doc["conventions"] = [plain(c) for c in result.conventions]
        doc["nearest"] = [_explanation(e) | {"difference": e.difference} for e in result.nearest]
    doc["recommended"] = plain(result.recommended)
    doc["snippets"] = {s.platform: s.text for s in result.snippets}
    return doc


def _explanation(e: Explanation) -> dict[str, Any]:
    return {
        "stack": list(e.stack),
        "label": e.label,
        "overhead": e.overhead,
        "mtu": e.mtu,
        "commonness": e.commonness,
        "how_common": e.how_common,
        "reference": e.reference,
    }
