"""Test helper (no tests here): one TCP connection as seen at two capture points (test-only).

`Flow` describes the connection once (handshake options, ISNs, data segments
with their times); `Flow.at(...)` renders it as packet dicts for one point,
applying what the path did between the points: NAT (addresses, ports), ISN
offsets, MSS/option rewriting, segments dropped or split, clock offset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mtuscope.capture.table import PacketTable
from mtuscope.passive.compare_connections import (
    finish_connections,
    merge_summaries,
    summarise_chunk,
)
from mtuscope.passive.compare_summary import (
    CaptureSummary,
    finish_summary,
    merge_segments,
    segment_chunk,
)
from passive.tables import packet_table

T0 = 1_700_000_000_000_000_000
MS = 1_000_000


@dataclass(frozen=True)
class Flow:
    client: str = "192.0.2.10"
    cport: int = 40000
    server: str = "203.0.113.5"
    sport: int = 443
    isn_c: int = 1000
    isn_s: int = 900_000
    syn: Mapping[str, Any] = field(default_factory=lambda: {"mss": 1460, "wscale": 7})
    synack: Mapping[str, Any] = field(default_factory=lambda: {"mss": 1460, "wscale": 7})
    start_ms: float = 0.0
    segments: tuple[tuple[int, int, int], ...] = ()
    """(direction 0 c->s / 1 s->c, relative seq, length), sent 1 ms apart after the handshake."""
    ttl: int = 64

    def at(
        self,
        *,
        client: str | None = None,
        cport: int | None = None,
        server: str | None = None,
        isn_c: int | None = None,
        isn_s: int | None = None,
        syn: Mapping[str, Any] | None = None,
        synack: Mapping[str, Any] | None = None,
        drop: Iterable[int] = (),
        split: Mapping[int, int] | None = None,
        clock_ms: float = 0.0,
        delay_ms: float = 0.0,
        ttl_c: int | None = None,
        ttl_s: int | None = None,
    ) -> list[dict[str, Any]]:
        """Packet dicts (with `ts_ns`) of this flow at one point.

        `drop` lists indexes of `segments` not seen here; `split` maps an index to
        the number of equal pieces it is seen as; `delay_ms` is added to packets
        of the client->server direction and subtracted from server->client ones
        (the point is further from the client); `clock_ms` shifts every time.
        """
        c, s = client or self.client, server or self.server
        cp = cport if cport is not None else self.cport
        ic = self.isn_c if isn_c is None else isn_c
        is_ = self.isn_s if isn_s is None else isn_s
        tc = self.ttl if ttl_c is None else ttl_c
        ts_ = self.ttl if ttl_s is None else ttl_s
        split = split or {}

        def when(ms: float, d: int) -> int:
            return T0 + int(
                (self.start_ms + ms + clock_ms + (delay_ms if d == 0 else -delay_ms)) * MS
            )

        def pkt(d: int, ms: float, **more: Any) -> dict[str, Any]:
            src, sp, dst, dp = (c, cp, s, self.sport) if d == 0 else (s, self.sport, c, cp)
            return {
                "src": src, "sport": sp, "dst": dst, "dport": dp, "ts_ns": when(ms, d),
                "ttl": tc if d == 0 else ts_, **more,
            }  # fmt: skip

        opts = {**self.syn, **(syn or {})}
        sa_opts = {**self.synack, **(synack or {})}
        out = [
            pkt(0, 0, tcp_flags=2, seq=ic % 2**32, **_opts(opts)),
            pkt(1, 10, tcp_flags=18, seq=is_ % 2**32, ack=(ic + 1) % 2**32, **_opts(sa_opts)),
            pkt(0, 20, tcp_flags=16, seq=(ic + 1) % 2**32),
        ]
        for k, (d, rel, length) in enumerate(self.segments):
            if k in drop:
                continue
            base = (ic if d == 0 else is_) + 1
            n = split.get(k, 1)
            piece = length // n
            for j in range(n):
                size = piece if j < n - 1 else length - piece * (n - 1)
                out.append(
                    pkt(d, 30 + k, tcp_flags=24, seq=(base + rel + j * piece) % 2**32,
                        payload=size, ip_id=(k * 8 + j + 1) % 65536)
                )  # fmt: skip
        return out


def _opts(o: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "mss": o.get("mss", -1),
        "wscale": o.get("wscale", -1),
        "sack_perm": o.get("sack_perm", True),
        "tsopt": o.get("tsopt", True),
    }


def full(d: int, lengths: Iterable[int]) -> tuple[tuple[int, int, int], ...]:
    """Back-to-back segments of one direction from relative seq 0."""
    out, rel = [], 0
    for length in lengths:
        out.append((d, rel, length))
        rel += length
    return tuple(out)


def table(*packet_lists: list[dict[str, Any]]) -> PacketTable:
    """One capture: the packets of several flows at one point, in time order."""
    packets = sorted((p for pl in packet_lists for p in pl), key=lambda p: p["ts_ns"])
    return packet_table(packets)


__all__ = ["Flow", "MS", "T0", "full", "replace", "table"]


def summarise(tables: list[PacketTable], *, capture: str) -> CaptureSummary:
    """Both passes over a capture held as chunks in file order, keeping every segment.

    What `jobs.compare` does over a file, for tables built in memory.
    """
    chunks = tables or [PacketTable.empty()]
    parts = [summarise_chunk(t, capture=capture) for t in chunks]
    acc = parts[0]
    for part in parts[1:]:
        acc = merge_summaries(acc, part)
    conns = finish_connections(acc)
    segs = [segment_chunk(t, conns) for t in chunks]
    seg_acc = segs[0]
    for seg in segs[1:]:
        seg_acc = merge_segments(seg_acc, seg)
    return finish_summary(conns, seg_acc)
