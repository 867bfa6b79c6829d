"""Test helper: frames and pcap files built in the test (test-only).

`tcp_ip` is `wire.builders.build_tcp` with documentation addresses; `eth` and
`pppoe` wrap it; `write_pcap` writes classic little-endian pcap with the frames
1 ms apart; `analyse_frames` runs the analyze job on them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from mtuscope.jobs.analyze import AnalyzeOptions, CaptureResult, analyze
from mtuscope.wire.builders import build_tcp
from mtuscope.wire.tcp import TcpFlags

CLIENT4, SERVER4 = "192.0.2.1", "198.51.100.2"
CLIENT6, SERVER6 = "2001:db8::1", "2001:db8::2"
SYN, SYN_ACK, ACK = TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.ACK


def tcp_ip(src: str, dst: str, sport: int, dport: int, **kw: Any) -> bytes:
    """An IP packet carrying one TCP segment (`build_tcp` keywords)."""
    return build_tcp(src=ip_address(src), dst=ip_address(dst), sport=sport, dport=dport, **kw)


def eth(et: int, payload: bytes) -> bytes:
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02" + struct.pack("!H", et) + payload


def pppoe(payload: bytes, *, compressed: bool, v6: bool = False) -> bytes:
    """Ethernet, PPPoE session (RFC 2516), the PPP protocol in one byte or two."""
    proto = 0x57 if v6 else 0x21
    field = bytes([proto]) if compressed else struct.pack("!H", proto)
    body = field + payload
    return eth(0x8864, struct.pack("!BBHH", 0x11, 0, 0x1234, len(body)) + body)


def pcap_bytes(frames: Sequence[bytes], *, linktype: int = 1, snaplen: int = 262144) -> bytes:
    """Classic pcap of `frames`, each cut to `snaplen` bytes as a capture would."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    for i, f in enumerate(frames):
        cut = f[:snaplen]
        out += struct.pack("<IIII", 1700000000, 1000 * i, len(cut), len(f)) + cut
    return out


def write_pcap(path: Path, frames: Sequence[bytes], *, linktype: int = 1) -> str:
    path.write_bytes(pcap_bytes(frames, linktype=linktype))
    return str(path)


def analyse_frames(tmp: Path, frames: Sequence[bytes], *, linktype: int = 1) -> CaptureResult:
    """The analyze job's result on a pcap holding `frames`."""
    return analyze(AnalyzeOptions(paths=(write_pcap(tmp / "t.pcap", frames, linktype=linktype),)))


def fragments4(packet: bytes, cuts: Sequence[int], *, ident: int = 0x4242) -> list[bytes]:
    """An IPv4 packet cut into fragments at data offsets `cuts` (multiples of 8, or any
    for overlap tests: each fragment is data[cut_i:cut_i+1]'s start up to the next cut)."""
    ihl = (packet[0] & 15) * 4
    head, data = packet[:ihl], packet[ihl:]
    ends = [*cuts[1:], len(data)]
    out = []
    for k, (a, b) in enumerate(zip(cuts, ends, strict=True)):
        mf = 0x2000 if k < len(cuts) - 1 else 0
        h = bytearray(head)
        h[2:4] = (ihl + b - a).to_bytes(2, "big")
        h[4:6] = ident.to_bytes(2, "big")
        h[6:8] = (mf | a // 8).to_bytes(2, "big")
        out.append(bytes(h) + data[a:b])
    return out


def fragment_piece4(packet: bytes, start: int, data: bytes, *, more: bool,
                    ident: int = 0x4242) -> bytes:  # fmt: skip
    """One IPv4 fragment of `packet`'s header with `data` at data offset `start`."""
    ihl = (packet[0] & 15) * 4
    h = bytearray(packet[:ihl])
    h[2:4] = (ihl + len(data)).to_bytes(2, "big")
    h[4:6] = ident.to_bytes(2, "big")
    h[6:8] = ((0x2000 if more else 0) | start // 8).to_bytes(2, "big")
    return bytes(h) + data


def fragment_piece6(packet: bytes, start: int, data: bytes, *, more: bool,
                    ident: int = 0x42424242) -> bytes:  # fmt: skip
    """One IPv6 fragment (RFC 8200 §4.5) of the IPv6 `packet` (no extension headers)."""
    nh = packet[6]
    h = bytearray(packet[:40])
    h[4:6] = (8 + len(data)).to_bytes(2, "big")
    h[6] = 44
    frag = struct.pack("!BBHI", nh, 0, start | int(more), ident)
    return bytes(h) + frag + data


def fragments6(packet: bytes, cuts: Sequence[int], *, ident: int = 0x42424242) -> list[bytes]:
    data = packet[40:]
    ends = [*cuts[1:], len(data)]
    return [
        fragment_piece6(packet, a, data[a:b], more=k < len(cuts) - 1, ident=ident)
        for k, (a, b) in enumerate(zip(cuts, ends, strict=True))
    ]
