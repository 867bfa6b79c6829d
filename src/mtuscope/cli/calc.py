"""`mtuscope calc`: MTU and MSS through an encapsulation stack, or the reverse question.

Layer: edge (argument parsing only). It builds `CalcOptions` and calls the job
(`mtuscope.jobs.calc`); the JSON body is `mtuscope.report.calc_json`, the human
rendering `mtuscope.report.calc_text`. The layer and platform names in --help come
from the job module too, so this module imports no core.
"""

from __future__ import annotations

import argparse
from typing import Any

from mtuscope.jobs.calc import PLATFORMS, CalcOptions, CalcReport, calc, layer_summaries


def add_parser(sub: Any) -> None:
    """Add the `calc` verb to the CLI's sub-parsers."""
    layer_help = "; ".join(f"{name}: {summary}" for name, summary in layer_summaries())
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


def run(args: argparse.Namespace) -> CalcReport:
    """Run `mtuscope calc` with parsed arguments.

    Raises:
        UsageError: unknown layer or platform, impossible stack, absurd numbers.
    """
    opts = CalcOptions(
        layers=tuple(args.layers),
        link_mtu=args.link_mtu,
        inner_family=args.inner,
        outer_family=args.outer,
        timestamps=args.timestamps,
        platform=args.platform,
        interface=args.interface,
        explain_mtu=args.explain_mtu,
        from_mtu=args.from_mtu,
        limit=args.limit,
    )
    return calc(opts)
