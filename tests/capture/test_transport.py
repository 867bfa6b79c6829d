"""The compiled transport pass (_walker.c `transport`) against its numpy twin.

`decode._decode_transport` reads the fixed transport fields of a chunk's rows
with `_transport_c` when the extension is built, else `_transport_np` (the numpy
gathers the decode used before). Both must fill identical columns and flag the
same lying data offsets and SYNs with options, whatever the bytes and offsets;
tests/capture/test_decode.py and the corpus tests check the decode's results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtuscope.capture import decode
from mtuscope.capture.records import HEADER_BYTES
from mtuscope.capture.table import PacketTable
from mtuscope.errors import UsageError

needs_c = pytest.mark.skipif(
    decode._c_transport is None, reason="the C extension (_walker.c) is not built"
)
FIELDS = ("sport", "dport", "seq", "ack", "tcp_flags", "win", "thl", "payload", "truncated")


@st.composite
def chunks(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 256, (n, HEADER_BYTES)).astype(np.uint8)
    # data offsets of every size, flags with SYN often
    block[:, 20 + 12] = rng.choice(np.array([0x00, 0x50, 0x80, 0xF0, 0x30], np.uint8), n)
    block[:, 20 + 13] = rng.choice(np.array([0x02, 0x12, 0x10, 0xFF], np.uint8), n)
    rows = np.flatnonzero(rng.random(n) < 0.8).astype(np.int64)
    k = len(rows)
    return {
        "block": block,
        "rows": rows,
        "l4": rng.choice(np.array([0, 20, 40, 60, 170, 185, 191, 300]), k).astype(np.int64),
        "hdr_len": rng.choice(np.array([0, 30, 40, 52, 60, 80, 192]), k).astype(np.int64),
        "wirelen": rng.integers(0, 70_000, k).astype(np.uint32),
        "l3_off": rng.choice(np.array([14, 18, 22, 100]), k).astype(np.int64),
        "proto": rng.choice(np.array([6, 6, 6, 17, 132, 33, 1, 58, 0], np.uint8), n),
        "ip_len": rng.choice(np.array([0, 20, 40, 60, 1500, 65535, 2**32 - 1]), n).astype(
            np.uint32
        ),
        "fragment": rng.random(n) < 0.2,
        "truncated": rng.random(n) < 0.1,
    }


def run(ch: dict[str, Any], impl: Any) -> tuple[dict[str, Any], Any, Any]:
    n = len(ch["block"])
    c = {k: v.copy() for k, v in PacketTable.empty(n).columns.items()}
    for k in ("proto", "ip_len", "fragment", "truncated"):
        c[k][:] = ch[k]
    lie, syn = impl(
        c, ch["block"], ch["rows"], ch["l4"], ch["hdr_len"], ch["wirelen"], ch["l3_off"]
    )
    return c, lie, syn


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ch=chunks())
def test_c_and_numpy_transport_fill_identical_columns(ch: dict[str, Any]) -> None:
    a, lie_a, syn_a = run(ch, decode._transport_c)
    b, lie_b, syn_b = run(ch, decode._transport_np)
    for name in FIELDS:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name
    assert np.array_equal(lie_a, lie_b) and lie_a.dtype == lie_b.dtype
    assert np.array_equal(syn_a, syn_b) and syn_a.dtype == syn_b.dtype


@needs_c
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ch=chunks())
def test_decode_transport_gives_the_same_lies_either_way(ch: dict[str, Any]) -> None:
    """The whole transport step (lines for the lying offsets, SYN options) on both twins."""
    ch = {**ch, "proto": np.where(np.isin(ch["proto"], [1, 58]), 6, ch["proto"])}
    out = []
    for impl in (decode._transport_c, decode._transport_np):
        n = len(ch["block"])
        c = {k: v.copy() for k, v in PacketTable.empty(n).columns.items()}
        for k in ("proto", "ip_len", "fragment", "truncated"):
            c[k][:] = ch[k]
        lies = decode._decode_transport(
            c,
            ch["block"],
            ch["rows"],
            ch["l4"],
            ch["hdr_len"],
            ch["wirelen"],
            ch["l3_off"],
            impl=impl,
        )
        out.append((lies, c))
    (lies_a, a), (lies_b, b) = out
    assert lies_a == lies_b
    for name in (*FIELDS, "mss", "wscale", "sack_perm", "tsopt"):
        assert np.array_equal(a[name], b[name]), name


@needs_c
def test_a_known_tcp_header() -> None:
    block = np.zeros((1, HEADER_BYTES), np.uint8)
    block[0, 20:40] = list(bytes.fromhex("c35001bb0000000100000002501201f50000"[:36])) + [0, 0]
    ch = {
        "block": block,
        "rows": np.array([0], np.int64),
        "l4": np.array([20], np.int64),
        "hdr_len": np.array([40], np.int64),
        "wirelen": np.array([1514], np.uint32),
        "l3_off": np.array([14], np.int64),
        "proto": np.array([6], np.uint8),
        "ip_len": np.array([1500], np.uint32),
        "fragment": np.array([False]),
        "truncated": np.array([False]),
    }
    c, lie, syn = run(ch, decode._transport_c)
    got = {k: int(c[k][0]) for k in FIELDS}
    assert got == {"sport": 50000, "dport": 443, "seq": 1, "ack": 2, "tcp_flags": 0x012,
                   "win": 501, "thl": 20, "payload": 1460, "truncated": 0}  # fmt: skip
    assert lie.tolist() == [0] and syn.tolist() == [False]


@needs_c
def test_transport_refuses_a_row_outside_the_block() -> None:
    ch = {
        "block": np.zeros((2, HEADER_BYTES), np.uint8),
        "rows": np.array([0, 2], np.int64),
        "l4": np.array([20, 20], np.int64),
        "hdr_len": np.array([40, 40], np.int64),
        "wirelen": np.array([60, 60], np.uint32),
        "l3_off": np.array([14, 14], np.int64),
        "proto": np.array([6, 6], np.uint8),
        "ip_len": np.array([40, 40], np.uint32),
        "fragment": np.array([False, False]),
        "truncated": np.array([False, False]),
    }
    with pytest.raises(UsageError):
        run(ch, decode._transport_c)
