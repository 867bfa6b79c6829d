"""A lockstep streaming join of two captures: state bounded by the connections open at once.

Layer: passive/. Pure functions and classes fed decoded chunks (`PacketTable`s);
no I/O, no clock. The caller (`jobs.compare`) reads the files and hands each
chunk to the side `StreamJoin.next_side` names.

Each capture is a `CaptureStream`: the connections still open (their spans,
first SYN / SYN-ACK, first data segment and raw data-segment rows), numbered
as they first appear (the order `analyze` numbers them in). A connection is
*retired* once its capture has read past its last packet by `grace_ns` after
it closed (a FIN each way, or a RST), or by `idle_ns` when it did not close; it
is then summarised as the multi-pass read does (`finish_connections`,
`digest_segments`, `finish_summary`) and moves to the join's pool.

`StreamJoin` pairs pooled connections exactly as the whole-capture greedy
pairing (`compare_match.match_connections`) would: a candidate pair is
decided only when neither connection can still gain a better-scoring
candidate (no connection of the other capture, open or yet to come, could
start within the window of either); pairs and one-sided connections are
compared and emitted as soon as they are decided, and their state dropped.
The clock offset is estimated (`rough_offset`) from a bounded first window:
the first `first_window` connections retired at each point, or all of a
shorter capture; a window with no connection of the same shape at both
points doubles, up to `MAX_WINDOW_GROWTH` times.

Differences from the whole-capture read, by design: a key seen again after
its connection retired is a new connection; the segment span test uses the
offset of the first window's pairs; an ICMP message quoting a connection
already retired names no connection; and the rough offset rests on the first
windows only, so two captures whose first windows, grown to their bound,
share no connection (one point started capturing long after the other) are
misaligned where the whole-capture read, which looked at every connection,
was not. The report's
offset is the NTP-style estimate over all pairs, as before (16 bytes kept per
pair).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from mtuscope.capture.table import PacketTable
from mtuscope.passive.compare import compare_pairs, handshakes, icmp_seen
from mtuscope.passive.compare_connections import (
    SummaryPartial,
    finish_connections,
    first_leads,
    first_syns,
    merge_spans,
    summarise_chunk,
    summarise_with_segments,
)
from mtuscope.passive.compare_match import (
    MISSING,
    WINDOW_NS,
    ClockOffset,
    best_first,
    candidates,
    offset_of_handshakes,
    refine_offset,
    rough_offset,
)
from mtuscope.passive.compare_results import CompareResult, ConnectionComparison, Handshake
from mtuscope.passive.compare_summary import (
    CaptureSummary,
    SegmentPartial,
    digest_segments,
    finish_summary,
)
from mtuscope.passive.flows import KEY
from mtuscope.passive.partial import ACK, SYN, pick

I64 = npt.NDArray[np.int64]

GRACE_NS = 2_000_000_000
"""How long after its last packet a closed connection is kept (late retransmissions)."""
IDLE_NS = 60_000_000_000
"""How long after its last packet a connection that did not close is kept."""
FIRST_WINDOW = 2000
"""Connections retired at each point before the clock offset is estimated."""

MAX_WINDOW_GROWTH = 16
"""How far the first window may grow when it holds no pair of the same shape."""
EVERY = 2
"""Chunks of a side between two retirements (each costs a few fixed polars calls)."""

_SEG_COLS = ("id", "dir", "seq", "len", "ip_len", "ip_id", "frame", "ts")


def _empty_segs() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "id": pl.Int64,
            "dir": pl.UInt8,
            "seq": pl.Int64,
            "len": pl.Int64,
            "ip_len": pl.Int64,
            "ip_id": pl.Int64,
            "frame": pl.Int64,
            "ts": pl.Int64,
        }
    )


class CaptureStream:
    """One capture read chunk by chunk: its open connections and what was retired."""

    def __init__(self, capture: str, *, grace_ns: int = GRACE_NS, idle_ns: int = IDLE_NS) -> None:
        self.capture = capture
        self.grace_ns = grace_ns
        self.idle_ns = idle_ns
        empty = summarise_chunk(PacketTable.empty(), capture=capture)
        self._empty = empty
        self.spans = empty.spans.with_columns(pl.lit(0, pl.Int64).alias("id")).clear()
        self.syns = empty.syns
        self.leads = empty.leads
        self.segs: list[pl.DataFrame] = []
        self.icmp: list[pl.DataFrame] = []
        self.next_id = 1
        self.frames = 0
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        """The latest packet time read so far (the stream's progress)."""
        self.eof = False
        self._t0: I64 | None = None
        self.retired = 0
        self.peak_live = 0
        """Most connections held open at once (after a chunk, before retiring)."""

    def feed(self, table: PacketTable) -> None:
        """Add the next chunk of the capture."""
        p, rows = summarise_with_segments(table, capture=self.capture)
        self._t0 = None
        self.frames += p.frames
        self.first_ts = pick(min, self.first_ts, p.first_ts)
        self.last_ts = pick(max, self.last_ts, p.last_ts)
        known = self.spans.select(*KEY, "id")
        old = p.spans.join(known, on=list(KEY), how="inner")
        new = (
            p.spans.join(known, on=list(KEY), how="anti")
            .sort(["first_frame", *KEY])
            .with_row_index("id", offset=self.next_id)
            .with_columns(pl.col("id").cast(pl.Int64))
        )
        self.next_id += new.height
        chunk_spans = pl.concat([old, new.select(old.columns)])
        self.spans = merge_spans(
            pl.concat([self.spans.select(old.columns), chunk_spans]), pl.col("id").first()
        )
        self.peak_live = max(self.peak_live, self.spans.height)
        if p.syns.height:
            self.syns = first_syns(pl.concat([self.syns, p.syns]))
        if p.leads.height:
            self.leads = first_leads(pl.concat([self.leads, p.leads]))
        ids = self.spans.select(*KEY, "id")
        if rows is not None and rows.height:
            self.segs.append(rows.join(ids, on=list(KEY), how="inner").select(_SEG_COLS))
        if p.icmp.height:
            tail = SummaryPartial(
                capture=self.capture,
                syns=self._empty.syns,
                spans=self._empty.spans,
                leads=self._empty.leads,
                icmp=p.icmp,
                frames=0,
                first_ts=None,
                last_ts=None,
            )
            # The connection each message quotes, among those open now.
            self.icmp.append(_quoted(tail, ids))

    def live_t0(self) -> I64:
        """Sorted: the start (SYN time, else first packet) of each open connection."""
        if self._t0 is None:
            self._t0 = self._live_t0()
        return self._t0

    def _live_t0(self) -> I64:
        syn = (pl.col("flags") & SYN != 0) & (pl.col("flags") & ACK == 0)
        first_syn = (
            self.syns.filter(syn)
            .group_by(list(KEY))
            .agg(pl.col("ts").sort_by("frame").first().alias("_syn_ts"))
        )
        t0 = self.spans.join(first_syn, on=list(KEY), how="left").select(
            pl.coalesce("_syn_ts", "first_ts").cast(pl.Int64)
        )
        return np.sort(t0.to_series().to_numpy())

    def retire(self) -> CaptureSummary | None:
        """Summarise and drop the connections done with (all of them at the end of file)."""
        if self.eof:
            gone = self.spans
        else:
            now = self.last_ts or 0
            closed = (pl.col("fin0") & pl.col("fin1")) | pl.col("rst")
            done = (closed & (pl.col("last_ts") + self.grace_ns < now)) | (
                pl.col("last_ts") + self.idle_ns < now
            )
            gone = self.spans.filter(done)
        if gone.height == 0:
            return None
        keys = gone.select(KEY)
        self._t0 = None
        self.spans = self.spans.join(keys, on=list(KEY), how="anti")
        part = SummaryPartial(
            capture=self.capture,
            syns=self.syns.join(keys, on=list(KEY), how="semi"),
            spans=gone,
            leads=self.leads.join(keys, on=list(KEY), how="semi"),
            icmp=self._empty.icmp,
            frames=0,
            first_ts=None,
            last_ts=None,
        )
        self.syns = self.syns.join(keys, on=list(KEY), how="anti")
        self.leads = self.leads.join(keys, on=list(KEY), how="anti")
        conns = finish_connections(part)
        segs = pl.concat(self.segs) if self.segs else _empty_segs()
        ids = gone["id"].implode()
        mine = pl.col("id").is_in(ids)
        self.segs = [segs.filter(~mine)]
        rows = segs.filter(mine).join(
            conns.conns.select("id", pl.col("cdir").alias("client_dir"), "c_base", "s_base"),
            on="id",
        )
        seg: SegmentPartial = digest_segments(rows)
        self.retired += gone.height
        return finish_summary(conns, seg)

    def empty_summary(self) -> CaptureSummary:
        """A summary of no connection (the schema pools start from)."""
        part = SummaryPartial(
            capture=self.capture,
            syns=self._empty.syns,
            spans=self.spans.clear(),
            leads=self._empty.leads,
            icmp=self._empty.icmp,
            frames=0,
            first_ts=None,
            last_ts=None,
        )
        conns = finish_connections(part)
        rows = _empty_segs().with_columns(
            pl.lit(0, pl.UInt8).alias("client_dir"),
            pl.lit(0, pl.Int64).alias("c_base"),
            pl.lit(0, pl.Int64).alias("s_base"),
        )
        return finish_summary(conns, digest_segments(rows))

    def icmp_rows(self) -> pl.DataFrame:
        """The ICMP too-big messages read so far (`ConnectionTable.icmp`)."""
        if not self.icmp:
            return _quoted(
                SummaryPartial(
                    capture=self.capture,
                    syns=self._empty.syns,
                    spans=self._empty.spans,
                    leads=self._empty.leads,
                    icmp=self._empty.icmp,
                    frames=0,
                    first_ts=None,
                    last_ts=None,
                ),
                self.spans.select(*KEY, "id").clear(),
            )
        return pl.concat(self.icmp).sort("frame")


def _quoted(p: SummaryPartial, ids: pl.DataFrame) -> pl.DataFrame:
    from mtuscope.passive.icmp import quoted_connections

    icmp = p.icmp.sort("frame")
    quoted = quoted_connections(icmp, ids)
    return icmp.select(
        "frame",
        "ts",
        sender_hi="src_hi",
        sender_lo="src_lo",
        family="family",
        ttl="ttl",
        mtu="mtu",
        quoted_len="q_ip_len",
        connection=quoted["id"].cast(pl.Int64),
    )


@dataclass
class _Pool:
    """Retired connections of one point not yet emitted (and, at B, recently emitted)."""

    conns: list[pl.DataFrame] = field(default_factory=list)
    dirs: list[pl.DataFrame] = field(default_factory=list)
    segs: list[pl.DataFrame] = field(default_factory=list)
    done: set[int] = field(default_factory=set)
    """Ids emitted (B keeps their rows while an undecided connection of A may see them)."""

    def add(self, s: CaptureSummary) -> None:
        self.conns.append(s.conns)
        self.dirs.append(s.dirs)
        self.segs.append(s.segs)

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        conns = pl.concat(self.conns, how="diagonal_relaxed").sort("id")
        dirs = pl.concat(self.dirs, how="diagonal_relaxed")
        segs = pl.concat(self.segs, how="diagonal_relaxed")
        self.conns, self.dirs, self.segs = [conns], [dirs], [segs]
        return conns, dirs, segs


@dataclass
class JoinStats:
    """How much the join held at most (the memory bound's evidence)."""

    peak_held: int = 0
    """Most connections held at once: open at both points plus pooled at both."""
    rounds: int = 0


class StreamJoin:
    """Pairs and compares the connections of two `CaptureStream`s as they retire."""

    def __init__(
        self,
        a: CaptureStream,
        b: CaptureStream,
        *,
        window_ns: int = WINDOW_NS,
        first_window: int = FIRST_WINDOW,
        every: int = EVERY,
    ) -> None:
        self.a, self.b = a, b
        self.every = every
        self.max_window = first_window * MAX_WINDOW_GROWTH
        self._fed = {"a": 0, "b": 0}
        self.window_ns = window_ns
        self.first_window = first_window
        self.pool_a, self.pool_b = _Pool(), _Pool()
        self.pool_a.add(a.empty_summary())
        self.pool_b.add(b.empty_summary())
        self.rough: ClockOffset | None = None
        self.offset_ns = 0
        """The offset segment spans are aligned with (the first window's pairs)."""
        self._aligned = False
        self.matches: list[ConnectionComparison] = []
        self.only_a: list[Handshake] = []
        self.only_b: list[Handshake] = []
        self._times: list[I64] = []
        self.stats = JoinStats()

    def next_side(self) -> str | None:
        """Which capture to read a chunk of next ("a", "b"), None when both are read."""
        a, b = self.a, self.b
        if a.eof and b.eof:
            return None
        if a.eof or b.eof:
            return "b" if a.eof else "a"
        if self.rough is None:
            return "a" if a.frames <= b.frames else "b"
        ta = a.last_ts or 0
        tb = (b.last_ts or 0) - self.rough.offset_ns
        return "a" if ta <= tb else "b"

    def fed(self, side: str) -> None:
        """After a chunk was fed to `side` (or its end reached: set `eof` first)."""
        stream, pool = (self.a, self.pool_a) if side == "a" else (self.b, self.pool_b)
        self._fed[side] += 1
        held = (
            self.a.spans.height
            + self.b.spans.height
            + sum(c.height for c in self.pool_a.conns)
            + sum(c.height for c in self.pool_b.conns)
        )
        self.stats.peak_held = max(self.stats.peak_held, held)
        if not stream.eof and self._fed[side] % self.every:
            return  # retire and decide every `every` chunks of a side: fewer, larger steps
        got = stream.retire()
        if got is not None:
            pool.add(got)
        if self.rough is None:
            ready = (self.a.eof or self.a.retired >= self.first_window) and (
                self.b.eof or self.b.retired >= self.first_window
            )
            if not ready:
                return
            ca, _, _ = self.pool_a.frames()
            cb, _, _ = self.pool_b.frames()
            rough = rough_offset(_summary(self.a, ca), _summary(self.b, cb))
            grow = not (self.a.eof and self.b.eof) and self.first_window < self.max_window
            if rough.method != "syn" and grow:
                # No connection of the same shape at both points yet: the windows may
                # not overlap in time; read on (the window doubles, up to a bound).
                self.first_window *= 2
                return
            self.rough = rough
        self._round()

    def _saturated(
        self, t0: I64, last: I64, other: CaptureStream, shift: int
    ) -> npt.NDArray[np.bool_]:
        """Whether no connection of `other`, open or to come, can start within the window."""
        w = self.window_ns
        lo, hi = t0 + shift - w, t0 + shift + w
        if other.eof:
            return np.ones(len(t0), dtype=np.bool_)
        live = other.live_t0()
        blocked = np.searchsorted(live, hi, side="right") > np.searchsorted(live, lo, side="left")
        progress = other.last_ts or 0
        ok: npt.NDArray[np.bool_] = (~blocked) & (progress > hi) & (progress > last + shift)
        return ok

    def _round(self) -> None:
        assert self.rough is not None
        self.stats.rounds += 1
        off = self.rough.offset_ns
        w = self.window_ns
        ca, dirs_a, segs_a = self.pool_a.frames()
        cb, dirs_b, segs_b = self.pool_b.frames()
        if ca.height == 0 and cb.height == 0:
            return
        pend_a = ca  # A emits and drops at once: every pooled A connection is pending
        pend_b_mask = ~cb["id"].is_in(pl.Series(sorted(self.pool_b.done), dtype=pl.Int64).implode())
        pend_b = cb.filter(pend_b_mask)
        t0a = _i64(pend_a, "t0")
        sat_a = self._saturated(t0a, _i64(pend_a, "last_ts"), self.b, off)
        t0b = _i64(pend_b, "t0")
        sat_b = self._saturated(t0b, _i64(pend_b, "last_ts"), self.a, -off)
        ids_pa = _i64(pend_a, "id")
        ids_pb = _i64(pend_b, "id")
        taint_a = set(ids_pa[~sat_a].tolist())
        taint_b = set(ids_pb[~sat_b].tolist())
        # An unsaturated A connection may have candidates not known yet: the pooled B
        # connections within its window cannot be decided either.
        if (~sat_a).any() and cb.height:
            tb = _i64(cb, "t0") - off
            order = np.argsort(tb, kind="stable")
            ts = tb[order]
            ua = t0a[~sat_a]
            lo = np.searchsorted(ts, ua - w, side="left")
            hi = np.searchsorted(ts, ua + w, side="right")
            mark = np.zeros(len(ts) + 1, dtype=np.int64)
            np.add.at(mark, lo, 1)
            np.add.at(mark, hi, -1)
            inside = np.cumsum(mark[:-1]) > 0
            taint_b |= set(_i64(cb, "id")[order[inside]].tolist())
        ida, idb, score = candidates(pend_a.filter(pl.Series(sat_a)), cb, off, window_ns=w)
        done_b = self.pool_b.done
        sel_a: set[int] = set()
        sel_b: set[int] = set()
        pairs: list[tuple[int, int, float]] = []
        for k in best_first(ida, idb, score).tolist():
            x, y = int(ida[k]), int(idb[k])
            if x in sel_a or y in sel_b or y in done_b:
                continue
            if x in taint_a or y in taint_b:
                taint_a.add(x)
                taint_b.add(y)
                continue
            sel_a.add(x)
            sel_b.add(y)
            pairs.append((x, y, round(float(score[k]), 3)))
        pairs.sort()
        alone_a = [i for i in ids_pa[sat_a].tolist() if i not in taint_a and i not in sel_a]
        alone_b = [i for i in ids_pb[sat_b].tolist() if i not in taint_b and i not in sel_b]
        emit_a = sel_a | set(alone_a)
        emit_b = sel_b | set(alone_b)
        if emit_a or emit_b:
            sa = _summary(self.a, ca, dirs_a, segs_a, emit_a)
            sb = _summary(self.b, cb, dirs_b, segs_b, emit_b)
            if pairs and not self._aligned:
                # The first pairs decided (those of the first window) set the offset
                # segment spans are aligned with, as the whole-capture read's pairs do.
                self.offset_ns = refine_offset(sa, sb, pairs, self.rough).offset_ns
                self._aligned = True
            hs_a, hs_b = handshakes(sa), handshakes(sb)
            span_a = (self.a.first_ts or 0, self.a.last_ts or 0)
            span_b = (self.b.first_ts or 0, self.b.last_ts or 0)
            self.matches += compare_pairs(sa, sb, pairs, self.offset_ns, span_a, span_b, hs_a, hs_b)
            self.only_a += [hs_a[i] for i in alone_a]
            self.only_b += [hs_b[i] for i in alone_b]
            self._times.append(_pair_times(sa, sb, pairs))
        # Drop what was emitted: A at once; B's rows stay (without segments) while an
        # A connection still pending may see them among its candidates.
        keep_a = ~pl.col("id").is_in(pl.Series(sorted(emit_a), dtype=pl.Int64).implode())
        self.pool_a.conns = [ca.filter(keep_a)]
        self.pool_a.dirs = [dirs_a.filter(keep_a)]
        self.pool_a.segs = [segs_a.filter(keep_a)]
        done_b |= emit_b
        gone_b = pl.col("id").is_in(pl.Series(sorted(done_b), dtype=pl.Int64).implode())
        self.pool_b.dirs = [dirs_b.filter(~gone_b)]
        self.pool_b.segs = [segs_b.filter(~gone_b)]
        # An emitted B connection is forgotten once no pending A connection is near it.
        left_a = self.pool_a.conns[0]
        near_t = np.sort(_i64(left_a, "t0") + off)
        if not self.a.eof:
            near_t = np.sort(np.concatenate([near_t, self.a.live_t0() + off]))
        tb_all = _i64(cb, "t0")
        lo = np.searchsorted(near_t, tb_all - w, side="left")
        hi = np.searchsorted(near_t, tb_all + w, side="right")
        progress = (self.a.last_ts or 0) + off
        still = (hi > lo) | ((progress <= tb_all + w) & (not self.a.eof))
        ids_cb = _i64(cb, "id")
        forget = {int(i) for i in ids_cb[~still].tolist()} & done_b
        if forget:
            self.pool_b.conns = [
                cb.filter(~pl.col("id").is_in(pl.Series(sorted(forget), dtype=pl.Int64).implode()))
            ]
            done_b -= forget

    def result(self) -> CompareResult:
        """The comparison, once both captures are read to the end."""
        rough = self.rough or ClockOffset(offset_ns=0, transit_ns=None, pairs=0, method="none")
        if self.matches:
            t = np.concatenate(self._times)
            offset = offset_of_handshakes(t[:, 0], t[:, 1], t[:, 2], t[:, 3], rough)
        else:
            offset = ClockOffset(offset_ns=0, transit_ns=None, pairs=0, method="none")
        sa = _summary(self.a, None)
        sb = _summary(self.b, None)
        return CompareResult(
            capture_a=self.a.capture,
            capture_b=self.b.capture,
            offset=offset,
            matches=tuple(sorted(self.matches, key=lambda m: m.a.id)),
            only_a=tuple(sorted(self.only_a, key=lambda h: h.id)),
            only_b=tuple(sorted(self.only_b, key=lambda h: h.id)),
            icmp=tuple(icmp_seen(sa, "a") + icmp_seen(sb, "b")),
            connections=(self.a.next_id - 1, self.b.next_id - 1),
        )


def _pair_times(a: CaptureSummary, b: CaptureSummary, pairs: list[tuple[int, int, float]]) -> I64:
    """Per pair: SYN time at A and B, SYN/ACK time at A and B (`MISSING`: not seen)."""
    ids = pl.DataFrame(
        {"id": [p[0] for p in pairs], "id_b": [p[1] for p in pairs]},
        schema={"id": pl.Int64, "id_b": pl.Int64},
    )
    cols = ["id", "syn_ts", "sa_ts"]
    j = ids.join(a.conns.select(cols), on="id", how="left", maintain_order="left").join(
        b.conns.select(cols).rename({"id": "id_b"}),
        on="id_b",
        suffix="_b",
        how="left",
        maintain_order="left",
    )
    out = j.select(
        pl.col(c).cast(pl.Int64).fill_null(MISSING)
        for c in ("syn_ts", "syn_ts_b", "sa_ts", "sa_ts_b")
    ).to_numpy()
    return np.asarray(out, dtype=np.int64).reshape(-1, 4)


def _i64(df: pl.DataFrame, name: str) -> I64:
    out: I64 = df[name].cast(pl.Int64).to_numpy()
    return out


def _summary(
    s: CaptureStream,
    conns: pl.DataFrame | None,
    dirs: pl.DataFrame | None = None,
    segs: pl.DataFrame | None = None,
    ids: set[int] | None = None,
) -> CaptureSummary:
    """A `CaptureSummary` of some pooled connections (all given, or only `ids`)."""
    empty = s.spans.clear()
    if conns is None:
        conns = empty
    if ids is not None:
        want = pl.col("id").is_in(pl.Series(sorted(ids), dtype=pl.Int64).implode())
        conns = conns.filter(want)
        dirs = dirs.filter(want) if dirs is not None else None
        segs = segs.filter(want) if segs is not None else None
    return CaptureSummary(
        capture=s.capture,
        conns=conns,
        dirs=dirs if dirs is not None else pl.DataFrame(),
        segs=(segs if segs is not None else pl.DataFrame()).sort("id", "cdir", "rel", "frame")
        if segs is not None
        else pl.DataFrame(),
        kept=None,
        icmp=s.icmp_rows(),
        frames=s.frames,
        first_ts=s.first_ts,
        last_ts=s.last_ts,
    )
