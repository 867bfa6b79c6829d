"""Flow keys: the canonical (direction-free) key of a TCP connection, and address text.

Layer: passive/. Pure numpy over `PacketTable` address columns; no I/O.

A connection key orders its two endpoints (address halves, then port) so both
directions of a connection share one key: endpoint A is the smaller one, and
`dir` is 0 for packets A->B and 1 for B->A. Which endpoint is the *client* is
decided later (see `mtuscope.passive.finish`), once the whole capture is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv6Address

import numpy as np
import numpy.typing as npt

KEY: tuple[str, ...] = ("a_hi", "a_lo", "a_port", "b_hi", "b_lo", "b_port")
"""Columns of a canonical connection key (endpoint A < endpoint B)."""

FD: tuple[str, ...] = (*KEY, "dir")
"""A connection key plus the direction (0: A->B, 1: B->A)."""

U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True, slots=True)
class CanonicalKeys:
    """The canonical key columns of some rows, and each row's direction."""

    a_hi: U64
    a_lo: U64
    a_port: npt.NDArray[np.uint16]
    b_hi: U64
    b_lo: U64
    b_port: npt.NDArray[np.uint16]
    dir: npt.NDArray[np.uint8]


def canonical_keys(
    src_hi: U64,
    src_lo: U64,
    sport: npt.NDArray[np.integer],
    dst_hi: U64,
    dst_lo: U64,
    dport: npt.NDArray[np.integer],
) -> CanonicalKeys:
    """Order each row's endpoints so both directions of a connection get one key.

    Args:
        src_hi, src_lo, sport: the sender's address halves and port, per row.
        dst_hi, dst_lo, dport: the receiver's, per row.

    Returns:
        The key columns and `dir` (1 where the sender is endpoint B).
    """
    sp = sport.astype(np.uint16)
    dp = dport.astype(np.uint16)
    swap = (src_hi > dst_hi) | (
        (src_hi == dst_hi) & ((src_lo > dst_lo) | ((src_lo == dst_lo) & (sp > dp)))
    )
    return CanonicalKeys(
        a_hi=np.where(swap, dst_hi, src_hi),
        a_lo=np.where(swap, dst_lo, src_lo),
        a_port=np.where(swap, dp, sp),
        b_hi=np.where(swap, src_hi, dst_hi),
        b_lo=np.where(swap, src_lo, dst_lo),
        b_port=np.where(swap, sp, dp),
        dir=swap.astype(np.uint8),
    )


@lru_cache(maxsize=1 << 16)
def address_text(hi: int, lo: int, family: int) -> str:
    """The address held in two uint64 halves, as text (IPv4 unmapped when `family` is 4).

    Args:
        hi: the high 64 bits (big-endian order of the 16 address bytes).
        lo: the low 64 bits.
        family: 4 or 6.

    Returns:
        "192.0.2.1" or "2001:db8::1".
    """
    addr = IPv6Address((int(hi) << 64) | int(lo))
    if family == 4 and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)
