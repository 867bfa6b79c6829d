"""SYNs and SYN/ACKs sent again with other options: which, where, what changed.

Layer: passive/. Columnar over the partial's SYN rows (`partial.SYNS_SCHEMA`); no I/O.
A retransmission is a later SYN (or SYN/ACK) of the same direction of a connection
with the same sequence number (the ISN, RFC 9293 §3.4) as the first one; another
ISN is a new attempt, not a retransmission. The connection keeps the options of
the first handshake (`finish`); this module lists the retransmissions whose
options differ from that first one.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from mtuscope.passive.flows import FD
from mtuscope.passive.partial import ACK, SYN
from mtuscope.passive.results import SynOptionsChange

MAX_SYN_CHANGES = 1000
"""At most this many retransmissions with other options are listed per capture (a
flood of crafted SYNs must not make a finding per packet); the first by frame."""

OPTIONS: tuple[str, ...] = ("mss", "wscale", "sack", "tsopt")
"""The SYN options compared: `SYNS_SCHEMA` columns (-1: absent for mss and wscale)."""


def syn_option_changes(syns: pl.DataFrame, conns: pl.DataFrame) -> tuple[SynOptionsChange, ...]:
    """The SYN and SYN/ACK retransmissions whose options differ from the first one's.

    Args:
        syns: the partial's SYN rows (`SYNS_SCHEMA`), any order.
        conns: one row per connection: the `flows.KEY` columns, `id` and `cd` (the
            client's direction).

    Returns:
        One change per such retransmission, by frame (at most `MAX_SYN_CHANGES`).
    """
    if syns.height < 2:
        return ()
    kind = (pl.col("flags") & (SYN | ACK)).alias("kind")
    rows = syns.with_columns(kind).sort("frame")
    group = [*FD, "kind"]
    first = rows.group_by(group).agg(
        pl.col("frame").first().alias("first_frame"),
        pl.col("seq").first().alias("first_seq"),
        *(pl.col(o).first().alias(f"first_{o}") for o in OPTIONS),
    )
    differs = pl.any_horizontal(pl.col(o) != pl.col(f"first_{o}") for o in OPTIONS)
    later = (
        rows.join(first, on=group, how="inner")
        .filter((pl.col("frame") != pl.col("first_frame")) & (pl.col("seq") == pl.col("first_seq")))
        .filter(differs)
        .sort("frame")
        .head(MAX_SYN_CHANGES)
    )
    if later.height == 0:
        return ()
    later = later.join(conns.select(*FD[:-1], "id", "cd"), on=list(FD[:-1]), how="inner")
    return tuple(_change(r) for r in later.sort("frame").iter_rows(named=True))


def _value(option: str, v: Any) -> int | bool | None:
    if option in ("sack", "tsopt"):
        return bool(v)
    return None if v is None or v < 0 else int(v)


def _change(r: dict[str, Any]) -> SynOptionsChange:
    changed = tuple(
        (o, _value(o, r[f"first_{o}"]), _value(o, r[o])) for o in OPTIONS if r[o] != r[f"first_{o}"]
    )
    return SynOptionsChange(
        connection=int(r["id"]),
        role="client" if r["dir"] == r["cd"] else "server",
        syn_ack=r["kind"] == SYN | ACK,
        first_frame=int(r["first_frame"]),
        frame=int(r["frame"]),
        changes=changed,
    )
