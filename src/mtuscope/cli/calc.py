"""`mtuscope calc`: MTU and MSS through an encapsulation stack, or the reverse question.

Layer: edge (argument parsing only). The arithmetic is in `mtuscope.calc`; the
human rendering in `mtuscope.report.calc_text`.

JSON body (report kind "calc"), in both modes:

    mode          "stack" or "explain"
    link_mtu      stack: the link MTU; explain: the MTU before the drop (--from-mtu)
    layers[]      stack: {name, label, bytes, mtu_after, alignment_loss, adds_to, reference};
                  explain: [] (the candidate stacks are in explanations[])
    ip_mtu        stack: the inner IP MTU; explain: the observed MTU (--explain-mtu)
    mss_ipv4, mss_ipv6   the MSS that fits ip_mtu (mss_ipv6 null below 1280)
    snippets      {platform: text} setting ip_mtu and clamping to the MSS
    recommended   {interface_mtu, mss_clamp_ipv4, mss_clamp_ipv6}
    explanations[]  explain only: {stack, label, overhead, mtu, commonness, how_common, reference}
"""

from __future__ import annotations

import argparse
from typing import Any

from mtuscope.calc.explain import explain_mtu
from mtuscope.calc.layer_types import LAYER_TYPES
from mtuscope.calc.snippets import PLATFORMS, platform_name, render
from mtuscope.calc.stack import MIN_MTU, compute, parse_layers
from mtuscope.errors import UsageError
from mtuscope.report.model import Report


def add_parser(sub: Any) -> None:
    """Add the `calc` verb to the CLI's sub-parsers."""
    layer_help = "; ".join(f"{t.name}: {t.summary}" for t in LAYER_TYPES.values())
    p = sub.add_parser(
        "calc",
        help="MTU and MSS through an encapsulation stack; which stack explains an MTU",
        description="Compute the MTU and TCP MSS left after a stack of encapsulation layers "
        "(outer to inner, options after colons: gre:key, ipsec-tunnel:aes-cbc-sha1:natt, "
        "mpls:2, vxlan:ipv6), with configuration snippets; or, with --explain-mtu, list the "
        "stacks that produce an observed MTU. Layers: " + layer_help,
    )
    p.add_argument("layers", nargs="*", metavar="LAYER", help="layer spec, outer first")
    p.add_argument(
        "--link-mtu", type=int, default=1500, help="IP MTU of the physical link (default 1500)"
    )
    p.add_argument(
        "--inner", type=int, choices=(4, 6), default=4, help="family of the inner packets"
    )
    p.add_argument(
        "--outer",
        type=int,
        choices=(4, 6),
        default=4,
        help="delivery family of tunnels that name none (default 4)",
    )
    p.add_argument(
        "--timestamps", action="store_true", help="TCP timestamps on (12 bytes per segment)"
    )
    p.add_argument("--platform", help=f"only this platform's snippet: {', '.join(PLATFORMS)}")
    p.add_argument("--interface", default="<iface>", help="interface name for the snippets")
    p.add_argument(
        "--explain-mtu",
        type=int,
        metavar="MTU",
        help="list the encapsulation stacks that produce this path MTU, most common first",
    )
    p.add_argument(
        "--from-mtu",
        type=int,
        help="with --explain-mtu: the MTU before the drop (default: --link-mtu)",
    )
    p.add_argument("--limit", type=int, default=10, help="with --explain-mtu: at most this many")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> Report:
    """Run `mtuscope calc` with parsed arguments.

    Raises:
        UsageError: unknown layer or platform, impossible stack, absurd numbers.
    """
    platforms = (platform_name(args.platform),) if args.platform else PLATFORMS
    if args.explain_mtu is not None:
        if args.layers:
            raise UsageError("calc: give either layers or --explain-mtu, not both")
        return _explain(args, platforms)
    if args.from_mtu is not None:
        raise UsageError("calc: --from-mtu only goes with --explain-mtu")
    layers = parse_layers(args.layers, outer_family=args.outer)
    result = compute(args.link_mtu, layers, inner_family=args.inner, tcp_timestamps=args.timestamps)
    body: dict[str, Any] = {
        "mode": "stack",
        "link_mtu": result.link_mtu,
        "layers": [
            {
                "name": r.name,
                "label": r.label,
                "bytes": r.bytes,
                "mtu_after": r.mtu_after,
                "alignment_loss": r.alignment_loss,
                "adds_to": r.adds_to,
                "reference": r.reference,
            }
            for r in result.layers
        ],
        "ip_mtu": result.ip_mtu,
        "mss_ipv4": result.mss_ipv4,
        "mss_ipv6": result.mss_ipv6,
        "overhead": result.overhead,
        "inner_family": result.inner_family,
        "outer_family": args.outer,
        "tcp_timestamps": result.tcp_timestamps,
        "payload_ipv4": result.payload_ipv4,
        "payload_ipv6": result.payload_ipv6,
        "frame_size": result.frame_size,
        "recommended": _recommended(result.ip_mtu, result.mss_ipv4, result.mss_ipv6),
        "snippets": _snippets(
            platforms, result.ip_mtu, result.mss_ipv4, result.mss_ipv6, args.interface
        ),
    }
    inputs = (f"--link-mtu {args.link_mtu}", *(r.name for r in result.layers))
    return Report(kind="calc", inputs=inputs, body=body)


def _explain(args: argparse.Namespace, platforms: tuple[str, ...]) -> Report:
    mtu: int = args.explain_mtu
    from_mtu: int = args.from_mtu if args.from_mtu is not None else args.link_mtu
    found = explain_mtu(mtu, from_mtu=from_mtu, limit=args.limit)
    mss6 = mtu - 60 if mtu >= MIN_MTU[6] else None
    body: dict[str, Any] = {
        "mode": "explain",
        "link_mtu": from_mtu,
        "layers": [],
        "ip_mtu": mtu,
        "mss_ipv4": mtu - 40,
        "mss_ipv6": mss6,
        "overhead": from_mtu - mtu,
        "explanations": [
            {
                "stack": list(e.stack),
                "label": e.label,
                "overhead": e.overhead,
                "mtu": e.mtu,
                "commonness": e.commonness,
                "how_common": e.how_common,
                "reference": e.reference,
            }
            for e in found
        ],
        "recommended": _recommended(mtu, mtu - 40, mss6),
        "snippets": _snippets(platforms, mtu, mtu - 40, mss6, args.interface),
    }
    return Report(kind="calc", inputs=(f"--explain-mtu {mtu}", f"--from-mtu {from_mtu}"), body=body)


def _recommended(mtu: int, mss4: int, mss6: int | None) -> dict[str, int | None]:
    return {"interface_mtu": mtu, "mss_clamp_ipv4": mss4, "mss_clamp_ipv6": mss6}


def _snippets(
    platforms: tuple[str, ...], mtu: int, mss4: int, mss6: int | None, iface: str
) -> dict[str, str]:
    return {
        p: render(p, ip_mtu=mtu, mss_ipv4=mss4, mss_ipv6=mss6, interface=iface) for p in platforms
    }
