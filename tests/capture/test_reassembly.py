"""capture/reassembly.py: TCP headers split across IP fragments, through analyze.

Captures are built here: SYNs whose TCP header is cut after 8 bytes (the first
fragment carrying the ports and the sequence number only), overlaps, bounds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.capture import reassembly
from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import iter_chunks
from mtuscope.capture.table import DecodeIssue
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
    fragment_piece4,
    fragment_piece6,
    fragments4,
    fragments6,
    tcp_ip,
    write_pcap,
)


def _syn(c: str, s: str, mss: int) -> bytes:
    return tcp_ip(c, s, 40000, 443, seq=100, flags=SYN, mss=mss, wscale=7, sack_permitted=True)


def _rest(c: str, s: str, mss: int) -> list[bytes]:
    return [
        tcp_ip(s, c, 443, 40000, seq=900, ack=101, flags=SYN_ACK, mss=mss),
        tcp_ip(c, s, 40000, 443, seq=101, ack=901, flags=ACK),
    ]


def test_a_syn_split_after_8_bytes_of_tcp_is_found_v4_and_v6(tmp_path: Path) -> None:
    frames = [eth(0x0800, f) for f in fragments4(_syn(CLIENT4, SERVER4, 1452), [0, 8, 16])]
    frames += [eth(0x0800, p) for p in _rest(CLIENT4, SERVER4, 1430)]
    frames += [eth(0x86DD, f) for f in fragments6(_syn(CLIENT6, SERVER6, 1432), [0, 8])]
    frames += [eth(0x86DD, p) for p in _rest(CLIENT6, SERVER6, 1410)]
    result = analyse_frames(tmp_path, frames)
    a = result.analyses[0]
    conns = a.connections
    assert [(c.family, c.client.port, c.client.mss, c.server.mss) for c in conns] == [
        (4, 40000, 1452, 1430),
        (6, 40000, 1432, 1410),
    ]
    # the SYN is the fragment that completed the datagram, as Wireshark shows it
    assert (conns[0].client.handshake_frame, conns[1].client.handshake_frame) == (3, 7)
    assert (conns[0].client.wscale, conns[0].client.sack_perm) == (7, True)
    assert conns[0].client_rule == "syn"
    assert a.decode_issues == 0
    # the fragments are still reported as such
    assert [(f.family, f.fragments, f.proto) for f in a.fragments] == [(4, 3, 6), (6, 2, 6)]


def test_fragments_out_of_order_and_duplicated(tmp_path: Path) -> None:
    f = fragments4(_syn(CLIENT4, SERVER4, 1452), [0, 8, 16])
    frames = [eth(0x0800, x) for x in (f[2], f[0], f[0], f[1])]
    frames += [eth(0x0800, p) for p in _rest(CLIENT4, SERVER4, 1430)]
    a = analyse_frames(tmp_path, frames).analyses[0]
    [conn] = a.connections
    assert (conn.client.mss, conn.client.handshake_frame) == (1452, 4)
    assert a.decode_issues == 0
    # the first fragment (8 bytes of TCP) arriving last completes the datagram itself
    frames = [eth(0x0800, x) for x in (f[1], f[2], f[0])]
    frames += [eth(0x0800, p) for p in _rest(CLIENT4, SERVER4, 1430)]
    a = analyse_frames(tmp_path, frames).analyses[0]
    [conn] = a.connections
    assert (conn.client.mss, conn.client.handshake_frame) == (1452, 3)


def test_overlapping_ipv6_fragments_drop_the_datagram(tmp_path: Path) -> None:
    syn = _syn(CLIENT6, SERVER6, 1432)
    data = syn[40:]
    frames = [
        eth(0x86DD, fragment_piece6(syn, 0, data[:16], more=True)),
        eth(0x86DD, fragment_piece6(syn, 8, data[8:], more=False)),  # overlaps 8..16
    ]
    frames += [eth(0x86DD, p) for p in _rest(CLIENT6, SERVER6, 1410)]
    result = analyse_frames(tmp_path, frames)
    a = result.analyses[0]
    [conn] = a.connections
    assert conn.client.mss is None and conn.client_rule == "syn-ack"  # no SYN: dropped
    assert a.decode_issues == 1
    assert any("overlapping IPv6 fragments" in w and "frame 2" in w for w in result.warnings)


def test_overlapping_ipv4_fragments_are_reported_and_the_later_bytes_win(tmp_path: Path) -> None:
    syn = _syn(CLIENT4, SERVER4, 1452)
    other = _syn(CLIENT4, SERVER4, 1200)  # the same SYN with another MSS
    frames = [
        eth(0x0800, fragment_piece4(syn, 0, syn[20:44], more=True)),
        eth(0x0800, fragment_piece4(other, 16, other[36:], more=False)),  # rewrites 16..24
    ]
    frames += [eth(0x0800, p) for p in _rest(CLIENT4, SERVER4, 1430)]
    result = analyse_frames(tmp_path, frames)
    a = result.analyses[0]
    [conn] = a.connections
    assert conn.client.mss == 1200
    assert a.decode_issues == 1
    assert any("overlapping IPv4 fragments" in w for w in result.warnings)


def test_a_split_header_never_completed_is_an_issue(tmp_path: Path) -> None:
    f = fragments4(_syn(CLIENT4, SERVER4, 1452), [0, 8, 16])
    frames = [eth(0x0800, x) for x in (f[0], f[2])]  # the middle fragment is lost
    frames += [eth(0x0800, p) for p in _rest(CLIENT4, SERVER4, 1430)]
    result = analyse_frames(tmp_path, frames)
    assert result.analyses[0].decode_issues == 1
    assert any("TCP header split across IP fragments" in w for w in result.warnings)


def _decoded(path: Path) -> tuple[list[DecodeIssue], int]:
    issues: list[DecodeIssue] = []
    done = 0
    for chunk in iter_chunks(str(path)):
        t = decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
        issues += t.issues
        done += int(np.count_nonzero(t["reassembled"]))
    return issues, done


def test_datagrams_held_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = []
    for k in range(3):  # three first fragments in progress, then the ends of two
        syn = tcp_ip(CLIENT4, SERVER4, 40000 + k, 443, seq=100, flags=SYN, mss=1452)
        frames.append(fragments4(syn, [0, 8], ident=k + 1))
    order = [f[0] for f in frames] + [frames[1][1], frames[2][1]]
    path = tmp_path / "t.pcap"
    write_pcap(path, [eth(0x0800, x) for x in order])
    issues, done = _decoded(path)
    assert done == 2 and [(i.frame, "not all captured" in i.error) for i in issues] == [(1, True)]
    monkeypatch.setattr(reassembly, "MAX_HELD", 2)
    issues, done = _decoded(path)
    assert done == 2  # the oldest was given up when the third began
    assert [(i.frame, "2 datagrams in progress" in i.error) for i in issues] == [(1, True)]


def test_fragments_per_datagram_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syn = tcp_ip(CLIENT4, SERVER4, 40000, 443, seq=100, flags=SYN, mss=1452)
    path = tmp_path / "t.pcap"
    write_pcap(path, [eth(0x0800, x) for x in fragments4(syn, [0, 8, 16])])
    assert _decoded(path) == ([], 1)
    monkeypatch.setattr(reassembly, "MAX_PIECES", 2)
    issues, done = _decoded(path)
    assert done == 0 and [i.frame for i in issues] == [3]
    assert "over 2 fragments" in issues[0].error


@settings(max_examples=150, deadline=None)
@given(
    pieces=st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 64), st.booleans(), st.integers(0, 2)),
        min_size=1,
        max_size=12,
    ),
    v6=st.booleans(),
    seed=st.binary(min_size=64, max_size=64),
)
def test_any_fragments_decode_or_are_issues(
    tmp_path_factory: pytest.TempPathFactory,
    pieces: list[tuple[int, int, bool, int]],
    v6: bool,
    seed: bytes,
) -> None:
    # random offsets (8-byte units), lengths, MF bits and identifications over random data
    syn = _syn(CLIENT6, SERVER6, 1432) if v6 else _syn(CLIENT4, SERVER4, 1452)
    data = (syn[40 if v6 else 20 :] + seed * 6)[:400]
    frames = []
    for unit, length, more, ident in pieces:
        at = unit * 8
        if v6:
            piece = fragment_piece6(syn, at, data[at : at + length], more=more, ident=ident)
            frames.append(eth(0x86DD, piece))
        else:
            piece = fragment_piece4(syn, at, data[at : at + length], more=more, ident=ident)
            frames.append(eth(0x0800, piece))
    path = tmp_path_factory.mktemp("frags") / "t.pcap"
    write_pcap(path, frames)
    for chunk in iter_chunks(str(path)):
        t = decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
        assert all(isinstance(i, DecodeIssue) and i.frame >= 1 for i in t.issues)
        r = np.asarray(t["reassembled"], dtype=bool)
        assert not (r & np.asarray(t["truncated"], dtype=bool)).any()
        assert np.asarray(t["fragment"])[r].all() and (np.asarray(t["thl"])[r] >= 20).all()
