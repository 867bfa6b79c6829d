"""Bulk decoding: walker records plus header blocks -> a PacketTable.

Layer: capture/. Pure numpy over whole chunks; no I/O, no per-packet Python
on the hot path. The walker has already found the innermost IP header of each
frame and copied its first `HEADER_BYTES` bytes into one block row (zeros
past `hdr_len`), so every fixed field is a gather at a computed offset.

Two paths, one truth: TCP options of SYNs are walked here for all SYN rows at
once (a vectorised option walk, at most 40 steps), and the ICMP errors — rare —
go through `wire.icmp.decode_icmp_error`. Tests check the vectorised option
walk against `wire.tcp_options.decode_tcp_options` and both against tshark.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from mtuscope.capture.reassembly import reassemble
from mtuscope.capture.records import HEADER_BYTES, NO_OFFSET, WalkStatus
from mtuscope.capture.table import DecodeIssue, PacketTable, address_halves
from mtuscope.errors import DecodeError
from mtuscope.wire.enums import IpProto, TcpOptionKind
from mtuscope.wire.icmp import ICMP4_ERRORS, ICMP6_ERRORS, ICMP_LAYOUT, decode_icmp_error
from mtuscope.wire.ipv4 import IPV4_LAYOUT, IPV4_MIN_HEADER
from mtuscope.wire.ipv6 import IPV6_FRAGMENT_LAYOUT, IPV6_HEADER, IPV6_LAYOUT
from mtuscope.wire.layout import Layout
from mtuscope.wire.tcp import TCP_LAYOUT, TCP_MIN_HEADER, TcpFlags
from mtuscope.wire.tcp_options import MAX_OPTIONS_LEN, OPTION_LENGTHS
from mtuscope.wire.udp import UDP_HEADER, UDP_LAYOUT

_c_transport: Callable[..., None] | None
_c_network: Callable[..., None] | None
try:
    from mtuscope.capture import _walker
except ImportError:  # the optional C extension is not built: the numpy twins run
    _c_transport = _c_network = None
else:
    _c_transport, _c_network = _walker.transport, _walker.network

U8 = npt.NDArray[np.uint8]
Cols = dict[str, npt.NDArray[Any]]
_IPV4_MAPPED_HI = np.uint64(0)
_IPV4_MAPPED_LO = np.uint64(0xFFFF << 32)
_ICMP4_ERRORS = frozenset(int(t) for t in ICMP4_ERRORS)
_ICMP6_ERRORS = frozenset(int(t) for t in ICMP6_ERRORS)
_TCP, _UDP, _ICMP, _ICMP6 = (
    int(p) for p in (IpProto.TCP, IpProto.UDP, IpProto.ICMP, IpProto.ICMPV6)
)
# Protocols whose ports fill the sport/dport columns (their first 4 bytes). UDP-Lite is
# left out here as it always was, though the quote decoder reads its ports too.
_PORTED = (_TCP, _UDP, int(IpProto.SCTP), int(IpProto.DCCP))
_SYN = int(TcpFlags.SYN)
_SLICED_OFFSETS = 8  # distinct start offsets `_gather` slices one by one

# Where each fixed field sits, from wire/'s layout declarations (one truth for both paths).
_V4_VER_IHL = IPV4_LAYOUT.offset("version_ihl")
_V4_TTL = IPV4_LAYOUT.offset("ttl")
_V6_HOP_LIMIT = IPV6_LAYOUT.offset("hop_limit")
_V6_SRC = IPV6_LAYOUT.offset("src")
_V6_DST = IPV6_LAYOUT.offset("dst")
_TCP_OFFSET_FLAGS = TCP_LAYOUT.offset("offset_flags")
_ICMP_TYPE = ICMP_LAYOUT.offset("type")
_ICMP_CODE = ICMP_LAYOUT.offset("code")
_ICMP_REST = ICMP_LAYOUT.offset("rest")  # type, code and checksum are there before it
_DTYPES = {1: "u1", 2: ">u2", 4: ">u4", 8: ">u8"}
_WIDENED = {1: np.uint32, 2: np.uint32, 4: np.uint64, 8: np.uint64}
_EOL, _NOP = int(TcpOptionKind.EOL), int(TcpOptionKind.NOP)
_MSS, _WSCALE = int(TcpOptionKind.MSS), int(TcpOptionKind.WSCALE)
_SACK_OK, _TS = int(TcpOptionKind.SACK_PERMITTED), int(TcpOptionKind.TIMESTAMPS)
_LEN = {int(kind): length for kind, length in OPTION_LENGTHS.items()}
_LAST_OPT = MAX_OPTIONS_LEN - 1
# Walker statuses that make a frame a decode issue, and the line that says why.
_ISSUE_TEXT = {
    int(WalkStatus.MALFORMED): "malformed header (a length field points outside the frame)",
    int(WalkStatus.UNDECODED): "IP in a form not decoded (PPP header compression, "
    "compressed or multilink PPP)",
}
_ISSUE_STATUSES = np.array(sorted(_ISSUE_TEXT), dtype=np.uint8)


def _raw(b: U8, i: int, width: int) -> npt.NDArray[Any]:
    """The big-endian `width`-byte value at column `i` of every row (one copy, one view)."""
    return np.ascontiguousarray(b[:, i : i + width]).view(_DTYPES[width])[:, 0]


def _get(b: U8, layout: Layout, name: str) -> npt.NDArray[Any]:
    """Field `name` of `layout` in every row of `b` (rows start at that header),
    widened to uint32 (1- and 2-byte fields) or uint64."""
    f = layout.field(name)
    return _raw(b, f.offset, f.width).astype(_WIDENED[f.width])


def _u64(b: U8, i: int) -> npt.NDArray[np.uint64]:
    """8 bytes at column `i`: one half of an IPv6 address."""
    return _raw(b, i, 8).astype(np.uint64)


def _gather(
    block: U8, start: npt.NDArray[np.int64], width: int, rows: npt.NDArray[Any] | None = None
) -> U8:
    """`width` bytes of each row (of `rows`, default all) from its own `start` (zeros
    past the block), read straight from the block (no copy of whole rows).

    Rows share a handful of start offsets (20 for IPv4 without options, 40 for
    IPv6), so each distinct offset is one slice of the rows having it; many
    distinct offsets fall back to one flat `take` with a computed index."""
    n = len(start)
    lo, hi = (int(start.min()), int(start.max())) if n else (0, -1)
    if lo == hi:
        starts = start[:1]
    elif 0 <= lo and hi < 1 << 17:  # offsets from 16-bit fields: count, don't sort
        starts = np.flatnonzero(np.bincount(start))
    else:
        starts = np.unique(start)
    if len(starts) > _SLICED_OFFSETS:
        return _gather_flat(block, start, width, rows)
    got: U8 = np.zeros((n, width), dtype=np.uint8)
    for s in starts.tolist():
        w = min(width, HEADER_BYTES - s)
        if len(starts) == 1:
            sel: npt.NDArray[Any] | slice = slice(None)
            src = slice(None) if rows is None else rows
        else:
            sel = np.flatnonzero(start == s)
            src = sel if rows is None else rows[sel]
        if w > 0:
            got[sel, :w] = block[src, s : s + w]
    return got


def _gather_flat(
    block: U8, start: npt.NDArray[np.int64], width: int, rows: npt.NDArray[Any] | None
) -> U8:
    at = np.arange(width, dtype=np.int64)[None, :] + start[:, None]
    inside = at < HEADER_BYTES
    base = np.arange(len(start), dtype=np.int64) if rows is None else rows.astype(np.int64)
    flat = np.minimum(at, HEADER_BYTES - 1)
    flat += (base * HEADER_BYTES)[:, None]
    got: U8 = np.ascontiguousarray(block).reshape(-1).take(flat)
    got[~inside] = 0
    return got


def decode_chunk(
    records: npt.NDArray[np.void],
    block: U8,
    ts_ns: npt.NDArray[np.int64],
    first_frame: int,
) -> PacketTable:
    """Decode one walked chunk into a PacketTable.

    Args:
        records: RECORD_DTYPE rows from the walker, one per frame.
        block: `(len(records), HEADER_BYTES)` bytes from each innermost IP header.
        ts_ns: capture time of each frame, ns since the epoch.
        first_frame: 1-based frame number of row 0.

    Returns:
        The chunk as columns. `issues` lists the frames the walker flagged MALFORMED
        or UNDECODED, those whose header lengths lie (IPv4 IHL, TCP data offset:
        marked `truncated` so analyses leave them out), and what reassembling
        fragments met (`capture.reassembly`); their columns hold what could be read.
    """
    n = len(records)
    c: Cols = dict(PacketTable.empty(n).columns)
    c["frame"][:] = np.arange(first_frame, first_frame + n, dtype=np.int64)
    c["ts_ns"][:] = ts_ns
    for name in ("caplen", "wirelen", "iface", "linktype", "encap", "encap_overhead"):
        c[name][:] = records[name]
    fam = records["family"]
    hdr_len = records["hdr_len"].astype(np.int64)
    c["family"][:] = fam

    _decode_network(c, block, records, hdr_len)
    c["proto"][fam != 0] = records["l4_proto"][fam != 0]

    l4_off = records["l4_off"].astype(np.int64)
    has_l4 = (fam != 0) & (l4_off != NO_OFFSET)
    rows = np.flatnonzero(has_l4)
    l3_off = records["l3_off"].astype(np.int64)
    lies = _decode_transport(
        c,
        block,
        rows,
        l4_off[rows],
        hdr_len[rows],
        records["wirelen"][rows],
        l3_off[rows],
    )
    lies |= _lying_ihl(c, records["wirelen"].astype(np.int64) - l3_off, fam)
    if lies:  # their fields are not to be trusted: analyses leave them out
        c["truncated"][np.fromiter(lies, dtype=np.int64)] = True
    lies = _decode_reassembled(c, block, records) | lies

    status = records["status"]
    errors = {
        int(i): _ISSUE_TEXT[int(status[i])]
        for i in np.flatnonzero(np.isin(status, _ISSUE_STATUSES))
    }
    for i, text in lies.items():
        errors.setdefault(i, text)
    issues = tuple(
        DecodeIssue(
            frame=int(first_frame + i),
            offset=int(records["file_off"][i]),
            error=errors[i],
        )
        for i in sorted(errors)
    )
    return PacketTable(columns=c, issues=issues)


# Transport columns a reassembled datagram gives the row of its completing fragment.
_TRANSPORT = ("sport", "dport", "tcp_flags", "seq", "ack", "win", "thl", "payload", "mss",
              "wscale", "sack_perm", "tsopt")  # fmt: skip


def _decode_reassembled(c: Cols, block: U8, records: npt.NDArray[np.void]) -> dict[int, str]:
    """Decode the TCP datagrams `reassembly.reassemble` put back together: their transport
    fields go to the row of the fragment that completed each, marked `reassembled`
    unless cut short or lying. Returns the rows with issues (overlaps, bounds, lying
    lengths) and their lines."""
    got = reassemble(c, block, records)
    issues = dict(got.issues)
    n = len(got.rows)
    if not n:
        return issues
    rows = got.rows
    sub: Cols = {k: v[rows].copy() for k, v in c.items()}
    sub["ip_len"] = got.ip_len.astype(np.uint32)
    sub["fragment"] = np.zeros(n, dtype=bool)
    sub["truncated"] = got.hdr_len < got.l4_off
    lies = _decode_transport(
        sub,
        got.block,
        np.arange(n),
        got.l4_off,
        got.hdr_len,
        sub["ip_len"],
        np.zeros(n, dtype=np.int64),
    )
    for name in _TRANSPORT:
        c[name][rows] = sub[name]
    usable = ~sub["truncated"]
    for k, text in lies.items():  # a datagram whose TCP lengths lie is left out too
        usable[k] = False
        issues.setdefault(int(rows[k]), text)
    c["reassembled"][rows] = usable
    # the row's transport fields are the datagram's now, complete or not (a first
    # fragment that completed it was marked truncated for its own few TCP bytes)
    c["truncated"][rows] = ~usable
    return issues


def _lying_ihl(c: Cols, on_wire: npt.NDArray[np.int64], fam: npt.NDArray[Any]) -> dict[int, str]:
    """IPv4 rows whose IHL lies, with the line that says how: past the packet (its total
    length, when not 0 as TSO writes it) or past the frame on the wire (`on_wire`: bytes
    from the IP header on). A snaplen cut before the IHL's end is TRUNCATED, not this."""
    ihl = c["ip_hlen"].astype(np.int64)
    ip_len = c["ip_len"].astype(np.int64)
    v4 = fam == 4
    past_len = v4 & (ip_len >= IPV4_MIN_HEADER) & (ihl > ip_len)
    past_wire = v4 & (ihl > on_wire)
    out: dict[int, str] = {}
    for i in np.flatnonzero(past_len | past_wire).tolist():
        total = f"total length {ip_len[i]}" if past_len[i] else f"{on_wire[i]} bytes on the wire"
        out[i] = f"IPv4 header length (IHL) {ihl[i]} bytes past the packet ({total})"
    return out


def _rows(idx: npt.NDArray[np.intp], n: int) -> npt.NDArray[np.intp] | slice:
    """`idx` (sorted, unique row numbers of a table of `n` rows), or `slice(None)`
    when it holds every row, so indexing with it gives a view, not a copy."""
    return slice(None) if len(idx) == n else idx


def _decode_network(
    c: Cols,
    block: U8,
    records: npt.NDArray[np.void],
    hdr_len: npt.NDArray[np.int64],
    impl: Callable[..., None] | None = None,
) -> None:
    """The IPv4 and IPv6 header fields of every row (`_network_c` when the extension
    is built, else `_network_np`), then the rare IPv6 fragment headers."""
    fn = impl or (_network_c if _c_network is not None else _network_np)
    fn(c, block, records, hdr_len)
    v6 = np.flatnonzero(records["family"] == 6)
    if len(v6):
        _decode_ipv6_fragments(c, block, v6, records[v6])


def _network_c(
    c: Cols, block: U8, records: npt.NDArray[np.void], hdr_len: npt.NDArray[np.int64]
) -> None:
    """`_network_np` by the compiled `network` pass (`_walker.c`)."""
    n = len(records)
    if _c_network is None or block.shape != (n, HEADER_BYTES):
        _network_np(c, block, records, hdr_len)
        return
    names: tuple[str, ...] = ("src_hi", "src_lo", "dst_hi", "dst_lo", "ip_len", "ip_hlen")
    names += ("ttl", "ip_id")
    names += ("df", "mf", "frag_off", "fragment", "truncated")
    _c_network(
        np.ascontiguousarray(block, dtype=np.uint8),
        np.ascontiguousarray(records["family"]),
        np.ascontiguousarray(hdr_len, dtype=np.int64),
        records["l4_off"].astype(np.int64),
        *(c[k] for k in names),
    )


def _network_np(
    c: Cols, block: U8, records: npt.NDArray[np.void], hdr_len: npt.NDArray[np.int64]
) -> None:
    """The fixed IPv4 and IPv6 header fields of every row (the numpy twin of
    `_walker.network`): IPv4 header length, total length, identification, DF, MF,
    fragment offset, fragment, TTL, addresses (IPv4-mapped), `truncated` without the
    20 bytes; IPv6 40 + payload length, hop limit, addresses, DF, the header length
    up to the transport header, `truncated` without the 40 bytes. Other rows keep
    their values."""
    n = len(records)
    fam = records["family"]
    v4 = np.flatnonzero(fam == 4)
    v6 = np.flatnonzero(fam == 6)
    # Only the fixed headers' bytes: a view when all rows share a family, else a copy
    # of 20 or 40 bytes per row rather than the whole row.
    _decode_ipv4(c, block[_rows(v4, n), :IPV4_MIN_HEADER], v4, hdr_len[v4])
    _decode_ipv6(c, block, v6, records[v6], hdr_len[v6])


def _decode_ipv4(c: Cols, b: U8, rows: np.ndarray, hdr_len: np.ndarray) -> None:
    if not len(rows):
        return
    ihl = (b[:, _V4_VER_IHL] & 0x0F).astype(np.uint16) * 4
    c["ip_hlen"][rows] = ihl
    c["ip_len"][rows] = _get(b, IPV4_LAYOUT, "total_length")
    c["ip_id"][rows] = _get(b, IPV4_LAYOUT, "ident")
    # RFC 791 §3.1: reserved bit, DF 0x4000, MF 0x2000, then the offset in 8-byte units.
    flags = _get(b, IPV4_LAYOUT, "flags_fragment")
    c["df"][rows] = (flags & 0x4000) != 0
    c["mf"][rows] = (flags & 0x2000) != 0
    c["frag_off"][rows] = (flags & 0x1FFF) * 8
    c["fragment"][rows] = (flags & 0x3FFF) != 0
    c["ttl"][rows] = b[:, _V4_TTL]
    c["src_hi"][rows] = _IPV4_MAPPED_HI
    c["src_lo"][rows] = _IPV4_MAPPED_LO | _get(b, IPV4_LAYOUT, "src")
    c["dst_hi"][rows] = _IPV4_MAPPED_HI
    c["dst_lo"][rows] = _IPV4_MAPPED_LO | _get(b, IPV4_LAYOUT, "dst")
    c["truncated"][rows] = hdr_len < IPV4_MIN_HEADER


def _decode_ipv6(
    c: Cols, block: U8, rows: np.ndarray, rec: np.ndarray, hdr_len: np.ndarray
) -> None:
    if not len(rows):
        return
    b = block[_rows(rows, len(block)), :IPV6_HEADER]
    c["ip_len"][rows] = _get(b, IPV6_LAYOUT, "payload_length") + IPV6_HEADER
    c["ttl"][rows] = b[:, _V6_HOP_LIMIT]
    c["src_hi"][rows] = _u64(b, _V6_SRC)
    c["src_lo"][rows] = _u64(b, _V6_SRC + 8)
    c["dst_hi"][rows] = _u64(b, _V6_DST)
    c["dst_lo"][rows] = _u64(b, _V6_DST + 8)
    c["df"][rows] = True  # RFC 8200 §5: routers never fragment IPv6
    l4 = rec["l4_off"].astype(np.int64)
    c["ip_hlen"][rows] = np.where(l4 != NO_OFFSET, l4, IPV6_HEADER)
    c["truncated"][rows] = hdr_len < IPV6_HEADER


def _decode_ipv6_fragments(c: Cols, block: U8, rows: np.ndarray, rec: np.ndarray) -> None:
    """The fragment header fields of the IPv6 `rows` that have one."""
    fo = rec["v6frag_off"].astype(np.int64)
    has_frag = fo != NO_OFFSET
    if has_frag.any():
        sub = np.flatnonzero(has_frag)
        fh = _gather(block, fo[sub], IPV6_FRAGMENT_LAYOUT.size, rows[sub])
        off_flags = _get(fh, IPV6_FRAGMENT_LAYOUT, "offset_flags")
        r = rows[sub]
        c["frag_off"][r] = (off_flags >> 3) * 8
        c["mf"][r] = (off_flags & 1) != 0
        c["ip_id"][r] = _get(fh, IPV6_FRAGMENT_LAYOUT, "ident")
        c["fragment"][r] = True


def _decode_transport(
    c: Cols,
    block: U8,
    rows: np.ndarray,
    l4: np.ndarray,
    hdr_len: np.ndarray,
    wirelen: np.ndarray,
    l3_off: np.ndarray,
    impl: Callable[..., tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_]]] | None = None,
) -> dict[int, str]:
    """Transport fields of `rows`; returns the rows whose TCP data offset lies, with
    the line that says how. The fixed fields come from `transport` (the compiled
    pass when built, else `_transport_np`), then the SYN options and ICMP messages."""
    if not len(rows):
        return {}
    rows = np.asarray(rows, dtype=np.int64)
    l4 = np.asarray(l4, dtype=np.int64)
    hdr_len = np.asarray(hdr_len, dtype=np.int64)
    fn = impl or (_transport_c if _c_transport is not None else _transport_np)
    lie, syn = fn(c, block, rows, l4, hdr_len, wirelen, l3_off)
    lies: dict[int, str] = {}
    for k in np.flatnonzero(lie).tolist():
        row = int(rows[k])
        thl = int(c["thl"][row])
        if lie[k] == 1:
            lies[row] = f"TCP data offset {thl} bytes, below the 20-byte minimum"
        else:
            one = slice(k, k + 1)
            seg = _l4_bytes(c, rows[one], l4[one], wirelen[one], l3_off[one])[0]
            lies[row] = f"TCP data offset {thl} bytes past the segment ({seg} bytes)"
    s = np.flatnonzero(syn)
    if len(s):
        r = rows[s]
        _decode_syn_options(c, block, r, l4[s], c["thl"][r].astype(np.int64), hdr_len[s])
    proto = c["proto"][rows]
    icmp = (proto == _ICMP) | (proto == _ICMP6)
    if icmp.any():
        _decode_icmp(c, block, rows[icmp], l4[icmp], hdr_len[icmp], proto[icmp])
    return lies


def _l4_bytes(
    c: Cols, rows: np.ndarray, l4: np.ndarray, wirelen: np.ndarray, l3_off: np.ndarray
) -> npt.NDArray[np.int64]:
    """Transport bytes of each row: from the IP length fields, or, where they do not
    reach past the transport header's start (a TSO/GSO frame captured on the sender
    carries IPv4 total length 0, or an IPv6 jumbo length), from the frame itself."""
    ip_len = c["ip_len"][rows].astype(np.int64)
    bogus = ip_len <= l4
    ip_len = np.where(bogus, np.asarray(wirelen, dtype=np.int64) - l3_off, ip_len)
    out: npt.NDArray[np.int64] = np.maximum(ip_len - l4, 0)
    return out


def _transport_c(
    c: Cols,
    block: U8,
    rows: npt.NDArray[np.int64],
    l4: npt.NDArray[np.int64],
    hdr_len: npt.NDArray[np.int64],
    wirelen: np.ndarray,
    l3_off: np.ndarray,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
    """`_transport_np` by the compiled `transport` pass (`_walker.c`)."""
    if _c_transport is None or block.ndim != 2 or block.shape != (len(c["proto"]), HEADER_BYTES):
        return _transport_np(c, block, rows, l4, hdr_len, wirelen, l3_off)
    n = len(rows)
    lie = np.zeros(n, np.int8)
    syn = np.zeros(n, np.bool_)
    cols = [c[k] for k in ("proto", "ip_len", "fragment", "sport", "dport", "seq", "ack")]
    cols += [c[k] for k in ("tcp_flags", "win", "thl", "payload", "truncated")]
    _c_transport(
        np.ascontiguousarray(block, dtype=np.uint8),
        rows,
        l4,
        hdr_len,
        np.ascontiguousarray(wirelen, dtype=np.int64),
        np.ascontiguousarray(l3_off, dtype=np.int64),
        *cols,
        lie.view(np.uint8),
        syn,
    )
    return lie, syn


def _transport_np(
    c: Cols,
    block: U8,
    rows: npt.NDArray[np.int64],
    l4: npt.NDArray[np.int64],
    hdr_len: npt.NDArray[np.int64],
    wirelen: np.ndarray,
    l3_off: np.ndarray,
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_]]:
    """The fixed transport fields of `rows` (the pure-numpy twin of `_walker.transport`).

    Ports of TCP, UDP, SCTP and DCCP rows; TCP sequence and ack numbers, flags,
    window, header length, payload, `truncated` when its 20-byte header is not
    captured; UDP payload, `truncated` when its 8 bytes are not captured. Returns per
    row: 1 where the TCP data offset is below 20 bytes, 2 where it runs past the
    segment (not in a fragment), else 0; and the SYNs whose options are captured."""
    h = _gather(block, l4, TCP_MIN_HEADER, rows)  # the largest fixed transport header
    proto = c["proto"][rows]
    have = hdr_len - l4  # transport bytes captured (within the block)
    l4_bytes = _l4_bytes(c, rows, l4, wirelen, l3_off)
    lie = np.zeros(len(rows), np.int8)
    syn_rows = np.zeros(len(rows), np.bool_)

    ports = np.isin(proto, _PORTED)
    pr = rows[ports]
    # TCP, UDP, SCTP and DCCP all open with the two ports, as UDP_LAYOUT declares them.
    c["sport"][pr] = _get(h[ports], UDP_LAYOUT, "sport")
    c["dport"][pr] = _get(h[ports], UDP_LAYOUT, "dport")

    tcp = proto == _TCP
    if tcp.any():
        ht = h[tcp]
        r = rows[tcp]
        word = _get(ht, TCP_LAYOUT, "offset_flags")
        thl = (word >> 12).astype(np.int64) * 4
        # RFC 9293 §3.1: a data offset below 5 words, or (in a packet that is not a
        # fragment) past the segment the IP length leaves, is a length that lies.
        read = have[tcp] > _TCP_OFFSET_FLAGS
        seg = l4_bytes[tcp]
        low = read & (thl < TCP_MIN_HEADER)
        high = read & ~low & ~c["fragment"][r] & (thl > seg)
        lie[np.flatnonzero(tcp)[low]] = 1
        lie[np.flatnonzero(tcp)[high]] = 2
        c["seq"][r] = _get(ht, TCP_LAYOUT, "seq")
        c["ack"][r] = _get(ht, TCP_LAYOUT, "ack")
        # 12 flag bits as Wireshark's tcp.flags shows them: 3 reserved, AE (RFC 9768), then
        # CWR ... FIN (RFC 9293 §3.1).
        c["tcp_flags"][r] = word & 0x0FFF
        c["win"][r] = _get(ht, TCP_LAYOUT, "window")
        c["thl"][r] = thl
        c["payload"][r] = np.maximum(l4_bytes[tcp] - thl, 0)
        full = have[tcp] >= TCP_MIN_HEADER
        c["truncated"][r] |= ~full
        syn_rows[np.flatnonzero(tcp)] = ((word & _SYN) != 0) & full & (thl > TCP_MIN_HEADER)

    udp = proto == _UDP
    c["payload"][rows[udp]] = np.maximum(l4_bytes[udp] - UDP_HEADER, 0)
    c["truncated"][rows[udp]] |= have[udp] < UDP_HEADER
    return lie, syn_rows


def _decode_syn_options(
    c: Cols,
    block: U8,
    rows: np.ndarray,
    l4: np.ndarray,
    thl: np.ndarray,
    hdr_len: np.ndarray,
) -> None:
    """Walk the option lists of all SYN rows at once (RFC 9293 §3.2).

    Mirrors `wire.tcp_options.decode_tcp_options`: EOL ends the list, NOP
    skips one byte, any other option has a length byte >= 2; a length that is
    too small or runs past the options area ends the walk. Only well-formed
    options of their RFC size count: MSS (kind 2, length 4), window scale (3, 3),
    SACK-permitted (4, 2), timestamps (8, 10).
    """
    opts = _gather(block, l4 + TCP_MIN_HEADER, MAX_OPTIONS_LEN, rows)
    # options bytes actually present
    end = np.minimum(thl - TCP_MIN_HEADER, hdr_len - l4 - TCP_MIN_HEADER)
    pos = np.zeros(len(rows), dtype=np.int64)
    live = pos < end
    mss = np.full(len(rows), -1, dtype=np.int32)
    wscale = np.full(len(rows), -1, dtype=np.int16)
    sack = np.zeros(len(rows), dtype=bool)
    ts = np.zeros(len(rows), dtype=bool)
    ar = np.arange(len(rows))

    def at(k: int) -> U8:  # option byte `k` past the current position of each row
        got: U8 = opts[ar, np.minimum(p + k, _LAST_OPT)]
        return got

    for _ in range(MAX_OPTIONS_LEN):
        if not live.any():
            break
        p = np.minimum(pos, _LAST_OPT)
        kind = opts[ar, p]
        length = at(1).astype(np.int64)
        eol = live & (kind == _EOL)
        nop = live & (kind == _NOP)
        other = live & ~eol & ~nop
        bad = other & ((length < 2) | (pos + length > end) | (pos + 1 >= end))
        ok = other & ~bad
        first_mss = ok & (kind == _MSS) & (length == _LEN[_MSS]) & (mss < 0)
        mss[first_mss] = ((at(2).astype(np.int32) << 8) | at(3))[first_mss]
        ws = ok & (kind == _WSCALE) & (length == _LEN[_WSCALE]) & (wscale < 0)
        wscale[ws] = at(2)[ws]
        sack |= ok & (kind == _SACK_OK) & (length == _LEN[_SACK_OK])
        ts |= ok & (kind == _TS) & (length == _LEN[_TS])
        pos = np.where(nop, pos + 1, np.where(ok, pos + length, pos))
        live = (nop | ok) & (pos < end)
    c["mss"][rows] = mss
    c["wscale"][rows] = wscale
    c["sack_perm"][rows] = sack
    c["tsopt"][rows] = ts


def _decode_icmp(
    c: Cols,
    block: U8,
    rows: np.ndarray,
    l4: np.ndarray,
    hdr_len: np.ndarray,
    proto: np.ndarray,
) -> None:
    for row, off, hl, pr in zip(
        rows.tolist(), l4.tolist(), hdr_len.tolist(), proto.tolist(), strict=True
    ):
        if hl - off < _ICMP_REST:
            c["truncated"][row] = True
            continue
        data = block[row, off:hl].tobytes()
        family = 4 if pr == _ICMP else 6
        kind = data[_ICMP_TYPE]
        c["icmp_type"][row] = kind
        c["icmp_code"][row] = data[_ICMP_CODE]
        if kind not in (_ICMP4_ERRORS if family == 4 else _ICMP6_ERRORS):
            continue
        try:
            msg = decode_icmp_error(data, family=family)
        except DecodeError:
            c["truncated"][row] = True
            continue
        if msg.mtu is not None:
            c["icmp_mtu"][row] = msg.mtu
        q = msg.quote
        if q is None:
            continue
        c["q_family"][row] = q.family
        c["q_src_hi"][row], c["q_src_lo"][row] = address_halves(q.src.packed)
        c["q_dst_hi"][row], c["q_dst_lo"][row] = address_halves(q.dst.packed)
        c["q_proto"][row] = q.proto
        c["q_ip_len"][row] = q.ip_len
        if q.sport is not None and q.dport is not None:
            c["q_sport"][row] = q.sport
            c["q_dport"][row] = q.dport
        if q.seq is not None:
            c["q_seq"][row] = q.seq
