"""Captures that hide or bend headers: PPP field compression, header lengths that lie.

Each capture is built here, frame by frame, and read through the analyze job, so
a frame that does not decode must show as a decode issue and a warning, and the
rest must still be analysed.
"""

from __future__ import annotations

from pathlib import Path

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
