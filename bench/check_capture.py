"""Self-check of the benchmark capture generator against tshark.

Layer: bench tooling, outside the package. It runs gen_capture.py on a small
packet count, then has capinfos and tshark read the result and compares what
they see with the ground-truth JSON. It may not import mtuscope and never
touches the network.

Checks: the packet count, zero malformed frames, the MSS values of SYNs and of
SYN/ACKs (value by value), the number of ICMP too-big messages (v4 and v6), the
number of retransmissions tshark's TCP analysis flags, and that every ICMP
quote names the ports of a connection in the capture.

Usage: ``python bench/check_capture.py [--packets 20000] [--out /tmp/x.pcap] [--seed 1]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def _tshark_fields(path: Path, fields: list[str], display_filter: str | None = None) -> list[str]:
    cmd = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=,"]
    if display_filter:
        cmd += ["-Y", display_filter]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def _capinfos_count(path: Path) -> int:
    out = subprocess.run(
        ["capinfos", "-M", "-c", str(path)], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        if line.startswith("Number of packets"):
            return int(line.split(":", 1)[1].strip())
    raise RuntimeError(f"capinfos printed no packet count for {path}")


def check(path: Path, truth: dict[str, Any]) -> list[str]:
    """Compare what tshark and capinfos see in `path` with the generator's truth.

    Args:
        path: the generated pcap.
        truth: the dictionary of `PATH.truth.json`.

    Returns:
        One line per failed check; empty when everything agrees.

    Raises:
        subprocess.CalledProcessError: tshark or capinfos failed to read the file.
    """
    failures: list[str] = []

    def expect(name: str, seen: object, wanted: object) -> None:
        status = "ok" if seen == wanted else "MISMATCH"
        print(f"  {name}: tshark {seen!r} / truth {wanted!r} -> {status}")
        if seen != wanted:
            failures.append(f"{name}: tshark {seen!r} != truth {wanted!r}")

    expect("packets (capinfos)", _capinfos_count(path), truth["packets"])
    malformed = _tshark_fields(path, ["frame.number"], "_ws.malformed")
    expect("malformed frames", len(malformed), 0)

    rows = _tshark_fields(
        path,
        ["tcp.flags.syn", "tcp.flags.ack", "tcp.options.mss_val"],
        "tcp.flags.syn == 1 && !icmp && !icmpv6",
    )
    syn: Counter[str] = Counter()
    synack: Counter[str] = Counter()
    for row in rows:
        flag_syn, flag_ack, mss = row.split(",")
        (synack if flag_ack in ("1", "True") else syn)[mss] += 1
    expect(
        "SYN MSS values",
        dict(sorted(syn.items(), key=lambda kv: int(kv[0] or -1))),
        truth["syn_mss"],
    )
    expect(
        "SYN/ACK MSS values",
        dict(sorted(synack.items(), key=lambda kv: int(kv[0] or -1))),
        truth["synack_mss"],
    )

    icmp4 = _tshark_fields(
        path, ["icmp.mtu", "tcp.srcport", "tcp.dstport"], "icmp.type == 3 && icmp.code == 4"
    )
    icmp6 = _tshark_fields(path, ["icmpv6.mtu", "tcp.srcport", "tcp.dstport"], "icmpv6.type == 2")
    expect("ICMP frag-needed", len(icmp4), truth["icmp_too_big"]["ipv4"])
    expect("ICMPv6 packet-too-big", len(icmp6), truth["icmp_too_big"]["ipv6"])
    ports = {
        tuple(r.split(","))
        for r in _tshark_fields(
            path, ["tcp.srcport", "tcp.dstport"], "tcp.flags.syn == 1 && !icmp && !icmpv6"
        )
    }
    quoted = [tuple(r.split(",")[1:]) for r in icmp4 + icmp6]
    unmatched = sum(
        1 for q in quoted if q not in ports and (q[1], q[0]) not in ports and q != ("", "")
    )
    expect("ICMP quotes naming no connection", unmatched, 0)
    retrans = _tshark_fields(path, ["frame.number"], "tcp.analysis.retransmission && !icmp")
    expect("retransmissions", len(retrans), truth["retransmissions"])
    return failures


def main(argv: list[str] | None = None) -> int:
    """Generate a small capture, check it, print the comparison.

    Args:
        argv: arguments without the program name; None reads sys.argv.

    Returns:
        0 when every check passes, 1 otherwise, 2 when tshark or capinfos is missing.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--packets", type=int, default=20_000)
    p.add_argument("--out", type=Path, default=Path("/tmp/x.pcap"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-generate", action="store_true", help="check an existing file")
    args = p.parse_args(argv)
    if shutil.which("tshark") is None or shutil.which("capinfos") is None:
        print("check_capture: tshark and capinfos are needed", file=sys.stderr)
        return 2
    if not args.skip_generate:
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "gen_capture.py"),
                "--out",
                str(args.out),
                "--packets",
                str(args.packets),
                "--seed",
                str(args.seed),
            ],
            check=True,
        )
    truth = json.loads(Path(f"{args.out}.truth.json").read_text())
    print(f"checking {args.out} against {args.out}.truth.json")
    failures = check(args.out, truth)
    print("PASS" if not failures else f"FAIL ({len(failures)} checks)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
