"""Sequence unwrapping and per-group running maxima."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mtuscope.passive.sequence import group_rows, running_max, signed_step, unwrap


def test_signed_step_reads_32_bit_differences() -> None:
    assert int(signed_step(5, 2**32 - 5)) == 10
    assert int(signed_step(2**32 - 5, 5)) == -10
    assert int(signed_step(7, 7)) == 0


def test_unwrap_orders_chains_and_crosses_the_wrap() -> None:
    seq = np.array([2**32 - 10, 20, 5, 2**32 - 10], dtype=np.int64)
    ack = np.array([0, 0, 2**32 - 10, 0], dtype=np.int64)
    # chain 3 gets rows 0,1,3 (seq); chain 1 gets row 2 as an ack.
    ch = unwrap(
        chain=np.array([3, 3, 3, 1], dtype=np.int64),
        row=np.array([0, 1, 3, 2], dtype=np.int64),
        kind=np.array([0, 0, 0, 1], dtype=np.int8),
        seq=seq,
        ack=ack,
    )
    assert ch.chain.tolist() == [1, 3, 3, 3]
    assert ch.row.tolist() == [2, 0, 1, 3]
    assert ch.value.tolist() == [2**32 - 10, 2**32 - 10, 2**32 + 20, 2**32 - 10]
    assert ch.ids.tolist() == [1, 3]
    assert ch.last_raw.tolist() == [2**32 - 10, 2**32 - 10]
    assert ch.last_value.tolist() == [2**32 - 10, 2**32 - 10]


def test_unwrap_of_nothing() -> None:
    e = np.zeros(0, np.int64)
    assert len(unwrap(e, e, np.zeros(0, np.int8), e, e).value) == 0


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(-(2**40), 2**40), st.booleans()), max_size=40)
)
def test_running_max_matches_a_plain_loop(items: list[tuple[int, int, bool]]) -> None:
    items.sort(key=lambda t: t[0])
    group = np.array([g for g, _, _ in items], dtype=np.int64)
    dense = np.unique(group, return_inverse=True)[1].astype(np.int64) if items else group
    values = np.array([v for _, v, _ in items], dtype=np.int64)
    valid = np.array([b for *_, b in items], dtype=bool)
    got, seen = running_max(values, valid, dense)
    best: dict[int, int] = {}
    for i, (g, v, ok) in enumerate(items):
        if ok:
            best[g] = max(best.get(g, v), v)
        assert bool(seen[i]) == (g in best)
        if g in best:
            assert int(got[i]) == best[g]


def test_running_max_wide_values_take_the_slow_path() -> None:
    values = np.array([-(2**62), 2**62, 5, -3], dtype=np.int64)
    group = np.array([0, 0, 1, 1], dtype=np.int64)
    got, seen = running_max(values, np.ones(4, bool), group)
    assert got.tolist() == [-(2**62), 2**62, 5, 5] and seen.all()


def test_group_rows_keeps_file_order_inside_groups() -> None:
    order, starts = group_rows(np.array([2, 0, 2, 1, 0], dtype=np.int64))
    assert order.tolist() == [1, 4, 3, 0, 2] and starts.tolist() == [0, 2, 3]
