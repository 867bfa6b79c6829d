"""The compiled IP header pass (_walker.c `network`) against its numpy twin.

`decode._decode_network` reads the fixed IPv4 and IPv6 header fields of every row
with `_network_c` when the extension is built, else `_network_np` (the numpy
column reads the decode used before). Both must fill identical columns whatever
the bytes, families and lengths; tests/capture/test_decode.py and the corpus
tests check the decode's results.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtuscope.capture import decode
from mtuscope.capture.records import HEADER_BYTES, NO_OFFSET, RECORD_DTYPE
from mtuscope.capture.table import PacketTable
from mtuscope.errors import UsageError

needs_c = pytest.mark.skipif(
    decode._c_network is None, reason="the C extension (_walker.c) is not built"
)
FIELDS: tuple[str, ...] = ("src_hi", "src_lo", "dst_hi", "dst_lo", "ip_len", "ip_hlen")
FIELDS += ("ttl", "ip_id")
FIELDS += ("df", "mf", "frag_off", "fragment", "truncated")


def chunk(seed: int, n: int, families: list[int]) -> tuple[Any, Any, Any]:
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 256, (n, HEADER_BYTES)).astype(np.uint8)
    rec = np.zeros(n, RECORD_DTYPE)
    rec["family"] = rng.choice(np.array(families, np.uint8), n)
    rec["hdr_len"] = rng.choice(np.array([0, 19, 20, 39, 40, 60, 192]), n)
    rec["l4_off"] = rng.choice(np.array([20, 40, 48, NO_OFFSET]), n)
    rec["v6frag_off"] = NO_OFFSET
    return block, rec, rec["hdr_len"].astype(np.int64)


def run(block: Any, rec: Any, hdr_len: Any, impl: Any) -> dict[str, Any]:
    c = {k: v.copy() for k, v in PacketTable.empty(len(rec)).columns.items()}
    impl(c, block, rec, hdr_len)
    return c


@needs_c
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 50),
    families=st.sampled_from([[4], [6], [0, 4, 6], [0, 4, 4, 6, 1]]),
)
def test_c_and_numpy_network_fill_identical_columns(seed: int, n: int, families: list[int]) -> None:
    block, rec, hdr_len = chunk(seed, n, families)
    a = run(block, rec, hdr_len, decode._network_c)
    b = run(block, rec, hdr_len, decode._network_np)
    for name in FIELDS:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name


@needs_c
def test_a_known_ipv4_header() -> None:
    block = np.zeros((1, HEADER_BYTES), np.uint8)
    block[0, :20] = list(bytes.fromhex("450005dc1234400040060000c0000201cb007105"))
    rec = np.zeros(1, RECORD_DTYPE)
    rec["family"], rec["hdr_len"], rec["l4_off"] = 4, 60, 20
    c = run(block, rec, rec["hdr_len"].astype(np.int64), decode._network_c)
    got = {k: int(c[k][0]) for k in FIELDS}
    assert got == {"src_hi": 0, "src_lo": 0xFFFF_C000_0201, "dst_hi": 0,
                   "dst_lo": 0xFFFF_CB00_7105, "ip_len": 1500, "ip_hlen": 20, "ttl": 64,
                   "ip_id": 0x1234, "df": 1, "mf": 0, "frag_off": 0, "fragment": 0,
                   "truncated": 0}  # fmt: skip


@needs_c
def test_network_refuses_columns_of_another_length() -> None:
    block, rec, hdr_len = chunk(1, 4, [4])
    c = {k: v.copy() for k, v in PacketTable.empty(3).columns.items()}
    assert decode._c_network is not None
    with pytest.raises(UsageError):
        decode._c_network(block, np.ascontiguousarray(rec["family"]), hdr_len,
                          rec["l4_off"].astype(np.int64), *(c[k] for k in FIELDS))  # fmt: skip
