"""The scapy baseline of the benchmark: the first N frames, the same fields as dpkt_loop.py.

Layer: bench tooling, outside the package. Optional: bench/run.py calls it only
with ``--with-scapy`` and only when scapy is importable; scapy is not a
dependency of the project. It may not import mtuscope. scapy decodes every
layer of every frame, so it is timed on the first N frames and bench/run.py
extrapolates to the whole file.

Usage: ``python bench/scapy_loop.py PATH [N]``
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any


def scan(path: str, limit: int) -> dict[str, Any]:
    """Extract the benchmark fields of the first `limit` frames of `path`.

    Args:
        path: a pcap file.
        limit: how many frames to read.

    Returns:
        Totals: frames read and the SYN MSS histogram.

    Raises:
        ImportError: scapy is not installed.
    """
    from scapy.layers.inet import ICMP, IP, TCP  # type: ignore[import-not-found]  # optional
    from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6  # type: ignore[import-not-found]
    from scapy.utils import PcapReader  # type: ignore[import-not-found]

    frames = 0
    syn_mss: Counter[int] = Counter()
    with PcapReader(path) as reader:
        for pkt in reader:
            frames += 1
            if frames > limit:
                frames -= 1
                break
            ts = float(pkt.time)
            if IP in pkt:
                src, dst = pkt[IP].src, pkt[IP].dst
            elif IPv6 in pkt:
                src, dst = pkt[IPv6].src, pkt[IPv6].dst
            else:
                continue
            if TCP in pkt:
                tcp = pkt[TCP]
                row: tuple[Any, ...] = (frames, ts, src, dst, tcp.sport, tcp.dport, int(tcp.flags))
                row += (tcp.seq, len(tcp.payload))
                if tcp.flags & 0x02:
                    for kind, value in tcp.options:
                        if kind == "MSS":
                            syn_mss[int(value)] += 1
            elif ICMP in pkt and pkt[ICMP].type == 3 and pkt[ICMP].code == 4:
                row = (frames, ts, src, dst, pkt[ICMP].nexthopmtu)
            elif ICMPv6PacketTooBig in pkt:
                row = (frames, ts, src, dst, pkt[ICMPv6PacketTooBig].mtu)
            else:
                row = (frames, ts, src, dst)
            del row
    return {"frames": frames, "syn_mss": {str(k): v for k, v in sorted(syn_mss.items())}}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``scapy_loop.py PATH [N]``; prints totals as one JSON line.

    Args:
        argv: arguments without the program name; None reads sys.argv.

    Returns:
        0, or 2 on a usage error.
    """
    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 2:
        print("usage: scapy_loop.py PATH [N]", file=sys.stderr)
        return 2
    limit = int(args[1]) if len(args) == 2 else 50_000
    print(json.dumps(scan(args[0], limit)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
