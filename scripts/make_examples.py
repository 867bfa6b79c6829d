#!/usr/bin/env python3
"""Make the bundled example captures in examples/ from real traffic in a lab.

Layer: script (an edge, run by hand as root). For each example it builds a lab
of network namespaces (mtuscope.lab), starts a small TCP server in the server
namespace that sends 64 KiB, connects from the client namespace, and captures
with tcpdump in both the client and the server namespace, writing
examples/<name>-client.pcap and examples/<name>-server.pcap. It sends nothing
outside the lab and removes the lab afterwards, also when it fails.

Usage (from the repository root):

    sudo PYTHONPATH=src .venv/bin/python scripts/make_examples.py [--out examples] [NAME ...]

NAME is one of pmtud-ok, blackhole, clamp, pmtud-ok-v6 (default: all four).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mtuscope.errors import MtuscopeError
from mtuscope.lab import Lab
from mtuscope.lab.traffic import client_argv, server_argv

PORT = 8080
NBYTES = 65536
SNAPLEN = 128
"""Bytes kept of each packet: headers and a quoted header in ICMP, not the payload."""
BPF = {
    4: ("ip", "and", "(tcp", "or", "icmp)"),
    6: ("ip6", "and", "(tcp", "or", "(icmp6", "and", "ip6[40]", "==", "2))"),
}
"""TCP and ICMP errors of one family only: no neighbour discovery or multicast noise."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Example:
    name: str
    scenario: str
    client_timeout: float
    """Seconds before the client gives up (the black hole stalls for good)."""
    what: str
    family: int = 4


EXAMPLES = (
    Example(
        name="pmtud-ok",
        scenario="mtu-drop",
        client_timeout=5.0,
        what="1400-byte r1-r2 link, routers send frag-needed: PMTUD works",
    ),
    Example(
        name="blackhole",
        scenario="blackhole",
        client_timeout=7.0,
        what="1400-byte r1-r2 link, routers withhold frag-needed: the transfer stalls",
    ),
    Example(
        name="clamp",
        scenario="clamp",
        client_timeout=5.0,
        what="all links 1500, r1 clamps the MSS of SYNs to 1300",
    ),
    Example(
        name="pmtud-ok-v6",
        scenario="mtu-drop",
        client_timeout=5.0,
        what="pmtud-ok over IPv6: ICMPv6 packet-too-big, MTU 1400",
        family=6,
    ),
)


def make(example: Example, out: Path) -> dict[str, object]:
    """Run one example and write its two captures; returns a summary for the log."""
    client_pcap = out / f"{example.name}-client.pcap"
    server_pcap = out / f"{example.name}-server.pcap"
    with Lab.up(example.scenario) as lab:
        server_addr = str(lab.address("server", example.family))
        cap_client = lab.capture(
            "client", "c-r1", client_pcap, snaplen=SNAPLEN, bpf=BPF[example.family]
        )
        cap_server = lab.capture(
            "server", "r2-s", server_pcap, snaplen=SNAPLEN, bpf=BPF[example.family]
        )
        with cap_client, cap_server:
            server = lab.popen(
                "server",
                server_argv(server_addr, PORT, nbytes=NBYTES, timeout=example.client_timeout + 1),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                assert server.stdout is not None  # we asked for a pipe
                ready = server.stdout.readline()
                if "listening" not in ready:
                    raise MtuscopeError(f"server did not start: {ready!r} {server.stderr}")
                fetched = lab.exec(
                    "client",
                    client_argv(server_addr, PORT, timeout=example.client_timeout),
                    check=False,
                    timeout=example.client_timeout + 5,
                )
                served, _ = server.communicate(timeout=example.client_timeout + 5)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait(timeout=5)
            time.sleep(0.3)  # let the last packets reach tcpdump before it stops
        return {
            "example": example.name,
            "scenario": example.scenario,
            "client": json.loads(fetched.stdout or "{}"),
            "server": json.loads(served.strip().splitlines()[-1] or "{}"),
            "client_pcap": str(client_pcap),
            "client_packets": cap_client.stats.captured if cap_client.stats else None,
            "server_pcap": str(server_pcap),
            "server_packets": cap_server.stats.captured if cap_server.stats else None,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("examples"))
    parser.add_argument("names", nargs="*", metavar="NAME")
    args = parser.parse_args()
    known = {e.name for e in EXAMPLES}
    wanted = set(args.names) or known
    if not wanted <= known:
        parser.error(f"unknown example(s) {sorted(wanted - known)}; known: {sorted(known)}")
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        for example in EXAMPLES:
            if example.name in wanted:
                print(json.dumps(make(example, args.out)), flush=True)
    except MtuscopeError as exc:
        print(f"make_examples: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
