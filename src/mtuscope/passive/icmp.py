"""ICMP too-big messages: the one selector both verbs use, and the connection each quotes.

Layer: passive/. Column-wise over `PacketTable` chunks and finished tables; no
I/O. `too_big_table` picks the rows (ICMP fragmentation needed, type 3 code 4,
RFC 1191; ICMPv6 packet too big, type 2, RFC 8201; never a fragment) for
`analyze` and `compare` alike, so both count the same messages in one file;
`quoted_connections` finds the TCP connection whose packet a message quotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.capture.table import address_text
from mtuscope.passive.flows import KEY, canonical_keys
from mtuscope.passive.partial import ICMP_SCHEMA, CapturePartial, conform
from mtuscope.passive.results import IcmpTooBig
from mtuscope.passive.ttl import initial_ttl_guess, sender_hint
from mtuscope.wire.sizes import MIN_MTU

_I64 = pl.Int64
_COLUMNS = {
    "frame": "frame",
    "ts": "ts_ns",
    "family": "family",
    "src_hi": "src_hi",
    "src_lo": "src_lo",
    "ttl": "ttl",
    "icmp_type": "icmp_type",
    "icmp_code": "icmp_code",
    "mtu": "icmp_mtu",
    "ip_len": "ip_len",
} | {q: q for q in ICMP_SCHEMA if q.startswith("q_")}
"""`ICMP_SCHEMA` column -> `PacketTable` column."""


def too_big_rows(c: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.intp]:
    """The rows of a chunk that are ICMP too-big messages (not fragments), in file order."""
    itype = c["icmp_type"]
    v4 = (c["proto"] == 1) & (itype == 3) & (c["icmp_code"] == 4)
    v6 = (c["proto"] == 58) & (itype == 2)
    return np.flatnonzero((c["family"] > 0) & (v4 | v6) & ~c["fragment"])


def too_big_table(c: Mapping[str, npt.NDArray[Any]]) -> pl.DataFrame:
    """The too-big messages of a chunk as `ICMP_SCHEMA` rows (sender, MTU, the quote)."""
    idx = too_big_rows(c)
    return conform(pl.DataFrame({k: c[v][idx] for k, v in _COLUMNS.items()}), ICMP_SCHEMA)


def quoted_connections(icmp: pl.DataFrame, conns: pl.DataFrame) -> pl.DataFrame:
    """The connection each too-big message quotes, row for row.

    Args:
        icmp: `ICMP_SCHEMA` rows.
        conns: one row per connection: the `KEY` columns and any others (an id).

    Returns:
        `conns`' other columns (null where the quote is not of a TCP packet of one
        of `conns`), and `dir`: the quoted packet's direction in the canonical key.
    """
    quoted = (
        (pl.col("q_family") > 0) & (pl.col("q_proto") == 6) & (pl.col("q_sport") >= 0)
    ).fill_null(False)
    keys = canonical_keys(
        icmp["q_src_hi"].to_numpy(),
        icmp["q_src_lo"].to_numpy(),
        np.clip(icmp["q_sport"].to_numpy(), 0, 65535),
        icmp["q_dst_hi"].to_numpy(),
        icmp["q_dst_lo"].to_numpy(),
        np.clip(icmp["q_dport"].to_numpy(), 0, 65535),
    )
    other = [c for c in conns.columns if c not in KEY]
    found = (
        pl.DataFrame({c: getattr(keys, c) for c in KEY})
        .with_columns(pl.col(c).cast(conns.schema[c]) for c in KEY)
        .join(conns, on=list(KEY), how="left", maintain_order="left")
        .with_columns(quoted=icmp.select(quoted).to_series())
    )
    return found.select(
        *(pl.when(pl.col("quoted")).then(pl.col(c)).alias(c) for c in other),
        dir=pl.Series(keys.dir, dtype=pl.UInt8),
    )


def icmp_messages(p: CapturePartial, conns: pl.DataFrame) -> tuple[list[IcmpTooBig], pl.DataFrame]:
    """Each too-big message of a capture, matched to the connection (and direction) it quotes.

    Args:
        p: the capture's partial.
        conns: its connections: `KEY`, `id` and `cd` (the client's direction).

    Returns:
        The messages by frame, and (id, dir, mtu, frame, problem_free) of the matched ones.
    """
    matched_schema = {
        "id": _I64,
        "dir": _I64,
        "mtu": _I64,
        "frame": _I64,
        "problem_free": pl.Boolean,
    }
    df = p.icmp.sort("frame")
    if df.height == 0:
        return [], pl.DataFrame(schema=matched_schema)
    found = quoted_connections(df, conns)
    ids, cds, dirs = found["id"].to_list(), found["cd"].to_list(), found["dir"].to_list()
    out: list[IcmpTooBig] = []
    matched: list[tuple[int, int, int, int, bool]] = []
    for i, r in enumerate(df.iter_rows(named=True)):
        cid = ids[i]
        d = int(dirs[i]) if cid is not None else None
        role = None if d is None else ("client" if d == cds[i] else "server")
        qf = int(r["q_family"])
        family = int(r["family"])
        ttl = int(r["ttl"])
        guess = initial_ttl_guess(ttl)
        msg = IcmpTooBig(
            capture=p.capture,
            frame=int(r["frame"]),
            ts_ns=int(r["ts"]),
            family=family,
            sender=address_text(r["src_hi"], r["src_lo"], family),
            mtu=int(r["mtu"]),
            ttl=ttl,
            initial_ttl_guess=guess,
            sender_hint=sender_hint(guess),
            quoted_src=address_text(r["q_src_hi"], r["q_src_lo"], qf) if qf else None,
            quoted_dst=address_text(r["q_dst_hi"], r["q_dst_lo"], qf) if qf else None,
            quoted_proto=optional(r["q_proto"]),
            quoted_sport=optional(r["q_sport"]),
            quoted_dport=optional(r["q_dport"]),
            quoted_len=optional(r["q_ip_len"]),
            connection=cid,
            direction=role,
            problem=mtu_problem(family, int(r["mtu"]), optional(r["q_ip_len"])),
        )
        out.append(msg)
        if cid is not None and d is not None:
            matched.append((cid, d, msg.mtu, msg.frame, msg.problem is None))
    return out, pl.DataFrame(matched, schema=matched_schema, orient="row")


def optional(v: int | None) -> int | None:
    """A column value with its "none" sentinel (-1, or null) as None."""
    return None if v is None or v < 0 else int(v)


def mtu_problem(family: int, mtu: int, quoted_len: int | None) -> str | None:
    """Why a too-big message cannot be acted on, or None.

    IPv4: MTU 0 comes from pre-RFC 1191 routers (RFC 1191 §5); below 68 is under
    the IPv4 minimum (RFC 791). IPv6: below 1280 (RFC 8200 §5). Either: an MTU not
    smaller than the quoted packet would not have stopped it.
    """
    if mtu <= 0:
        return "zero"
    if mtu < MIN_MTU[family]:
        return "below-minimum"
    if quoted_len is not None and quoted_len > 0 and mtu >= quoted_len:
        return "not-smaller"
    return None
