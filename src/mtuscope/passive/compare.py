"""The same TCP connections seen at two capture points: what changed in between.

Layer: passive/. Pure functions over two `CaptureSummary`s (see
`compare_summary`); no I/O, no clock. Findings and wording are diagnose/'s.

Per matched connection (see `compare_match` for the pairing) this compares,
direction by direction (client->server, server->client):

- the MSS announced in the SYN / SYN-ACK at each point (`mss-rewritten`);
- the initial sequence numbers (`isn-rewritten`, with the offset mod 2**32);
- window scale, SACK-permitted and timestamps options (`tcp-option-changed`);
- the data segments, fingerprinted by (relative sequence offset, length): a
  transmission at one point with no counterpart at the other is
  `lost-between-points`; a segment at one point that the other saw as several
  smaller ones, which that point never re-sent in pieces itself, was
  coalesced by the capturing host (TSO/GSO when it sends, GRO/LRO when it
  receives) and is an `offload-artifact`, not a loss. Segments sent outside
  the other capture's time span are left out. Directions whose segment
  digests are equal at both points are skipped without reading a segment;
  the others need their rows in the summaries (`segments_needed`).

The point nearer the client is told by the SYN's TTL (higher nearer the
sender), else the SYN/ACK's, else the SYN -> SYN/ACK gap (a full round trip
near the client, almost nothing near the server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from mtuscope.capture.table import address_text
from mtuscope.errors import UsageError
from mtuscope.passive.compare_match import (
    WINDOW_NS,
    ClockOffset,
    match_connections,
    refine_offset,
    rough_offset,
)
from mtuscope.passive.compare_results import (
    DIRECTIONS,
    Change,
    CompareResult,
    ConnectionComparison,
    Handshake,
    IcmpSeen,
)
from mtuscope.passive.compare_segments import SegIndex, segment_changes
from mtuscope.passive.compare_summary import CaptureSummary
from mtuscope.passive.icmp import optional
from mtuscope.passive.ttl import initial_ttl_guess

__all__ = [
    "DIRECTIONS",
    "Change",
    "CompareResult",
    "ConnectionComparison",
    "Handshake",
    "IcmpSeen",
    "Pairing",
    "compare_captures",
    "pair_captures",
    "segments_needed",
]


def _opt_bool(v: Any, present: bool) -> bool | None:
    return bool(v) if present else None


_HS_NEEDED = (
    "id", "family", "client_hi", "client_lo", "client_port", "server_hi", "server_lo",
    "server_port", "first_frame", "syn_frame", "sa_frame", "syn_mss", "sa_mss", "syn_seq",
    "sa_seq", "syn_ws", "sa_ws", "syn_sack", "sa_sack", "syn_tso", "sa_tso", "syn_ttl",
    "sa_ttl", "syn_ts", "sa_ts",
)  # fmt: skip


def _handshakes(s: CaptureSummary) -> dict[int, Handshake]:
    # Column by column into Python lists, then one pass: rows one by one through
    # polars cost several times as much (compare builds one of these per connection).
    dirs = s.dirs
    keys = (dirs["id"].cast(pl.Int64) * 2 + dirs["cdir"].cast(pl.Int64)).to_list()
    per: dict[int, tuple[int, int]] = dict(
        zip(keys, zip(dirs["n"].to_list(), dirs["big"].to_list(), strict=True), strict=True)
    )
    cols = {c: s.conns[c].to_list() for c in _HS_NEEDED}
    names: dict[tuple[int, int, int], str] = {}

    def text(hi: int, lo: int, family: int) -> str:
        k = (hi, lo, family)
        got = names.get(k)
        if got is None:
            got = names[k] = address_text(hi, lo, family)
        return got

    out = {}
    none = (0, 0)
    for r in zip(*(cols[c] for c in _HS_NEEDED), strict=True):
        (
            i, family, c_hi, c_lo, c_port, s_hi, s_lo, s_port, first_frame, syn_frame,
            sa_frame, syn_mss, sa_mss, syn_seq, sa_seq, syn_ws, sa_ws, syn_sack, sa_sack,
            syn_tso, sa_tso, syn_ttl, sa_ttl, syn_ts, sa_ts,
        ) = r  # fmt: skip
        i, family = int(i), int(family)
        syn, sa = syn_frame is not None, sa_frame is not None
        c2s, s2c = per.get(i * 2, none), per.get(i * 2 + 1, none)
        out[i] = Handshake(
            id=i,
            family=family,
            client=text(c_hi, c_lo, family),
            client_port=int(c_port),
            server=text(s_hi, s_lo, family),
            server_port=int(s_port),
            first_frame=int(first_frame),
            syn_frame=syn_frame,
            synack_frame=sa_frame,
            mss=(optional(syn_mss), optional(sa_mss)),
            isn=(optional(syn_seq), optional(sa_seq)),
            wscale=(optional(syn_ws), optional(sa_ws)),
            sack_perm=(_opt_bool(syn_sack, syn), _opt_bool(sa_sack, sa)),
            timestamps=(_opt_bool(syn_tso, syn), _opt_bool(sa_tso, sa)),
            ttl=(syn_ttl, sa_ttl),
            handshake_gap_ns=sa_ts - syn_ts if syn and sa else None,
            data_segments=(int(c2s[0]), int(s2c[0])),
            max_segment=(int(c2s[1]), int(s2c[1])),
        )
    return out


def _client_side(ha: Handshake, hb: Handshake) -> str | None:
    (sa, aa), (sb, ab) = ha.ttl, hb.ttl
    if sa is not None and sb is not None and sa != sb:
        return "a" if sa > sb else "b"
    if aa is not None and ab is not None and aa != ab:
        return "a" if aa < ab else "b"
    ga, gb = ha.handshake_gap_ns, hb.handshake_gap_ns
    if ga is not None and gb is not None and ga != gb:
        return "a" if ga > gb else "b"
    return None


def _frames(*values: int | None) -> tuple[int, ...]:
    return tuple(v for v in values if v is not None)


def _handshake_changes(ha: Handshake, hb: Handshake) -> list[Change]:
    out: list[Change] = []
    for d, name in enumerate(DIRECTIONS):
        fa = _frames(ha.syn_frame if d == 0 else ha.synack_frame)
        fb = _frames(hb.syn_frame if d == 0 else hb.synack_frame)
        if not fa or not fb:
            continue  # the SYN (or SYN/ACK) was not seen at both points
        ma, mb = ha.mss[d], hb.mss[d]
        if ma != mb:
            delta = mb - ma if ma is not None and mb is not None else None
            out.append(
                Change(
                    kind="mss-rewritten", direction=name, field="tcp.options.mss_val",
                    a=ma, b=mb, frames_a=fa, frames_b=fb, delta=delta,
                )
            )  # fmt: skip
        ia, ib = ha.isn[d], hb.isn[d]
        if ia is not None and ib is not None and ia != ib:
            out.append(
                Change(
                    kind="isn-rewritten", direction=name, field="tcp.seq_raw",
                    a=ia, b=ib, frames_a=fa, frames_b=fb, delta=(ib - ia) % (1 << 32),
                )
            )  # fmt: skip
        opts: tuple[tuple[str, int | bool | None, int | bool | None], ...] = (
            ("tcp.options.wscale.shift", ha.wscale[d], hb.wscale[d]),
            ("tcp.options.sack_perm", ha.sack_perm[d], hb.sack_perm[d]),
            ("tcp.options.timestamp", ha.timestamps[d], hb.timestamps[d]),
        )
        for field, va, vb in opts:
            if va == vb:
                continue
            how = (
                "added" if va in (None, False) else "stripped" if vb in (None, False) else "changed"
            )
            out.append(
                Change(
                    kind="tcp-option-changed", direction=name, field=field,
                    a=_shown(va), b=_shown(vb), frames_a=fa, frames_b=fb, note=how,
                )
            )  # fmt: skip
    return out


def _shown(v: int | bool | None) -> int | str | None:
    if isinstance(v, bool):
        return "present" if v else "absent"
    return "absent" if v is None else v


def _nat(ha: Handshake, hb: Handshake) -> tuple[str, ...]:
    pairs = (
        ("client address", ha.client, hb.client),
        ("client port", ha.client_port, hb.client_port),
        ("server address", ha.server, hb.server),
        ("server port", ha.server_port, hb.server_port),
    )
    return tuple(name for name, x, y in pairs if x != y)


def _icmp(s: CaptureSummary, point: str) -> list[IcmpSeen]:
    return [
        IcmpSeen(
            capture=s.capture,
            point=point,
            frame=int(r["frame"]),
            sender=address_text(r["sender_hi"], r["sender_lo"], int(r["family"])),
            mtu=int(r["mtu"]),
            ttl=int(r["ttl"]),
            initial_ttl_guess=initial_ttl_guess(int(r["ttl"])),
            connection=r["connection"],
            quoted_len=optional(r["quoted_len"]),
        )
        for r in s.icmp.iter_rows(named=True)
    ]


def _span(s: CaptureSummary) -> tuple[int, int]:
    return (s.first_ts or 0, s.last_ts or 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pairing:
    """The connections of A and B paired, and the clock offset between the points."""

    offset: ClockOffset
    pairs: tuple[tuple[int, int, float], ...]
    """(id at A, id at B, score), in order of A's id."""


def pair_captures(a: CaptureSummary, b: CaptureSummary, *, window_ns: int = WINDOW_NS) -> Pairing:
    """Pair the connections of two points and estimate their clock offset.

    Args:
        a: summary of capture A.
        b: summary of capture B (segment rows are not needed).
        window_ns: tolerance on the aligned start times of a pair.

    Returns:
        The pairing (see `compare_match`).
    """
    rough = rough_offset(a, b)
    pairs = match_connections(a, b, rough, window_ns=window_ns)
    return Pairing(offset=refine_offset(a, b, pairs, rough), pairs=tuple(pairs))


def _digests(s: CaptureSummary) -> dict[int, tuple[int, int, int]]:
    d = s.dirs
    keys = (d["id"].cast(pl.Int64) * 2 + d["cdir"].cast(pl.Int64)).to_list()
    vals = zip(d["n"].to_list(), d["dh"].to_list(), d["dl"].to_list(), strict=True)
    return dict(zip(keys, vals, strict=True))


def segments_needed(
    a: CaptureSummary, b: CaptureSummary, pairing: Pairing
) -> tuple[frozenset[int], frozenset[int]]:
    """The directions whose segments differ between the points, so must be read again.

    Args:
        a: summary of capture A.
        b: summary of capture B.
        pairing: from `pair_captures`.

    Returns:
        (directions at A, directions at B), each direction as id * 2 + cdir.
    """
    da, db = _digests(a), _digests(b)
    need_a: set[int] = set()
    need_b: set[int] = set()
    for id_a, id_b, _ in pairing.pairs:
        for d in (0, 1):
            if da.get(id_a * 2 + d) != db.get(id_b * 2 + d):
                need_a.add(id_a * 2 + d)
                need_b.add(id_b * 2 + d)
    return frozenset(need_a), frozenset(need_b)


def compare_captures(
    a: CaptureSummary,
    b: CaptureSummary,
    *,
    window_ns: int = WINDOW_NS,
    pairing: Pairing | None = None,
) -> CompareResult:
    """Match the connections of two capture points and list what changed between them.

    Args:
        a: summary of capture A (`compare_summary.finish_summary`).
        b: summary of capture B.
        window_ns: tolerance on the aligned start times of a pair.
        pairing: `pair_captures(a, b, window_ns=window_ns)` when already done.

    Returns:
        The clock offset, the matched connections with their changes, the
        connections seen at one point only, and the ICMP too-big messages of both.

    Raises:
        UsageError: a summary lacks the segment rows of a direction that differs
            between the points (see `segments_needed`).
    """
    if pairing is None:
        pairing = pair_captures(a, b, window_ns=window_ns)
    need_a, need_b = segments_needed(a, b, pairing)
    for s, need in ((a, need_a), (b, need_b)):
        if s.kept is not None and not need <= s.kept:
            raise UsageError(f"{s.capture}: segments of {len(need - s.kept)} directions missing")
    offset, pairs = pairing.offset, pairing.pairs
    if not pairs:
        # Nothing matched: the rough offset (SYNs paired by rank) relates connections that
        # are not the same, so the two clocks are not related at all.
        offset = ClockOffset(offset_ns=0, transit_ns=None, pairs=0, method="none")
    hs_a, hs_b = _handshakes(a), _handshakes(b)
    matches = compare_pairs(a, b, pairs, offset.offset_ns, _span(a), _span(b), hs_a, hs_b)
    used_a = {p[0] for p in pairs}
    used_b = {p[1] for p in pairs}
    return CompareResult(
        capture_a=a.capture,
        capture_b=b.capture,
        offset=offset,
        matches=tuple(matches),
        only_a=tuple(h for i, h in hs_a.items() if i not in used_a),
        only_b=tuple(h for i, h in hs_b.items() if i not in used_b),
        icmp=tuple(_icmp(a, "a") + _icmp(b, "b")),
        connections=(a.conns.height, b.conns.height),
    )


def handshakes(s: CaptureSummary) -> dict[int, Handshake]:
    """Each connection of a summary as its point saw it, by id."""
    return _handshakes(s)


def compare_pairs(
    a: CaptureSummary,
    b: CaptureSummary,
    pairs: tuple[tuple[int, int, float], ...] | list[tuple[int, int, float]],
    offset_ns: int,
    span_a: tuple[int, int],
    span_b: tuple[int, int],
    hs_a: dict[int, Handshake] | None = None,
    hs_b: dict[int, Handshake] | None = None,
) -> list[ConnectionComparison]:
    """What changed between the points for each pair of connections.

    Args:
        a, b: summaries holding (at least) the connections of `pairs`, with the segment
            rows of the directions whose digests differ.
        pairs: (id at A, id at B, score).
        offset_ns: B's clock minus A's.
        span_a, span_b: (first, last) time of each capture (segments of one point sent
            outside the other's span are not judged).
        hs_a, hs_b: `handshakes(a)` / `handshakes(b)` when already made.

    Returns:
        One comparison per pair, in the order of `pairs`.
    """
    hs_a = _handshakes(a) if hs_a is None else hs_a
    hs_b = _handshakes(b) if hs_b is None else hs_b
    ia, ib = SegIndex(a.segs), SegIndex(b.segs)
    digests = (_digests(a), _digests(b))
    matches = []
    for id_a, id_b, score in pairs:
        ha, hb = hs_a[id_a], hs_b[id_b]
        side = _client_side(ha, hb)
        changes = _handshake_changes(ha, hb)
        seg_changes, lost, offloaded = segment_changes(
            id_a, id_b, ia, ib, digests, span_a, span_b, offset_ns, side
        )
        matches.append(
            ConnectionComparison(
                a=ha,
                b=hb,
                score=score,
                client_side=side,
                nat=_nat(ha, hb),
                changes=tuple(changes + seg_changes),
                lost=lost,
                offloaded=offloaded,
            )
        )
    return matches


def icmp_seen(s: CaptureSummary, point: str) -> list[IcmpSeen]:
    """The ICMP too-big messages of a summary, seen at `point` ("a" or "b")."""
    return _icmp(s, point)
