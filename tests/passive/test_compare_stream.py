"""passive/compare_stream.py: the lockstep join decides what the whole-capture read decides,
through NAT, a clock offset, rewrites, losses and offload, whatever the chunking."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mtuscope.capture.table import PacketTable
from mtuscope.passive.compare import CompareResult, compare_captures
from mtuscope.passive.compare_stream import CaptureStream, StreamJoin
from passive.compare_flows import MS, Flow, full, summarise, table


def two_points(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`n` connections 700 ms apart seen at a client-side point A and, behind a NAT
    that clamps the MSS, at B (clock 3.7 s ahead): some lose segments, some offload."""
    a: list[dict[str, Any]] = []
    b: list[dict[str, Any]] = []
    for k in range(n):
        f = Flow(
            cport=40000 + k,
            isn_c=1000 + 7919 * k,
            start_ms=700.0 * k,
            segments=full(1, [1448] * (3 + k % 4)) + full(0, [300 + k]),
        )
        a += f.at(ttl_s=62)
        b += f.at(
            client="198.51.100.1",
            cport=61000 + k,
            isn_c=1000 + 7919 * k + (12345 if k % 2 else 0),
            syn={"mss": 1300} if k % 3 else None,
            drop=(1,) if k % 5 == 0 else (),
            split={0: 2} if k % 7 == 3 else None,
            clock_ms=3700.0,
            delay_ms=0.2,
            ttl_c=62,
        )
    # Connections only one point saw.
    a += Flow(cport=39000, start_ms=900.0, segments=full(0, [100])).at()
    b += Flow(cport=38000, server="203.0.113.9", start_ms=5000.0).at(clock_ms=3700.0)
    return a, b


def streamed(
    ta: PacketTable, tb: PacketTable, *, rows: int, first_window: int, every: int = 1
) -> tuple[CompareResult, StreamJoin]:
    sa = CaptureStream("a.pcap", grace_ns=100 * MS, idle_ns=300 * MS)
    sb = CaptureStream("b.pcap", grace_ns=100 * MS, idle_ns=300 * MS)
    join = StreamJoin(sa, sb, first_window=first_window, every=every)
    cuts = {"a": _chunks(ta, rows), "b": _chunks(tb, rows)}
    streams = {"a": sa, "b": sb}
    while (side := join.next_side()) is not None:
        chunk = next(cuts[side], None)
        if chunk is None:
            streams[side].eof = True
        else:
            streams[side].feed(chunk)
        join.fed(side)
    return join.result(), join


def _chunks(t: PacketTable, rows: int) -> Any:
    for start in range(0, len(t), rows):
        mask = np.zeros(len(t), dtype=np.bool_)
        mask[start : start + rows] = True
        yield t.select(mask)


@pytest.mark.parametrize(
    ("rows", "first_window", "every"),
    [(10_000, 2000, 2), (37, 3, 1), (5, 1, 1), (64, 10, 2), (11, 2, 3)],
)
def test_the_join_equals_the_whole_capture_comparison(
    rows: int, first_window: int, every: int
) -> None:
    pa, pb = two_points(24)
    ta, tb = table(pa), table(pb)
    expected = compare_captures(
        summarise([ta], capture="a.pcap"), summarise([tb], capture="b.pcap")
    )
    assert len(expected.matches) == 24 and len(expected.only_a) == len(expected.only_b) == 1
    assert expected.offset.offset_ns == pytest.approx(3700 * MS, abs=MS)
    kinds = {c.kind for m in expected.matches for c in m.changes}
    assert {"mss-rewritten", "isn-rewritten", "lost-between-points", "offload-artifact"} <= kinds
    got, join = streamed(ta, tb, rows=rows, first_window=first_window, every=every)
    assert got == expected
    if every == 1:
        # Decided and dropped as it went: never all 50 connections held at once.
        assert join.stats.rounds > 5
        assert join.stats.peak_held <= 2 * first_window + 20


def test_no_common_connection_gives_no_offset() -> None:
    a = Flow(start_ms=0.0, segments=full(0, [100])).at()
    b = Flow(cport=50000, server="203.0.113.99", sport=22, start_ms=0.0).at(clock_ms=5.0)
    ta, tb = table(a), table(b)
    expected = compare_captures(
        summarise([ta], capture="a.pcap"), summarise([tb], capture="b.pcap")
    )
    got, _ = streamed(ta, tb, rows=3, first_window=1)
    assert got == expected and got.offset.method == "none" and got.matches == ()


def test_a_first_window_with_nothing_in_common_grows_until_it_has() -> None:
    # B started capturing later: its first connections are others, A's first ones it missed.
    pa, pb = two_points(24)
    late = 12 * 700 * MS
    pb = [p for p in pb if p["ts_ns"] >= min(q["ts_ns"] for q in pb) + late - 200 * MS]
    for j in range(6):
        pb += Flow(
            cport=30000 + j, server="203.0.113.77", start_ms=12 * 700.0 - 600 + 50 * j,
            segments=full(0, [50 + j]),
        ).at(clock_ms=3700.0)  # fmt: skip
    ta, tb = table(pa), table(pb)
    expected = compare_captures(
        summarise([ta], capture="a.pcap"), summarise([tb], capture="b.pcap")
    )
    assert len(expected.matches) >= 10
    got, join = streamed(ta, tb, rows=9, first_window=3)
    assert join.first_window > 3  # it grew
    assert got == expected
