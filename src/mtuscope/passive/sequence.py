"""Sequence-number unwrapping: 32-bit TCP sequence and ack numbers onto a 64-bit line.

Layer: passive/. Pure numpy; no I/O, no per-packet Python objects.

One *chain* is the sequence space of one direction of one connection. Its
events, in file order, are the sequence numbers that direction sends (data,
SYN, FIN) and the ack numbers the other direction sends about it. Consecutive
events of a chain are never more than 2**31 apart (RFC 9293 §3.4: the window
is far smaller than half the sequence space, RFC 7323 §2.3 caps it at 2**30),
so each step is read as a signed 32-bit difference and the chain is the
running sum from the first event's raw value. This is exact across chunk
boundaries: a later chunk's chain is shifted by the same signed difference
between its first raw value and the previous chunk's last one (`chain_offset`).

The chunk analysis runs the same unwrapping, streamed in file order, in compiled
code (`mtuscope.capture.walk.chains`); `unwrap` and `running_max` here are the
vectorised form it replaced, kept as the tests' reference for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]

_HALF = 1 << 31
_FULL = 1 << 32


def signed_step(to_raw: I64 | int, from_raw: I64 | int) -> I64:
    """The signed 32-bit distance from `from_raw` to `to_raw` (both in 0..2**32-1)."""
    diff = np.asarray(to_raw, dtype=np.int64) - np.asarray(from_raw, dtype=np.int64)
    return ((diff + _HALF) & (_FULL - 1)) - _HALF


@dataclass(frozen=True, slots=True)
class Chains:
    """Events sorted by (chain, row, kind) with their unwrapped values, and per-chain ends."""

    chain: I64
    """Chain id of each event (sorted)."""
    row: I64
    """Row (position in the caller's arrays) of each event."""
    kind: npt.NDArray[np.int8]
    """0: a sequence number of the chain's sender; 1: an ack number of its peer."""
    value: I64
    """Unwrapped value: the first event of a chain keeps its raw value."""
    ids: I64
    """The distinct chain ids, ascending."""
    first_raw: I64
    last_raw: I64
    last_value: I64


def unwrap(chain: I64, row: I64, kind: npt.NDArray[np.int8], seq: I64, ack: I64) -> Chains:
    """Sort events per chain in file order and unwrap their 32-bit values.

    Args:
        chain: chain id per event (non-negative).
        row: the event's row in file order (unique per chain).
        kind: 0 for a sequence number (`seq[row]`), 1 for an ack number (`ack[row]`).
        seq, ack: raw 32-bit sequence and ack numbers per row, as int64.

    Returns:
        The sorted, unwrapped events and each chain's first/last raw and last value.
    """
    m = len(chain)
    if m == 0:
        e = np.zeros(0, np.int64)
        return Chains(e, e, np.zeros(0, np.int8), e, e, e, e, e)
    bits = max(int(row.max()) + 1, len(seq)).bit_length()
    # One int64 key per event, sorted by value: numpy's vectorised sort is ~10x faster
    # than a stable argsort, and the key decodes back to (chain, row, kind).
    keys = np.sort(((chain << bits) | row) << 1 | kind)
    slot = keys & ((1 << (bits + 1)) - 1)  # row * 2 + kind
    kd = (slot & 1).astype(np.int8)
    rw = slot >> 1
    ch = keys >> (bits + 1)
    both = np.empty(2 * len(seq), dtype=np.int64)
    both[0::2] = seq
    both[1::2] = ack
    rv = both[slot]
    starts = np.ones(m, dtype=bool)
    starts[1:] = ch[1:] != ch[:-1]
    step = np.zeros(m, dtype=np.int64)
    step[1:] = signed_step(rv[1:], rv[:-1])
    step[starts] = 0
    run = np.cumsum(step)
    start_idx = np.flatnonzero(starts)
    group = np.cumsum(starts) - 1
    value = rv[start_idx][group] + run - run[start_idx][group]
    end_idx = np.r_[start_idx[1:] - 1, m - 1]
    return Chains(
        chain=ch,
        row=rw,
        kind=kd,
        value=value,
        ids=ch[start_idx],
        first_raw=rv[start_idx],
        last_raw=rv[end_idx],
        last_value=value[end_idx],
    )


def running_max(
    values: I64, valid: npt.NDArray[np.bool_], group: I64
) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Running maximum of the valid `values` within each group (groups contiguous, ascending).

    Args:
        values: int64 values.
        valid: which values take part.
        group: group index per position, non-decreasing from 0.

    Returns:
        (maximum so far including the position, whether any valid value was seen yet).
    """
    m = len(values)
    if m == 0 or not valid.any():
        return np.zeros(m, np.int64), np.zeros(m, dtype=bool)
    lo = int(values[valid].min())
    span = int(values[valid].max()) - lo + 2
    ngroups = int(group[-1]) + 1
    if span * ngroups < (1 << 62):
        # Lift each group above the previous one so one accumulate never crosses groups;
        # 0 within a group means "nothing valid yet".
        base = group * span
        lifted = base + np.where(valid, values - lo + 1, 0)
        acc = np.maximum.accumulate(lifted) - base
        seen = acc > 0
        return np.where(seen, acc + lo - 1, 0), seen
    out = np.zeros(m, np.int64)
    seen = np.zeros(m, dtype=bool)
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        v = np.where(valid[s:e], values[s:e], np.iinfo(np.int64).min)
        acc = np.maximum.accumulate(v)
        seen[s:e] = np.logical_or.accumulate(valid[s:e])
        out[s:e] = np.where(seen[s:e], acc, 0)
    return out, seen


def group_rows(group: I64) -> tuple[I64, I64]:
    """Rows ordered by `group` (file order kept inside a group), and where each group starts.

    Args:
        group: a non-negative group id per row.

    Returns:
        (row order, start positions of the groups within that order).
    """
    m = len(group)
    if m == 0:
        e = np.zeros(0, np.int64)
        return e, e
    bits = m.bit_length()
    keys = np.sort((group << bits) | np.arange(m, dtype=np.int64))
    order = keys & ((1 << bits) - 1)
    g = keys >> bits
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    return order, starts
