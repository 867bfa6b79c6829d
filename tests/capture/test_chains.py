"""The compiled chain pass (_walker.c `chains`) against its pure-Python twin and a reference.

`chunk_chains` unwraps each direction's sequence numbers and classifies its data
segments in one pass over a chunk's TCP rows in file order. Both implementations
must fill identical arrays; and both must agree with a reference written here the
other way round from the documented contract: events gathered per chain first, the
values unwrapped with `passive.sequence.unwrap` (the numpy code the chunk analysis
used before), then each chain's events walked on their own
(tests/passive/test_merge.py checks that `analyse` gives identical partials
whichever implementation runs inside it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtuscope.capture import walk as walk_mod
from mtuscope.capture.walk import (
    CHAIN_STATE,
    HAVE_C,
    SEGMENT_COLUMNS,
    ChunkChains,
    chains_py,
    chunk_chains,
)
from mtuscope.errors import UsageError
from mtuscope.passive.sequence import unwrap

needs_c = pytest.mark.skipif(not HAVE_C, reason="the C extension (_walker.c) is not built")
NONE = -(1 << 63)
FIN, SYN, RST, ACK = 1, 2, 4, 16

IMPLS: list[Any] = [pytest.param(chains_py, id="python")]
if HAVE_C:
    IMPLS.append(pytest.param(walk_mod.chains, id="c"))

ROW = st.fixed_dictionaries(
    {
        "conn": st.integers(0, 2),
        "dir": st.integers(0, 1),
        "tcp_flags": st.sampled_from([ACK, ACK, ACK, SYN, SYN | ACK, FIN | ACK, RST, 0, 0x1FF]),
        "payload": st.sampled_from([0, 0, 1, 100, 1448, 1460]),
        # steps forward, back, and across the 32-bit wrap
        "seq": st.one_of(st.integers(0, 5000), st.integers(2**32 - 5000, 2**32 - 1)),
        "ack": st.one_of(st.integers(0, 5000), st.integers(2**32 - 5000, 2**32 - 1)),
        "ts_ns": st.integers(0, 2**62),
    }
)
DTYPES = {
    "conn": np.int64,
    "dir": np.uint8,
    "tcp_flags": np.uint16,
    "payload": np.uint32,
    "seq": np.uint32,
    "ack": np.uint32,
    "frame": np.int64,
    "ts_ns": np.int64,
}


def columns(rows: list[dict[str, int]]) -> dict[str, npt.NDArray[Any]]:
    frames = [{**r, "frame": 7 + 2 * i} for i, r in enumerate(rows)]
    return {k: np.array([r[k] for r in frames], dtype=dt) for k, dt in DTYPES.items()}


def seq_len(r: dict[str, int]) -> int:
    """Sequence numbers a segment takes: its payload, and one each for SYN and FIN."""
    return r["payload"] + (1 if r["tcp_flags"] & FIN else 0) + (1 if r["tcp_flags"] & SYN else 0)


def reference(
    rows: list[dict[str, int]], nconn: int, span: int, max_records: int, keep: bool
) -> tuple[dict[int, dict[str, int]], list[tuple[int, ...]], list[tuple[int, ...]], list[int]]:
    """Per chain with events: its state; the records and retransmissions (chain order);
    the data end of each row."""
    ev_chain, ev_row, ev_kind = [], [], []
    for i, r in enumerate(rows):
        if r["tcp_flags"] & RST:
            continue
        if r["payload"] > 0 or r["tcp_flags"] & (SYN | FIN):
            ev_chain.append(2 * r["conn"] + r["dir"])
            ev_row.append(i)
            ev_kind.append(0)
        if r["tcp_flags"] & ACK:
            ev_chain.append(2 * r["conn"] + 1 - r["dir"])
            ev_row.append(i)
            ev_kind.append(1)
    ch = unwrap(
        chain=np.array(ev_chain, np.int64),
        row=np.array(ev_row, np.int64),
        kind=np.array(ev_kind, np.int8),
        seq=np.array([r["seq"] for r in rows], np.int64),
        ack=np.array([r["ack"] for r in rows], np.int64),
    )
    state: dict[int, dict[str, int]] = {}
    recs: list[tuple[int, ...]] = []
    retx: list[tuple[int, ...]] = []
    ends = [NONE] * len(rows)
    for chain in ch.ids.tolist():
        sel = ch.chain == chain
        events = list(
            zip(ch.row[sel].tolist(), ch.kind[sel].tolist(), ch.value[sel].tolist(), strict=True)
        )
        s = dict.fromkeys(CHAIN_STATE, NONE)
        s["events"] = len(events)
        s["nrec"] = 0
        s["first_raw"] = int(ch.first_raw[ch.ids == chain][0])
        s["last_raw"] = int(ch.last_raw[ch.ids == chain][0])
        s["last_abs"] = int(ch.last_value[ch.ids == chain][0])
        acks = [v for _, k, v in events if k == 1]
        seqs = [(row, v) for row, k, v in events if k == 0]
        if acks:
            s["ack_max"] = max(acks)
        for n, (row, start) in enumerate(seqs):
            r = rows[row]
            end = start + seq_len(r)
            before = [sv + seq_len(rows[rr]) for rr, sv in seqs[:n]]
            if n == 0:
                s["ev_first_start"], s["ev_first_frame"] = start, 7 + 2 * row
            elif start > max(before):
                s["jump_start"], s["jump_gap"] = start, max(before)
                s["jump_frame"], s["jump_prev_frame"] = 7 + 2 * row, 7 + 2 * seqs[n - 1][0]
            s["reach"] = max([*before, end])
            s["ev_last_frame"] = 7 + 2 * row
        data = [(row, v) for row, v in seqs if rows[row]["payload"] > 0]
        for n, (row, start) in enumerate(data):
            r = rows[row]
            end = start + r["payload"]
            ends[row] = end
            acks_before = [v for rr, k, v in events if k == 1 and rr < row]
            seg = (chain, 7 + 2 * row, r["ts_ns"], start, end, r["payload"],
                   max(acks_before) if acks_before else NONE)  # fmt: skip
            if n == 0:
                s["first_start"], s["retrans"] = start, 0
            prev = max((v + rows[rr]["payload"] for rr, v in data[:n]), default=None)
            if prev is not None and end <= prev and not (r["payload"] == 1 and end == prev):
                s["retrans"] += 1
                retx.append(seg)
            else:
                s["nrec"] += 1
                if keep and s["nrec"] <= max_records and end <= s["first_start"] + span:
                    recs.append(seg)
            s["high"] = max(v + rows[rr]["payload"] for rr, v in data[: n + 1])
        state[chain] = s
    assert all(0 <= c < 2 * nconn for c in state)
    return state, recs, retx, ends


def as_state(c: ChunkChains) -> dict[int, dict[str, int]]:
    return {
        ch: {name: int(c.state[i, ch]) for i, name in enumerate(CHAIN_STATE)}
        for ch in range(c.state.shape[1])
        if c.state[0, ch] > 0
    }


def as_rows(a: npt.NDArray[np.int64]) -> list[tuple[int, ...]]:
    """Segment rows in chain order (file order within a chain)."""
    rows = [tuple(int(x) for x in a[:, j]) for j in range(a.shape[1])]
    return sorted(rows, key=lambda r: r[0])


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(ROW, max_size=50),
    span=st.sampled_from([1 << 24, 3000]),
    max_records=st.sampled_from([4096, 2]),
    keep=st.booleans(),
)
def test_chains_match_the_reference(
    impl: Any, rows: list[dict[str, int]], span: int, max_records: int, keep: bool
) -> None:
    got = chunk_chains(columns(rows), 3, span=span, max_records=max_records, keep_records=keep,
                       impl=impl)  # fmt: skip
    state, recs, retx, ends = reference(rows, 3, span, max_records, keep)
    assert as_state(got) == state
    assert as_rows(got.records) == recs
    assert as_rows(got.retrans) == retx
    assert got.seg_end.tolist() == ends
    # chains without events: all "no value" but the counts
    for ch in range(6):
        if ch not in state:
            col = got.state[:, ch].tolist()
            assert col == [0 if n in ("events", "nrec") else NONE for n in CHAIN_STATE]
    assert got.records.shape[0] == got.retrans.shape[0] == len(SEGMENT_COLUMNS)


@needs_c
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, max_size=80), keep=st.booleans())
def test_c_and_python_chains_fill_identical_arrays(rows: list[dict[str, int]], keep: bool) -> None:
    kw: dict[str, Any] = {"span": 4000, "max_records": 3, "keep_records": keep}
    a = chunk_chains(columns(rows), 3, impl=walk_mod.chains, **kw)
    b = chunk_chains(columns(rows), 3, impl=chains_py, **kw)
    for name in ("seg_end", "state", "records", "retrans"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


@needs_c
def test_a_long_flow_with_wraps_and_retransmissions() -> None:
    """60,000 rows of 50 connections, sequence numbers wrapping, 1 in 20 segments resent."""
    rng = np.random.default_rng(3)
    m = 60_000
    conn = rng.integers(0, 50, m)
    d = rng.integers(0, 2, m).astype(np.uint8)
    pay = rng.choice(np.array([0, 1, 536, 1448], np.uint32), m)
    isn = rng.integers(0, 2**32, 100)
    sent = np.zeros(100, np.int64)
    seq = np.empty(m, np.uint32)
    for i in range(m):
        ch = 2 * conn[i] + d[i]
        back = 2896 if rng.random() < 0.05 else 0
        seq[i] = (isn[ch] + sent[ch] - back) % 2**32
        sent[ch] += pay[i] if not back else 0
    cols: dict[str, npt.NDArray[Any]] = {
        "conn": conn,
        "dir": d,
        "tcp_flags": rng.choice(np.array([ACK, ACK, SYN, FIN | ACK, RST], np.uint16), m),
        "payload": pay,
        "seq": seq,
        "ack": rng.integers(0, 2**32, m).astype(np.uint32),
        "frame": np.arange(1, m + 1, dtype=np.int64),
        "ts_ns": rng.integers(0, 10**15, m),
    }
    kw: dict[str, Any] = {"span": 1 << 24, "max_records": 4096, "keep_records": True}
    a = chunk_chains(cols, 50, impl=walk_mod.chains, **kw)
    b = chunk_chains(cols, 50, impl=chains_py, **kw)
    assert a.retrans.shape[1] > 100
    for name in ("seg_end", "state", "records", "retrans"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("impl", IMPLS)
def test_chains_refuse_a_row_of_no_connection(impl: Any) -> None:
    cols = columns([{"conn": 0, "dir": 0, "tcp_flags": 0, "payload": 1, "seq": 0, "ack": 0,
                     "ts_ns": 0}] * 2)  # fmt: skip
    kw: dict[str, Any] = {"span": 1, "max_records": 1, "keep_records": True, "impl": impl}
    with pytest.raises(UsageError):
        chunk_chains(cols, 0, **kw)
    cols["dir"][1] = 2
    with pytest.raises(UsageError):
        chunk_chains(cols, 1, **kw)
