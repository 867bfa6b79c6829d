"""The dpkt baseline of the benchmark: one Python loop over every frame.

Layer: bench tooling, outside the package. It reads one pcap with dpkt and
extracts, per frame, the fields the tshark command of bench/run.py prints:
frame number, timestamp, IPv4/IPv6 source and destination, TCP ports, flags,
raw sequence number, payload length, the MSS option of SYNs, and the MTU of
ICMP fragmentation-needed and ICMPv6 packet-too-big messages. 802.1Q and QinQ
tags are walked by dpkt's Ethernet class. It may not import mtuscope.

It is written the way a careful dpkt user would write it (no text formatting
per frame, options parsed only on SYNs) so the comparison is fair to dpkt. At
the end it prints one JSON line of totals, which bench/run.py compares with
the capture's ground truth.

Usage: ``python bench/dpkt_loop.py PATH``
"""

from __future__ import annotations

import json
import struct
import sys
from collections import Counter
from typing import Any

import dpkt

_IP = dpkt.ip.IP
_IP6 = dpkt.ip6.IP6
_TCP = dpkt.tcp.TCP
_ICMP = dpkt.icmp.ICMP
_ICMP6 = dpkt.icmp6.ICMP6
_SYN = dpkt.tcp.TH_SYN
_ACK = dpkt.tcp.TH_ACK
_OPT_MSS = dpkt.tcp.TCP_OPT_MSS


def scan(path: str) -> dict[str, Any]:
    """Extract the benchmark fields of every frame of `path` and return totals.

    Args:
        path: a pcap file with Ethernet link type.

    Returns:
        Totals: packets, TCP frames, TCP payload bytes, SYN and SYN/ACK MSS
        histograms, ICMP too-big counts, frames dpkt could not decode.

    Raises:
        OSError: the file cannot be read.
    """
    packets = tcp_frames = payload = undecodable = 0
    syn_mss: Counter[int] = Counter()
    synack_mss: Counter[int] = Counter()
    mtus: Counter[tuple[int, int]] = Counter()
    with open(path, "rb") as fh:
        for number, (ts, buf) in enumerate(dpkt.pcap.Reader(fh), 1):
            packets = number
            try:
                eth = dpkt.ethernet.Ethernet(buf)
            except dpkt.UnpackError:
                undecodable += 1
                continue
            ip = eth.data
            if isinstance(ip, _IP):
                family = 4
            elif isinstance(ip, _IP6):
                family = 6
            else:
                continue
            src, dst = ip.src, ip.dst
            l4 = ip.data
            if isinstance(l4, _TCP):
                sport, dport, flags, seq = l4.sport, l4.dport, l4.flags, l4.seq
                length = len(l4.data)
                tcp_frames += 1
                payload += length
                if flags & _SYN:
                    for kind, value in dpkt.tcp.parse_opts(l4.opts):
                        if kind == _OPT_MSS and len(value) == 2:
                            (mss,) = struct.unpack("!H", value)
                            (synack_mss if flags & _ACK else syn_mss)[mss] += 1
                row: tuple[Any, ...] = (number, ts, src, dst, sport, dport, flags, seq, length)
            elif isinstance(l4, _ICMP) and l4.type == 3 and l4.code == 4:
                mtus[(4, l4.data.mtu)] += 1
                row = (number, ts, src, dst, family, l4.data.mtu)
            elif isinstance(l4, _ICMP6) and l4.type == 2:
                mtus[(6, l4.data.mtu)] += 1
                row = (number, ts, src, dst, family, l4.data.mtu)
            else:
                row = (number, ts, src, dst)
            del row
    return {
        "packets": packets,
        "tcp_frames": tcp_frames,
        "tcp_payload_bytes": payload,
        "undecodable": undecodable,
        "syn_mss": {str(k): v for k, v in sorted(syn_mss.items())},
        "synack_mss": {str(k): v for k, v in sorted(synack_mss.items())},
        "icmp_too_big": {
            "ipv4": sum(v for (f, _), v in mtus.items() if f == 4),
            "ipv6": sum(v for (f, _), v in mtus.items() if f == 6),
        },
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: ``dpkt_loop.py PATH``; prints the totals as one JSON line.

    Args:
        argv: arguments without the program name; None reads sys.argv.

    Returns:
        0, or 2 when no path is given.
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: dpkt_loop.py PATH", file=sys.stderr)
        return 2
    print(json.dumps(scan(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
