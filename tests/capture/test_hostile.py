"""Captures that hide or bend headers: PPP field compression, header lengths that lie.

Each capture is built here, frame by frame, and read through the analyze job, so
a frame that does not decode must show as a decode issue and a warning, and the
rest must still be analysed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mtuscope.jobs.analyze import AnalyzeOptions, analyze
from passive.pcaps import (
    ACK,
    CLIENT4,
    CLIENT6,
    SERVER4,
    SERVER6,
    SYN,
    SYN_ACK,
    analyse_frames,
    eth,
    pcap_bytes,
    pppoe,
    tcp_ip,
)


def _handshake(c: str, s: str, mss_c: int, mss_s: int) -> list[bytes]:
    return [
        tcp_ip(c, s, 40000, 443, seq=100, flags=SYN, mss=mss_c),
        tcp_ip(s, c, 443, 40000, seq=900, ack=101, flags=SYN_ACK, mss=mss_s),
        tcp_ip(c, s, 40000, 443, seq=101, ack=901, flags=ACK),
    ]


def test_pppoe_with_a_compressed_protocol_field_keeps_connections_and_mss(tmp_path: Path) -> None:
    frames = [pppoe(p, compressed=True) for p in _handshake(CLIENT4, SERVER4, 1452, 1430)]
    frames += [pppoe(p, compressed=True, v6=True) for p in _handshake(CLIENT6, SERVER6, 1432, 1410)]
    result = analyse_frames(tmp_path, frames)
    conns = result.analyses[0].connections
    assert [(c.family, c.client.mss, c.server.mss) for c in conns] == [
        (4, 1452, 1430),
        (6, 1432, 1410),
    ]
    assert conns[0].encapsulation == ("pppoe",) and conns[0].encap_overhead == (7,)
    assert result.analyses[0].decode_issues == 0


def test_ppp_that_still_does_not_decode_is_a_counted_issue(tmp_path: Path) -> None:
    # a Van Jacobson compressed TCP/IP frame (RFC 1144, PPP protocol 0x2D) among good ones
    vj = eth(0x8864, bytes.fromhex("11001234000b") + b"\x2d" + bytes(10))
    frames = [pppoe(p, compressed=True) for p in _handshake(CLIENT4, SERVER4, 1452, 1430)]
    result = analyse_frames(tmp_path, [*frames[:2], vj, frames[2]])
    assert result.analyses[0].decode_issues == 1
    assert result.analyses[0].connection_count == 1
    assert any("1 frames did not decode" in w and "frame 3" in w for w in result.warnings)


def _set_ihl(packet: bytes, words: int) -> bytes:
    return bytes([0x40 | words]) + packet[1:]


def _set_data_offset(packet: bytes, words: int) -> bytes:
    b = bytearray(packet)
    at = (b[0] & 15) * 4 + 12
    b[at] = words << 4 | b[at] & 15
    return bytes(b)


@pytest.mark.parametrize(
    ("lie", "text"),
    [
        (lambda p: _set_ihl(p, 15), "IPv4 header length (IHL) 60 bytes past the packet"),
        (lambda p: _set_data_offset(p, 3), "TCP data offset 12 bytes, below the 20-byte minimum"),
        (lambda p: _set_data_offset(p, 15), "TCP data offset 60 bytes past the segment (24 bytes)"),
    ],
    ids=["ihl-past-packet", "data-offset-below-5", "data-offset-past-segment"],
)
def test_header_lengths_that_lie_are_issues_and_the_rest_is_analysed(
    tmp_path: Path, lie: Callable[[bytes], bytes], text: str
) -> None:
    frames = [eth(0x0800, p) for p in _handshake(CLIENT4, SERVER4, 1460, 1400)]
    # a second connection whose SYN lies, between the first one's frames
    liar = [tcp_ip(CLIENT4, SERVER4, 40001, 443, seq=5, flags=SYN, mss=1300)]
    frames.insert(1, eth(0x0800, lie(liar[0])))
    result = analyse_frames(tmp_path, frames)
    analysis = result.analyses[0]
    assert analysis.decode_issues == 1
    [warning] = [w for w in result.warnings if "did not decode" in w]
    assert warning.startswith(f"{tmp_path / 't.pcap'}: 1 frames") and "frame 2" in warning
    assert text in warning
    # the lying SYN is left out; the good connection is analysed as before
    assert [(c.client.port, c.client.mss, c.server.mss) for c in analysis.connections] == [
        (40000, 1460, 1400)
    ]


def test_a_snaplen_cut_inside_the_ip_options_is_not_a_lie(tmp_path: Path) -> None:
    # IHL 60 bytes, but the frame on the wire had them: the capture cut it (TRUNCATED)
    syn = tcp_ip(CLIENT4, SERVER4, 40000, 443, seq=1, flags=SYN, mss=1460)
    opts = bytes([1] * 40)  # 40 bytes of IPv4 NOP options
    ip = bytes([0x4F]) + syn[1:2] + (len(syn) + 40).to_bytes(2, "big") + syn[4:20] + opts + syn[20:]
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap_bytes([eth(0x0800, ip)], snaplen=54))
    result = analyze(AnalyzeOptions(paths=(str(path),)))
    assert result.analyses[0].decode_issues == 0
