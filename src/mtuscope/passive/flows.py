"""Flow keys: the canonical (direction-free) key of a TCP connection.

Layer: passive/. Pure numpy over `PacketTable` address columns; no I/O.

A connection key orders its two endpoints (address halves, then port) so both
directions of a connection share one key: endpoint A is the smaller one, and
`dir` is 0 for packets A->B and 1 for B->A. Which endpoint is the *client* is
decided later (see `mtuscope.passive.finish`), once the whole capture is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

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

    def columns(self) -> dict[str, npt.NDArray[np.generic]]:
        """The key columns and `dir`, by name (`FD` order)."""
        return {name: getattr(self, name) for name in FD}


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


def tcp_rows(c: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.intp]:
    """The rows of a chunk whose TCP fields are complete: IP, TCP, not a fragment
    (a first fragment's payload length is not the segment's) unless the fragment
    completed a reassembled datagram (`reassembled`: its TCP fields are the
    datagram's), not truncated."""
    whole = ~c["fragment"] | c["reassembled"]
    return np.flatnonzero((c["family"] > 0) & (c["proto"] == 6) & whole & ~c["truncated"])


def tcp_keys(c: Mapping[str, npt.NDArray[Any]], idx: npt.NDArray[np.intp] | slice) -> CanonicalKeys:
    """The canonical keys of the rows `idx` of a chunk (see `tcp_rows`)."""
    return canonical_keys(
        np.asarray(c["src_hi"][idx], dtype=np.uint64),
        np.asarray(c["src_lo"][idx], dtype=np.uint64),
        c["sport"][idx],
        np.asarray(c["dst_hi"][idx], dtype=np.uint64),
        np.asarray(c["dst_lo"][idx], dtype=np.uint64),
        c["dport"][idx],
    )


def client_dir(syn_dir: str, synack_dir: str, first_dir: str) -> pl.Expr:
    """Which endpoint of a connection is the client (0: A, 1: B), as one rule for both verbs.

    The sender of the first SYN; else the receiver of the first SYN/ACK; else,
    with no handshake seen, the endpoint with the higher (ephemeral) port; with
    equal ports, the sender of the connection's first packet.

    Args:
        syn_dir, synack_dir: columns holding the direction of the first SYN and the
            first SYN/ACK (null when not seen).
        first_dir: the column holding the direction of the first packet.
    """
    by_port = (
        pl.when(pl.col("a_port") != pl.col("b_port"))
        .then(pl.when(pl.col("a_port") < pl.col("b_port")).then(1).otherwise(0))
        .otherwise(pl.col(first_dir).cast(pl.Int64))
    )
    return pl.coalesce(
        pl.col(syn_dir).cast(pl.Int64), 1 - pl.col(synack_dir).cast(pl.Int64), by_port
    ).cast(pl.UInt8)


def number_connections(conns: pl.DataFrame, *, first_id: int = 1) -> pl.DataFrame:
    """`conns` (one row per key, with `first_frame`) in order of first frame, with `id`
    from `first_id`: the numbering `analyze` and `compare` share."""
    return (
        conns.sort(["first_frame", *KEY])
        .with_row_index("id", offset=first_id)
        .with_columns(pl.col("id").cast(pl.Int64))
    )
