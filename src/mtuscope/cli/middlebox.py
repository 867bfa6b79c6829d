"""`mtuscope middlebox HOST --port N`: find the hop that changes TCP SYNs on their way.

Layer: edge (command line). Parses arguments, builds `MiddleboxOptions` and
calls the job (jobs/middlebox.py), which resolves, probes and diagnoses.
Decides nothing itself. Needs root or CAP_NET_RAW (exit 3).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mtuscope.cli.options import add_family

if TYPE_CHECKING:
    from mtuscope.jobs.middlebox import MiddleboxReport


def add_parser(sub: Any) -> None:
    """Add the `middlebox` verb to the CLI's sub-parsers (`sub`)."""
    p = sub.add_parser(
        "middlebox",
        help="find the hop that rewrites TCP SYNs (MSS clamp, options, ISN, TCP proxy)",
        description="Send TCP SYNs with TTL 1, 2, 3 ... and compare what each router quotes "
        "back in its ICMP time-exceeded with what was sent: the hop where the MSS, another TCP "
        "option, the sequence number, DF, DSCP or the IP id changed. Compares with the SYN/ACK "
        "that comes back, and checks with two ICMP echoes (one with the TTL that got the SYN/ACK, "
        "one with TTL 255) whether a TCP proxy answered for the destination. Needs root or "
        "CAP_NET_RAW.",
    )
    p.add_argument("host", metavar="HOST", help="destination address (or name)")
    p.add_argument("--port", type=int, required=True, help="destination TCP port")
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    add_family(p)
    p.add_argument("--max-ttl", type=int, default=16, help="highest TTL tried (default 16)")
    p.add_argument(
        "--timeout", type=float, default=0.5, help="seconds to wait per probe (default 0.5)"
    )
    p.add_argument("--src", help="source address (default: the route's)")
    p.add_argument("--iface", help="send and receive on this interface only")
    p.add_argument(
        "--no-proxy-check",
        dest="proxy_check",
        action="store_false",
        help="skip the ICMP echoes that tell a TCP proxy from the destination",
    )
    p.add_argument("--platform", help="add configuration snippets for this platform to advice")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> MiddleboxReport:
    """Walk the path to HOST:PORT with TTL-limited SYNs.

    Args:
        args: parsed arguments (`host`, `port`, `json`, `family`, `max_ttl`,
            `timeout`, `src`, `iface`, `proxy_check`, `platform`).

    Returns:
        The job's report (kind "middlebox").

    Raises:
        UsageError: a bad port, TTL, timeout, platform or host.
        RawSocketDenied: no root / CAP_NET_RAW.
        ProbeError: no route.
    """
    from mtuscope.jobs.middlebox import MiddleboxOptions, middlebox

    return middlebox(
        MiddleboxOptions(
            host=args.host,
            port=args.port,
            family=args.family,
            max_ttl=args.max_ttl,
            timeout=args.timeout,
            src=args.src,
            iface=args.iface,
            proxy_check=args.proxy_check,
            platform=args.platform,
        )
    )
