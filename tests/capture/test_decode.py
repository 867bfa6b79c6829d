"""capture/decode.py: the bulk decoder against hand-built headers and wire/'s decoders."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mtuscope.capture.decode import _gather, _gather_flat, decode_chunk
from mtuscope.capture.records import HEADER_BYTES, NO_OFFSET, RECORD_DTYPE, WalkStatus
from mtuscope.capture.table import address_text
from mtuscope.wire.tcp_options import decode_tcp_options


def _ipv4(
    proto: int,
    payload: bytes,
    *,
    src: bytes,
    dst: bytes,
    flags: int = 0x4000,
    ttl: int = 64,
    ident: int = 7,
) -> bytes:
    return (
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, flags, ttl, proto, 0, src, dst
        )
        + payload
    )


def _tcp(
    sport: int,
    dport: int,
    seq: int,
    flags: int,
    options: bytes = b"",
    data: bytes = b"",
    ack: int = 0,
) -> bytes:
    thl = 20 + len(options)
    return (
        struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (thl // 4) << 4, flags, 65535, 0, 0)
        + options
        + data
    )


def _chunk(packets: list[tuple[bytes, int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """records and block for IP packets: (bytes from the IP header, family, l4 offset)."""
    rec = np.zeros(len(packets), dtype=RECORD_DTYPE)
    block = np.zeros((len(packets), HEADER_BYTES), dtype=np.uint8)
    for i, (pkt, family, l4) in enumerate(packets):
        n = min(len(pkt), HEADER_BYTES)
        block[i, :n] = np.frombuffer(pkt[:n], dtype=np.uint8)
        rec[i]["caplen"] = rec[i]["wirelen"] = len(pkt) + 14
        rec[i]["l3_off"] = 14
        rec[i]["linktype"] = 1
        rec[i]["family"] = family
        rec[i]["l4_off"] = l4
        rec[i]["l4_proto"] = pkt[9] if family == 4 else pkt[6]
        rec[i]["v6frag_off"] = NO_OFFSET
        rec[i]["hdr_len"] = n
        rec[i]["status"] = WalkStatus.OK
    return rec, block


A = bytes([192, 0, 2, 1])
B = bytes([198, 51, 100, 2])
MSS_WS_SACK_TS = bytes.fromhex("020405b40402080a000000010000000001030307")


def test_ipv4_syn_fields_and_options() -> None:
    pkt = _ipv4(6, _tcp(40000, 443, 1000, 0x02, MSS_WS_SACK_TS), src=A, dst=B)
    t = decode_chunk(*_chunk([(pkt, 4, 20)]), np.zeros(1, np.int64), 5)
    assert t["frame"][0] == 5
    assert address_text(t["src_hi"][0], t["src_lo"][0], t["family"][0]) == "192.0.2.1"
    assert address_text(t["dst_hi"][0], t["dst_lo"][0], t["family"][0]) == "198.51.100.2"
    assert (t["sport"][0], t["dport"][0], t["seq"][0], t["tcp_flags"][0]) == (40000, 443, 1000, 2)
    assert (t["mss"][0], t["wscale"][0], t["sack_perm"][0], t["tsopt"][0]) == (1460, 7, True, True)
    assert t["df"][0] and not t["mf"][0] and not t["fragment"][0]
    assert t["thl"][0] == 20 + len(MSS_WS_SACK_TS) and t["payload"][0] == 0


def test_data_segment_payload_and_tso_zero_length() -> None:
    data = _ipv4(6, _tcp(1, 2, 5, 0x18, data=b"x" * 1000), src=A, dst=B)
    tso = bytearray(data)
    tso[2:4] = b"\x00\x00"  # TSO frames captured on the sender carry total length 0
    rec, block = _chunk([(data, 4, 20), (bytes(tso), 4, 20)])
    rec[1]["wirelen"] = 14 + 20 + 20 + 30000
    t = decode_chunk(rec, block, np.zeros(2, np.int64), 1)
    assert t["payload"].tolist() == [1000, 30000]
    assert t["mss"].tolist() == [-1, -1]  # options only for SYNs


def test_ipv6_fragment_header() -> None:
    frag = struct.pack("!BBHI", 6, 0, (185 << 3) | 1, 0xABCDEF01)
    body = frag + b"\0" * 8
    pkt = struct.pack("!IHBB16s16s", 6 << 28, len(body), 44, 63, bytes(16), bytes(15) + b"\1")
    rec, block = _chunk([(pkt + body, 6, NO_OFFSET)])
    rec[0]["v6frag_off"] = 40
    rec[0]["l4_proto"] = 6
    t = decode_chunk(rec, block, np.zeros(1, np.int64), 1)
    assert t["fragment"][0] and t["mf"][0]
    assert (t["frag_off"][0], t["ip_id"][0], t["ttl"][0]) == (185 * 8, 0xABCDEF01, 63)
    assert address_text(t["dst_hi"][0], t["dst_lo"][0], t["family"][0]) == "::1"
    assert t["sport"][0] == 0  # a fragment carries no transport header here


def test_icmp_frag_needed_quotes_the_connection() -> None:
    quoted = _ipv4(6, _tcp(40000, 443, 777, 0x10), src=A, dst=B)[:28]
    icmp = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + quoted
    pkt = _ipv4(1, icmp, src=bytes([203, 0, 113, 9]), dst=A, ttl=254)
    t = decode_chunk(*_chunk([(pkt, 4, 20)]), np.zeros(1, np.int64), 1)
    assert (t["icmp_type"][0], t["icmp_code"][0], t["icmp_mtu"][0]) == (3, 4, 1400)
    assert address_text(t["q_src_hi"][0], t["q_src_lo"][0], t["q_family"][0]) == "192.0.2.1"
    assert (t["q_sport"][0], t["q_dport"][0], t["q_seq"][0], t["q_proto"][0]) == (
        40000,
        443,
        777,
        6,
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=8))
def test_vectorised_option_walk_equals_wire_decoder(option_areas: list[bytes]) -> None:
    packets = []
    for raw in option_areas:
        opts = raw + b"\0" * (-len(raw) % 4)
        packets.append((_ipv4(6, _tcp(1, 2, 3, 0x02, opts[:40]), src=A, dst=B), 4, 20))
    t = decode_chunk(*_chunk(packets), np.zeros(len(packets), np.int64), 1)
    for i, (pkt, _, _) in enumerate(packets):
        ref = decode_tcp_options(pkt[40 : 20 + (pkt[32] >> 4) * 4])
        assert t["mss"][i] == (-1 if ref.mss is None else ref.mss)
        assert t["wscale"][i] == (-1 if ref.wscale is None else ref.wscale)
        assert bool(t["sack_perm"][i]) == ref.sack_permitted
        assert bool(t["tsopt"][i]) == (ref.timestamps is not None)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, HEADER_BYTES + 8), min_size=0, max_size=40),
    st.integers(1, 40),
    st.booleans(),
)
def test_gather_slices_equal_flat_take(starts: list[int], width: int, subset: bool) -> None:
    """Per-offset slicing (few distinct offsets) and the flat take (many) read the same bytes,
    zeros past the block, from all rows or from chosen ones."""
    rng = np.random.default_rng(len(starts) * 41 + width)
    block = rng.integers(0, 256, size=(len(starts) * 2 + 1, HEADER_BYTES), dtype=np.uint8)
    start = np.asarray(starts, dtype=np.int64)
    rows = np.arange(len(starts), dtype=np.int64) * 2 + 1 if subset else None
    if rows is None:
        block = block[: len(starts)]
    got = _gather(block, start, width, rows)
    want = np.zeros((len(starts), width), dtype=np.uint8)
    for i, s in enumerate(starts):
        r = block[i if rows is None else rows[i]]
        part = r[s : s + width]
        want[i, : len(part)] = part
    assert np.array_equal(got, want)
    assert np.array_equal(_gather_flat(block, start, width, rows), want)
