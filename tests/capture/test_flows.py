"""The compiled flow keyer (_walker.c `flows`) against its pure-Python twin and a reference.

`chunk_flows` keys a chunk's TCP rows by connection and sums each direction in one
pass. Both implementations must fill identical arrays; and both must agree with a plain
per-row reference written here from the documented contract (tests/passive/test_merge.py
checks that `analyse` gives identical partials whichever of the two runs inside it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtuscope.capture import walk as walk_mod
from mtuscope.capture.walk import (
    FLOW_STATS,
    HAVE_C,
    SIZE_COLUMNS,
    SIZE_INPUTS,
    ChunkFlows,
    chunk_flows,
    chunk_sizes,
    flows_py,
    sizes_py,
)
from mtuscope.errors import UsageError

needs_c = pytest.mark.skipif(not HAVE_C, reason="the C extension (_walker.c) is not built")
NONE = -(1 << 63)

ROW = st.fixed_dictionaries(
    {
        "src_hi": st.sampled_from([0, 1, 2**64 - 1]),
        "src_lo": st.sampled_from([0, 5, 2**63]),
        "sport": st.sampled_from([0, 80, 65535]),
        "dst_hi": st.sampled_from([0, 1, 2**64 - 1]),
        "dst_lo": st.sampled_from([0, 5, 2**63]),
        "dport": st.sampled_from([0, 80, 65535]),
        "tcp_flags": st.integers(0, 0x1FF),
        "payload": st.sampled_from([0, 1, 1460, 2**32 - 1]),
        "ts_ns": st.integers(-(2**62), 2**62),
        "ip_len": st.sampled_from([0, 40, 1500, 2**32 - 1]),
        "family": st.sampled_from([4, 6]),
        "seq": st.integers(0, 2**32 - 1),
    }
)
DTYPES = {
    "src_hi": np.uint64,
    "src_lo": np.uint64,
    "sport": np.uint16,
    "dst_hi": np.uint64,
    "dst_lo": np.uint64,
    "dport": np.uint16,
    "tcp_flags": np.uint16,
    "payload": np.uint32,
    "frame": np.int64,
    "ts_ns": np.int64,
    "ip_len": np.uint32,
    "family": np.uint8,
    "seq": np.uint32,
}


def columns(rows: list[dict[str, int]]) -> dict[str, npt.NDArray[Any]]:
    frames = [{**r, "frame": 10 + 3 * i} for i, r in enumerate(rows)]
    return {k: np.array([r[k] for r in frames], dtype=dt) for k, dt in DTYPES.items()}


def reference(rows: list[dict[str, int]]) -> dict[tuple[int, ...], dict[str, int]]:
    """(a_hi, a_lo, a_port, b_hi, b_lo, b_port, dir) -> the sums, from the contract."""
    out: dict[tuple[int, ...], dict[str, int]] = {}
    for i, r in enumerate(rows):
        s = (r["src_hi"], r["src_lo"], r["sport"])
        d = (r["dst_hi"], r["dst_lo"], r["dport"])
        key = (*d, *s, 1) if s > d else (*s, *d, 0)
        frame, fl = 10 + 3 * i, r["tcp_flags"]
        e = out.setdefault(key, {"first_frame": frame, "family": r["family"], "packets": 0,
                                 "bytes": 0, "syns": 0, "rsts": 0, "fins": 0, "iplen0": 0,
                                 "ip_max": r["ip_len"], "first_ts": r["ts_ns"],
                                 "last_ts": r["ts_ns"], "tail_raw": NONE,
                                 "tail_frame": NONE})  # fmt: skip
        e["packets"] += 1
        e["bytes"] += r["payload"]
        e["last_frame"] = frame
        e["first_ts"] = min(e["first_ts"], r["ts_ns"])
        e["last_ts"] = max(e["last_ts"], r["ts_ns"])
        e["syns"] += bool(fl & 2)
        e["rsts"] += bool(fl & 4)
        e["fins"] += bool(fl & 1)
        e["iplen0"] += r["ip_len"] == 0 and r["family"] == 4
        e["ip_max"] = max(e["ip_max"], r["ip_len"])
        if not fl & 4:
            e["tail_raw"], e["tail_frame"] = r["seq"], frame
    return out


def as_dict(f: ChunkFlows) -> dict[tuple[int, ...], dict[str, int]]:
    out = {}
    for ch in range(f.stats.shape[1]):
        c, d = divmod(ch, 2)
        if f.stats[0, ch] == 0:
            continue
        key = (*f.keys[:2, c], f.ports[0, c], *f.keys[2:, c], f.ports[1, c], d)
        out[tuple(int(x) for x in key)] = {
            name: int(f.stats[i, ch]) for i, name in enumerate(FLOW_STATS)
        }
    return out


IMPLS: list[Any] = [pytest.param(flows_py, id="python")]
if HAVE_C:
    IMPLS.append(pytest.param(walk_mod.flows, id="c"))


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, max_size=60))
def test_flows_match_the_reference(impl: Any, rows: list[dict[str, int]]) -> None:
    f = chunk_flows(columns(rows), impl)
    assert as_dict(f) == reference(rows)
    # every row names its connection and direction; connections in order of first row
    assert f.first.tolist() == sorted(f.first.tolist())
    for i, r in enumerate(rows):
        c, d = int(f.conn[i]), int(f.dir[i])
        ends = [(int(f.keys[0, c]), int(f.keys[1, c]), int(f.ports[0, c])),
                (int(f.keys[2, c]), int(f.keys[3, c]), int(f.ports[1, c]))]  # fmt: skip
        assert ends[d] == (r["src_hi"], r["src_lo"], r["sport"])
        assert ends[1 - d] == (r["dst_hi"], r["dst_lo"], r["dport"])
        assert f.first[c] <= i


@needs_c
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, max_size=80))
def test_c_and_python_flows_fill_identical_arrays(rows: list[dict[str, int]]) -> None:
    a = chunk_flows(columns(rows), walk_mod.flows)
    b = chunk_flows(columns(rows), flows_py)
    for name in ("conn", "dir", "first", "keys", "ports", "stats"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


@needs_c
def test_many_connections_fill_the_hash_table() -> None:
    """65,536 rows over 20,000 connections: probing and growth paths of the C table."""
    rng = np.random.default_rng(7)
    m = 1 << 16
    hosts = rng.integers(0, 20_000, m)
    cols: dict[str, npt.NDArray[Any]] = {
        "src_hi": np.zeros(m, np.uint64),
        "src_lo": hosts.astype(np.uint64),
        "sport": np.full(m, 443, np.uint16),
        "dst_hi": np.zeros(m, np.uint64),
        "dst_lo": np.full(m, 1 << 40, np.uint64),
        "dport": (hosts % 7).astype(np.uint16),
        "tcp_flags": rng.integers(0, 32, m).astype(np.uint16),
        "payload": rng.integers(0, 1500, m).astype(np.uint32),
        "frame": np.arange(1, m + 1, dtype=np.int64),
        "ts_ns": rng.integers(0, 10**15, m),
        "ip_len": rng.integers(0, 1500, m).astype(np.uint32),
        "family": np.full(m, 4, np.uint8),
        "seq": rng.integers(0, 2**32, m).astype(np.uint32),
    }
    a = chunk_flows(cols, walk_mod.flows)
    b = chunk_flows(cols, flows_py)
    assert len(a.first) == len(np.unique(hosts))
    for name in ("conn", "dir", "first", "keys", "ports", "stats"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("impl", IMPLS)
def test_flows_refuse_columns_of_different_lengths(impl: Any) -> None:
    cols = columns([{k: 0 for k in DTYPES if k != "frame"}] * 3)
    cols["seq"] = cols["seq"][:2]
    with pytest.raises(UsageError):
        chunk_flows(cols, impl)


SEG = st.fixed_dictionaries(
    {
        "chain": st.integers(0, 5),
        "payload": st.sampled_from([1, 536, 1448, 1460, 65000]),
        "frame": st.integers(1, 10**9),
        "seq_end": st.integers(-(2**40), 2**40),
        "ttl": st.integers(0, 255),
        "ip_len": st.sampled_from([0, 40, 1500, 2**32 - 1]),
        "family": st.sampled_from([4, 6]),
        "wirelen": st.integers(0, 2**32 - 1),
        "hdr": st.sampled_from([40, 52, 60]),
    }
)
SIZES_IMPLS: list[Any] = [pytest.param(sizes_py, id="python")]
if HAVE_C:
    SIZES_IMPLS.append(pytest.param(walk_mod.sizes, id="c"))


def polars_sizes(segs: list[dict[str, int]]) -> pl.DataFrame:
    """The histogram as passive/chunk.py computed it before, with one polars group-by."""
    df = pl.DataFrame(segs, schema=dict.fromkeys(SIZE_INPUTS, pl.Int64))
    return df.group_by("chain", "payload").agg(
        count=pl.len().cast(pl.Int64),
        first_frame=pl.col("frame").min(),
        last_frame=pl.col("frame").max(),
        first_seq_end=pl.col("seq_end").first(),
        ttl_min=pl.col("ttl").min(),
        ttl_max=pl.col("ttl").max(),
        iplen0=((pl.col("ip_len") == 0) & (pl.col("family") == 4)).sum().cast(pl.Int64),
        ip_len_max=pl.col("ip_len").max(),
        wire_max=pl.col("wirelen").max(),
        hdr=pl.col("hdr").first(),
    )


@pytest.mark.parametrize("impl", SIZES_IMPLS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segs=st.lists(SEG, min_size=1, max_size=60))
def test_sizes_match_a_polars_group_by(impl: Any, segs: list[dict[str, int]]) -> None:
    cols = {k: np.array([s[k] for s in segs], np.int64) for k in SIZE_INPUTS}
    got = pl.DataFrame(chunk_sizes(cols, impl)).select(SIZE_COLUMNS)
    want = polars_sizes(segs).select(SIZE_COLUMNS)
    assert got.sort(SIZE_COLUMNS).equals(want.sort(SIZE_COLUMNS))
    # groups in order of first appearance
    firsts = [next(i for i, s in enumerate(segs) if (s["chain"], s["payload"]) == key)
              for key in zip(got["chain"], got["payload"], strict=True)]  # fmt: skip
    assert firsts == sorted(firsts)


@needs_c
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segs=st.lists(SEG, max_size=80))
def test_c_and_python_sizes_fill_identical_arrays(segs: list[dict[str, int]]) -> None:
    cols = {k: np.array([s[k] for s in segs], np.int64) for k in SIZE_INPUTS}
    a = chunk_sizes(cols, walk_mod.sizes)
    b = chunk_sizes(cols, sizes_py)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("impl", SIZES_IMPLS)
def test_sizes_refuse_a_wrong_shape(impl: Any) -> None:
    with pytest.raises(UsageError):
        impl(np.zeros((8, 4), np.int64), np.zeros((12, 4), np.int64))
    with pytest.raises(UsageError):
        impl(np.zeros((9, 4), np.int64), np.zeros((12, 3), np.int64))
