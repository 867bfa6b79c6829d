"""IP fragments, summarised per flow: chunk rows, their merge, the final `FragmentFlow`s.

Layer: passive/. Column-wise over `PacketTable` chunks and partial tables; no I/O.
A flow is (family, source, destination, protocol); TCP analysis leaves fragments
out (their TCP fields are not complete), except the fragment that completed a TCP
datagram `capture.reassembly` put back together (`reassembled`: it carries the
datagram's TCP fields), so they are counted here, every fragment with its own IP length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.capture.table import address_text
from mtuscope.passive.partial import FRAG_KEY, FRAGS_SCHEMA, conform, group
from mtuscope.passive.results import FragmentFlow


def fragment_flows(c: Mapping[str, npt.NDArray[Any]]) -> pl.DataFrame:
    """The fragments of a chunk, one `FRAGS_SCHEMA` row per flow."""
    idx = np.flatnonzero((c["family"] > 0) & c["fragment"])
    df = pl.DataFrame(
        {
            "family": c["family"][idx],
            "src_hi": c["src_hi"][idx],
            "src_lo": c["src_lo"][idx],
            "dst_hi": c["dst_hi"][idx],
            "dst_lo": c["dst_lo"][idx],
            "proto": c["proto"][idx].astype(np.int64),
            "frag_off": c["frag_off"][idx].astype(np.int64),
            "df": c["df"][idx],
            "ip_len": c["ip_len"][idx].astype(np.int64),
            "frame": c["frame"][idx],
        }
    )
    agg = df.group_by(list(FRAG_KEY)).agg(
        fragments=pl.len().cast(pl.Int64),
        datagrams=(pl.col("frag_off") == 0).sum().cast(pl.Int64),
        df=(pl.col("df") & (pl.col("family") == 4)).sum().cast(pl.Int64),
        min_len=pl.col("ip_len").min(),
        max_len=pl.col("ip_len").max(),
        first_frame=pl.col("frame").min(),
        last_frame=pl.col("frame").max(),
    )
    return conform(agg, FRAGS_SCHEMA)


def regroup_fragments(df: pl.DataFrame) -> pl.DataFrame:
    """Concatenated `FRAGS_SCHEMA` tables with one row per flow again."""
    return group(
        df,
        list(FRAG_KEY),
        FRAGS_SCHEMA,
        **{x: pl.col(x).sum() for x in ("fragments", "datagrams", "df")},
        min_len=pl.col("min_len").min(),
        max_len=pl.col("max_len").max(),
        first_frame=pl.col("first_frame").min(),
        last_frame=pl.col("last_frame").max(),
    )


def fragment_flow_results(df: pl.DataFrame) -> tuple[FragmentFlow, ...]:
    """The fragment flows of a whole capture, by first frame."""
    rows: Iterable[dict[str, Any]] = df.sort("first_frame").iter_rows(named=True)
    return tuple(
        FragmentFlow(
            family=int(r["family"]),
            src=address_text(r["src_hi"], r["src_lo"], int(r["family"])),
            dst=address_text(r["dst_hi"], r["dst_lo"], int(r["family"])),
            proto=int(r["proto"]),
            fragments=int(r["fragments"]),
            datagrams=int(r["datagrams"]),
            df_fragments=int(r["df"]),
            min_len=int(r["min_len"]),
            max_len=int(r["max_len"]),
            first_frame=int(r["first_frame"]),
            last_frame=int(r["last_frame"]),
        )
        for r in rows
    )
