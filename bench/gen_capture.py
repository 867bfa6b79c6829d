"""Synthetic benchmark capture: a large, realistic pcap built in bulk with numpy.

Layer: bench tooling, outside the package. It writes one pcap file and its
ground-truth JSON next to it. It may not import mtuscope (the capture must not
depend on the code it measures) and it never touches the network.

What the capture holds (all addresses from the documentation prefixes):

- tens of thousands of TCP connections, about 25% over IPv6, about 15% with an
  802.1Q tag and 3% with a QinQ (802.1ad + 802.1Q) stack;
- each connection: a SYN with options (MSS, window scale, SACK-permitted,
  timestamps, in Linux, Windows or bare-MSS layouts), the SYN/ACK with its own
  MSS, the third ACK, a small request, data segments (mostly full-size) with a
  delayed ACK every second segment, then FIN/ACK both ways or an RST;
- retransmissions (the same sequence number again one RTO later);
- TSO-sized segments (4-64 KB) on about 1% of the connections, captured whole;
- peers announcing an MSS below 536 answered by a Windows sender with 536-byte
  segments anyway (the floor case);
- ICMP fragmentation-needed and ICMPv6 packet-too-big messages quoting a real
  segment of a real connection (IP header plus TCP header);
- fragmented UDP datagrams over IPv4.

Frames are built in batches: the header bytes of every frame of one layout
(tags, IP version, TCP option layout) are filled column by column into one
2-D array and scattered into the batch buffer; payload bytes come from a
random filler. Only the few hundred ICMP and fragment frames are built one by
one.

Usage: ``python bench/gen_capture.py --out PATH [--packets N] [--seed S]``
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

Arr = npt.NDArray[Any]
U8 = npt.NDArray[np.uint8]
Table = dict[str, Arr]

SNAPLEN = 65535
EPOCH_US = 1_700_000_000 * 1_000_000
"""Capture start, microseconds since 1970 (2023-11-14 22:13:20 UTC)."""
BATCH_ROWS = 100_000
PACKETS_PER_CONNECTION = 50
"""Average frames per connection; sets the number of connections from --packets."""

# TCP flags (RFC 9293 §3.1).
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# Row roles inside one connection.
R_SYN, R_SYNACK, R_ACK3, R_REQ, R_DATA, R_DACK, R_TAIL = range(7)

# TCP header layouts: the option bytes that follow the 20-byte fixed header.
K_PLAIN, K_TS, K_SYN_LINUX, K_SYN_WIN, K_SYN_MSS = range(5)
TCP_LEN = {K_PLAIN: 20, K_TS: 32, K_SYN_LINUX: 40, K_SYN_WIN: 32, K_SYN_MSS: 24}
"""Header length per layout: TS data is NOP NOP TS; Linux SYN is MSS SACKOK TS NOP WS;
Windows SYN is MSS NOP WS NOP NOP SACKOK; the bare SYN carries only MSS."""

PROFILE_LINUX, PROFILE_WIN, PROFILE_BARE = K_SYN_LINUX, K_SYN_WIN, K_SYN_MSS

# Special (pre-built) frame kinds.
SP_ICMP4, SP_ICMP6, SP_FRAG = 1, 2, 3

GATEWAY_MAC = 0x020000000001
CLIENT_V4 = 0xC6336400  # 198.51.100.0/24
SERVER_V4 = 0xCB007100  # 203.0.113.0/24
ROUTER_V4 = 0xC0000200  # 192.0.2.0/24
CLIENT_V6_HI = 0x20010DB800010000  # 2001:db8:1::/64
SERVER_V6_HI = 0x20010DB800020000  # 2001:db8:2::/64
ROUTER_V6_HI = 0x20010DB8FFFF0000  # 2001:db8:ffff::/64


# --------------------------------------------------------------------------- bytes


def _put(h: U8, off: int, nbytes: int, value: npt.ArrayLike) -> None:
    """Write `value` big-endian into columns off..off+nbytes of every row of `h`."""
    v = np.asarray(value).astype(np.uint64)
    for i in range(nbytes):
        h[:, off + i] = (v >> np.uint64(8 * (nbytes - 1 - i))) & np.uint64(0xFF)


def _checksum(words: U8) -> Arr:
    """Internet checksum (RFC 1071) of each row of an even-width uint8 block."""
    w = words.astype(np.uint64)
    total = ((w[:, 0::2] << np.uint64(8)) | w[:, 1::2]).sum(axis=1, dtype=np.uint64)
    while bool((total >> np.uint64(16)).any()):
        total = (total & np.uint64(0xFFFF)) + (total >> np.uint64(16))
    result: Arr = (~total) & np.uint64(0xFFFF)
    return result


def _l2_header(vlan: int, f: Table, ethertype: int) -> U8:
    """Ethernet II header, with 0, 1 (802.1Q) or 2 (802.1ad + 802.1Q) tags."""
    n = len(f["mac_dst"])
    h = np.zeros((n, 14 + 4 * vlan), np.uint8)
    _put(h, 0, 6, f["mac_dst"])
    _put(h, 6, 6, f["mac_src"])
    off = 12
    if vlan == 2:
        _put(h, off, 2, 0x88A8)
        _put(h, off + 2, 2, f["vid2"])
        off += 4
    if vlan >= 1:
        _put(h, off, 2, 0x8100)
        _put(h, off + 2, 2, f["vid1"])
        off += 4
    _put(h, off, 2, ethertype)
    return h


def _ipv4_header(f: Table, proto: int, payload_len: Arr | int, df: bool = True) -> U8:
    """IPv4 header (RFC 791 §3.1) with a correct header checksum."""
    n = len(f["src4"])
    h = np.zeros((n, 20), np.uint8)
    h[:, 0] = 0x45
    _put(h, 2, 2, np.asarray(payload_len) + 20)
    _put(h, 4, 2, f["ipid"])
    _put(h, 6, 2, 0x4000 if df else 0)
    _put(h, 8, 1, f["ttl"])
    h[:, 9] = proto
    _put(h, 12, 4, f["src4"])
    _put(h, 16, 4, f["dst4"])
    _put(h, 10, 2, _checksum(h))
    return h


def _ipv6_header(f: Table, next_header: int, payload_len: Arr | int) -> U8:
    """IPv6 fixed header (RFC 8200 §3)."""
    n = len(f["src6hi"])
    h = np.zeros((n, 40), np.uint8)
    _put(h, 0, 4, (6 << 28) | (np.asarray(f["flow"]).astype(np.uint64) & np.uint64(0xFFFFF)))
    _put(h, 4, 2, payload_len)
    h[:, 6] = next_header
    _put(h, 7, 1, f["ttl"])
    _put(h, 8, 8, f["src6hi"])
    _put(h, 16, 8, f["src6lo"])
    _put(h, 24, 8, f["dst6hi"])
    _put(h, 32, 8, f["dst6lo"])
    return h


def _tcp_header(kind: int, f: Table) -> U8:
    """TCP header (RFC 9293 §3.1) with the option layout `kind`; checksum left zero."""
    n = len(f["seq"])
    hl = TCP_LEN[kind]
    h = np.zeros((n, hl), np.uint8)
    _put(h, 0, 2, f["sport"])
    _put(h, 2, 2, f["dport"])
    _put(h, 4, 4, f["seq"])
    _put(h, 8, 4, f["ack"])
    h[:, 12] = (hl // 4) << 4
    _put(h, 13, 1, f["flags"])
    _put(h, 14, 2, f["win"])
    o = 20
    if kind == K_TS:
        h[:, o : o + 4] = (1, 1, 8, 10)
        _put(h, o + 4, 4, f["tsval"])
        _put(h, o + 8, 4, f["tsecr"])
    elif kind == K_SYN_LINUX:
        h[:, o : o + 2] = (2, 4)
        _put(h, o + 2, 2, f["mss"])
        h[:, o + 4 : o + 8] = (4, 2, 8, 10)
        _put(h, o + 8, 4, f["tsval"])
        _put(h, o + 12, 4, f["tsecr"])
        h[:, o + 16 : o + 19] = (1, 3, 3)
        _put(h, o + 19, 1, f["ws"])
    elif kind == K_SYN_WIN:
        h[:, o : o + 2] = (2, 4)
        _put(h, o + 2, 2, f["mss"])
        h[:, o + 4 : o + 7] = (1, 3, 3)
        _put(h, o + 7, 1, f["ws"])
        h[:, o + 8 : o + 12] = (1, 1, 4, 2)
    elif kind == K_SYN_MSS:
        h[:, o : o + 2] = (2, 4)
        _put(h, o + 2, 2, f["mss"])
    return h


def _ip_tcp(fam: int, kind: int, f: Table) -> U8:
    """IP header plus TCP header for rows of one family and option layout."""
    tcp = _tcp_header(kind, f)
    length = f["plen"] + TCP_LEN[kind]
    ip = _ipv4_header(f, 6, length) if fam == 4 else _ipv6_header(f, 6, length)
    return np.concatenate([ip, tcp], axis=1)


# --------------------------------------------------------------------------- plan


def _choice(rng: np.random.Generator, n: int, weights: dict[int, float]) -> Arr:
    keys = np.array(list(weights), dtype=np.int64)
    p = np.array(list(weights.values()), dtype=np.float64)
    return rng.choice(keys, size=n, p=p / p.sum())


def _plan_connections(rng: np.random.Generator, n_conn: int, n_data_total: int) -> Table:
    """Per-connection parameters: addresses, MSS, option layouts, sizes, timing."""
    n = n_conn
    cid = np.arange(n, dtype=np.int64)
    c: Table = {"cid": cid}
    c["fam"] = np.where(rng.random(n) < 0.25, 6, 4)
    c["vlan"] = _choice(rng, n, {0: 0.82, 1: 0.15, 2: 0.03})
    c["vid1"] = rng.integers(2, 4095, n)
    c["vid2"] = rng.integers(2, 4095, n)
    # Unique 4-tuples: client address and port derive from the connection index.
    c["c4"] = CLIENT_V4 + 1 + cid % 254
    c["s4"] = SERVER_V4 + 1 + rng.integers(0, 254, n)
    c["c6lo"] = 0x1000 + cid % 4093
    c["s6lo"] = 0x1000 + rng.integers(0, 4093, n)
    c["cport"] = 32768 + (cid // 254) % 28000
    c["sport"] = _choice(rng, n, {443: 0.75, 993: 0.05, 25: 0.05, 22: 0.05, 8443: 0.1})
    c["cmac"] = 0x020000010000 + cid % 0xFFFF
    c["cprof"] = _choice(rng, n, {PROFILE_LINUX: 0.55, PROFILE_WIN: 0.35, PROFILE_BARE: 0.10})
    c["sprof"] = _choice(rng, n, {PROFILE_LINUX: 0.80, PROFILE_WIN: 0.15, PROFILE_BARE: 0.05})
    v6 = c["fam"] == 6
    cmss4 = _choice(
        rng,
        n,
        {
            1460: 0.62,
            1380: 0.08,
            1400: 0.05,
            1452: 0.06,
            1360: 0.04,
            1220: 0.05,
            536: 0.05,
            512: 0.05,
        },
    )
    cmss6 = _choice(rng, n, {1440: 0.7, 1420: 0.08, 1380: 0.06, 1220: 0.1, 512: 0.06})
    smss4 = _choice(rng, n, {1460: 0.8, 1380: 0.07, 1400: 0.05, 8960: 0.03, 536: 0.05})
    smss6 = _choice(rng, n, {1440: 0.85, 1380: 0.05, 1220: 0.05, 8940: 0.05})
    c["cmss"] = np.where(v6, cmss6, cmss4)
    c["smss"] = np.where(v6, smss6, smss4)
    c["cws"] = _choice(rng, n, {7: 0.6, 8: 0.3, 2: 0.1})
    c["sws"] = _choice(rng, n, {7: 0.5, 9: 0.3, 10: 0.2})
    c["ts_ok"] = (c["cprof"] == PROFILE_LINUX) & (c["sprof"] == PROFILE_LINUX)
    c["synack_kind"] = np.where(
        c["cprof"] == PROFILE_BARE,
        K_SYN_MSS,
        np.where(
            c["ts_ok"], K_SYN_LINUX, np.where(c["sprof"] == PROFILE_BARE, K_SYN_MSS, K_SYN_WIN)
        ),
    )
    c["data_kind"] = np.where(c["ts_ok"], K_TS, K_PLAIN)
    # Who sends the bulk data: mostly the server (downloads).
    c["srv_sends"] = rng.random(n) < 0.8
    own = np.where(c["srv_sends"], c["smss"], c["cmss"])
    peer = np.where(c["srv_sends"], c["cmss"], c["smss"])
    sender_prof = np.where(c["srv_sends"], c["sprof"], c["cprof"])
    seg = np.minimum(own, peer) - 12 * c["ts_ok"]
    # Windows (Vista and later) never sends less than 536 even when the peer asked for less.
    c["floor"] = (peer < 536) & (sender_prof == PROFILE_WIN)
    c["seg"] = np.where(c["floor"], 536, seg)
    c["tso"] = (sender_prof == PROFILE_LINUX) & (rng.random(n) < 0.012)
    c["isn_c"] = rng.integers(0, 2**32, n)
    c["isn_s"] = rng.integers(0, 2**32, n)
    c["ts_c"] = rng.integers(0, 2**31, n)
    c["ts_s"] = rng.integers(0, 2**31, n)
    c["ipid_c"] = rng.integers(0, 65536, n)
    c["ipid_s"] = rng.integers(0, 65536, n)
    c["hops"] = rng.integers(3, 24, n)
    c["flow"] = rng.integers(0, 1 << 20, n)
    c["win"] = rng.integers(250, 3000, n)
    c["rtt"] = np.clip(rng.lognormal(np.log(30_000), 1.0, n), 300, 600_000).astype(np.int64)
    c["gap"] = rng.integers(12, 2_000, n)
    c["req"] = rng.integers(40, 800, n)
    c["rst"] = rng.random(n) < 0.1
    # Data segments per connection: heavy-tailed, rescaled to the packet budget.
    raw = rng.lognormal(0.0, 1.1, n)
    d = np.maximum(1, np.floor(raw * (n_data_total / raw.sum()))).astype(np.int64)
    c["n_data"] = d
    span = 300_000_000  # connections start over 300 s
    c["start"] = np.sort(rng.integers(0, span, n))
    return c


def _plan_segments(rng: np.random.Generator, c: Table) -> tuple[Arr, Arr, Arr]:
    """Payload size and stream offset of every data segment; first segment index per conn."""
    d = c["n_data"]
    first = np.concatenate([[0], np.cumsum(d)[:-1]])
    conn = np.repeat(c["cid"], d)
    k = np.arange(len(conn)) - first[conn]
    seg = c["seg"][conn]
    size = seg.copy()
    partial = (rng.random(len(conn)) < 0.08) | (k == d[conn] - 1)
    size[partial] = np.maximum(1, (rng.random(int(partial.sum())) * seg[partial]).astype(np.int64))
    big = c["tso"][conn] & (rng.random(len(conn)) < 0.35)
    mult = rng.integers(3, 45, len(conn))
    size = np.where(big, np.minimum(seg * mult, (64_000 // seg) * seg), size)
    cs = np.cumsum(size)
    excl = cs - size
    off = excl - excl[first][conn]
    return size, off, first


def _plan_rows(rng: np.random.Generator, c: Table) -> tuple[Table, Arr]:
    """One row per TCP frame, in connection order; returns rows and segment sizes."""
    size, off, first = _plan_segments(rng, c)
    d = c["n_data"]
    n_inter = d + d // 2
    n_rows = 4 + n_inter + np.where(c["rst"], 1, 4)
    starts = np.concatenate([[0], np.cumsum(n_rows)[:-1]])
    conn = np.repeat(c["cid"], n_rows)
    i = np.arange(len(conn)) - starts[conn]
    j = i - 4
    ni = n_inter[conn]
    inter = (j >= 0) & (j < ni)
    r3 = np.where(inter, j % 3, 0)
    grp = np.where(inter, j // 3, 0)
    role = np.select(
        [i == 0, i == 1, i == 2, i == 3, inter & (r3 < 2), inter],
        [R_SYN, R_SYNACK, R_ACK3, R_REQ, R_DATA, R_DACK],
        R_TAIL,
    )
    kseg = np.where(inter, 2 * grp + np.minimum(r3, 1), 0)
    gseg = first[conn] + kseg
    tail = np.where(role == R_TAIL, j - ni, 0)

    srv = c["srv_sends"][conn]
    isn_snd = np.where(srv, c["isn_s"][conn], c["isn_c"][conn])
    isn_rcv = np.where(srv, c["isn_c"][conn], c["isn_s"][conn])
    req = c["req"][conn]
    total = np.add.reduceat(size, first)[conn]
    seg_off = off[gseg]
    seg_len = size[gseg]
    rcv_next = isn_rcv + 1 + req
    rst = c["rst"][conn]

    # Direction: True when the row travels from the bulk sender.
    # Tail rows: sender FIN/ACK (or RST), receiver ACK, receiver FIN/ACK, sender ACK.
    from_snd = (role == R_DATA) | ((role == R_TAIL) & (rst | (tail == 0) | (tail == 3)))
    from_client = np.select(
        [role == R_SYN, role == R_SYNACK, role == R_ACK3], [True, False, True], from_snd != srv
    )
    seq = np.select(
        [
            role == R_SYN,
            role == R_SYNACK,
            role == R_ACK3,
            role == R_REQ,
            role == R_DATA,
            role == R_DACK,
        ],
        [
            c["isn_c"][conn],
            c["isn_s"][conn],
            c["isn_c"][conn] + 1,
            isn_rcv + 1,
            isn_snd + 1 + seg_off,
            rcv_next,
        ],
        # Tail: sender FIN at snd_end, receiver rows at rcv_next, final sender ACK after FIN.
        np.where(from_snd, isn_snd + 1 + total + (tail == 3), rcv_next),
    )
    ack = np.select(
        [
            role == R_SYN,
            role == R_SYNACK,
            role == R_ACK3,
            role == R_REQ,
            role == R_DATA,
            role == R_DACK,
        ],
        [
            0,
            c["isn_c"][conn] + 1,
            c["isn_s"][conn] + 1,
            isn_snd + 1,
            rcv_next,
            isn_snd + 1 + seg_off + seg_len,
        ],
        np.where(from_snd, rcv_next + (tail == 3), isn_snd + 1 + total + 1),
    )
    flags = np.select(
        [role == R_SYN, role == R_SYNACK, role == R_REQ, role == R_DATA, role == R_TAIL],
        [
            SYN,
            SYN | ACK,
            PSH | ACK,
            np.where(kseg == d[conn] - 1, PSH | ACK, ACK),
            np.where(rst, RST | ACK, np.where((tail == 0) | (tail == 2), FIN | ACK, ACK)),
        ],
        ACK,
    )
    plen = np.select([role == R_REQ, role == R_DATA], [req, seg_len], 0)

    # Times, microseconds from the capture start; strictly increasing per connection
    # except that delayed ACKs may land after the next data segment, as on a real wire.
    t0 = c["start"][conn]
    rtt = c["rtt"][conn]
    gap = c["gap"][conn]
    t_data0 = t0 + 2 * rtt + 100
    t_last = t_data0 + (d[conn] - 1) * gap
    t = np.select(
        [
            role == R_SYN,
            role == R_SYNACK,
            role == R_ACK3,
            role == R_REQ,
            role == R_DATA,
            role == R_DACK,
        ],
        [
            t0,
            t0 + rtt,
            t0 + rtt + 40,
            t0 + rtt + 60,
            t_data0 + kseg * gap,
            t_data0 + kseg * gap + 45,
        ],
        t_last + rtt + tail * (rtt // 2 + 10),
    )
    kind = np.select(
        [role == R_SYN, role == R_SYNACK],
        [c["cprof"][conn], c["synack_kind"][conn]],
        c["data_kind"][conn],
    )
    rows: Table = {
        "t": t.astype(np.int64),
        "conn": conn,
        "role": role.astype(np.int8),
        "from_client": from_client.astype(bool),
        "seq": (seq % 2**32).astype(np.int64),
        "ack": (ack % 2**32).astype(np.int64),
        "flags": flags.astype(np.int64),
        "plen": plen.astype(np.int64),
        "kind": kind.astype(np.int64),
        "i": i,
        "tso": (role == R_DATA) & (plen > c["seg"][conn]),
        "special": np.full(len(conn), -1, np.int64),
    }
    return rows, size


def _take(rows: Table, idx: Arr) -> Table:
    return {k: v[idx] for k, v in rows.items()}


def _concat(parts: list[Table]) -> Table:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _fields(c: Table, r: Table) -> Table:
    """Per-row header field values for TCP rows, gathered from the connection table."""
    conn = r["conn"]
    fc = r["from_client"]
    f: Table = {}
    f["mac_src"] = np.where(fc, c["cmac"][conn], GATEWAY_MAC)
    f["mac_dst"] = np.where(fc, GATEWAY_MAC, c["cmac"][conn])
    f["vid1"] = c["vid1"][conn]
    f["vid2"] = c["vid2"][conn]
    f["src4"] = np.where(fc, c["c4"][conn], c["s4"][conn])
    f["dst4"] = np.where(fc, c["s4"][conn], c["c4"][conn])
    c6 = np.full(len(conn), CLIENT_V6_HI, np.uint64)
    s6 = np.full(len(conn), SERVER_V6_HI, np.uint64)
    f["src6hi"] = np.where(fc, c6, s6)
    f["dst6hi"] = np.where(fc, s6, c6)
    f["src6lo"] = np.where(fc, c["c6lo"][conn], c["s6lo"][conn])
    f["dst6lo"] = np.where(fc, c["s6lo"][conn], c["c6lo"][conn])
    f["flow"] = c["flow"][conn]
    f["sport"] = np.where(fc, c["cport"][conn], c["sport"][conn])
    f["dport"] = np.where(fc, c["sport"][conn], c["cport"][conn])
    f["seq"] = r["seq"]
    f["ack"] = r["ack"]
    f["flags"] = r["flags"]
    syn = r["role"] <= R_SYNACK
    f["win"] = np.where(syn, np.where(fc, 64240, 65160), c["win"][conn])
    f["mss"] = np.where(fc, c["cmss"][conn], c["smss"][conn])
    f["ws"] = np.where(fc, c["cws"][conn], c["sws"][conn])
    ms = r["t"] // 1000
    half = c["rtt"][conn] // 2000
    f["tsval"] = (np.where(fc, c["ts_c"][conn], c["ts_s"][conn]) + ms) % 2**32
    ecr = (np.where(fc, c["ts_s"][conn], c["ts_c"][conn]) + ms - half) % 2**32
    f["tsecr"] = np.where(r["role"] == R_SYN, 0, ecr)
    f["ipid"] = (np.where(fc, c["ipid_c"][conn], c["ipid_s"][conn]) + r["i"]) % 65536
    # The capture point sits next to the clients: their TTL is still the initial one.
    init = np.where(fc, c["cprof"][conn], c["sprof"][conn])
    init_ttl = np.where(init == PROFILE_WIN, 128, 64)
    f["ttl"] = np.where(fc, init_ttl, init_ttl - c["hops"][conn])
    f["plen"] = r["plen"]
    return f


# --------------------------------------------------------------------------- special frames


def _icmp_frames(
    rng: np.random.Generator, c: Table, rows: Table, n_icmp: int
) -> tuple[list[bytes], Arr, Arr]:
    """ICMP too-big frames quoting full-size data segments; returns frames, times, kinds."""
    conn = rows["conn"]
    cand = np.flatnonzero(
        (rows["role"] == R_DATA) & ~rows["tso"] & (rows["plen"] >= 1200) & ~c["tso"][conn]
    )
    pick = np.sort(rng.choice(cand, size=min(n_icmp, len(cand)), replace=False))
    q = _take(rows, pick)
    f = _fields(c, q)
    qc = q["conn"]
    groups = [
        (fam, kind, np.flatnonzero((c["fam"][qc] == fam) & (q["kind"] == kind)))
        for fam in (4, 6)
        for kind in (K_PLAIN, K_TS)
    ]
    frames: list[bytes] = []
    for fam, kind, sel in groups:
        if len(sel) == 0:
            continue
        quoted = _ip_tcp(fam, kind, {k: v[sel] for k, v in f.items()})
        for n, s in enumerate(sel):
            frames.append(_one_icmp(rng, c, f, int(s), fam, quoted[n].tobytes(), int(qc[s])))
    order = np.concatenate([sel for _, _, sel in groups])
    times = q["t"][order] + 300
    kinds = np.where(c["fam"][qc[order]] == 4, SP_ICMP4, SP_ICMP6)
    return frames, times, kinds


def _one_icmp(
    rng: np.random.Generator, c: Table, f: Table, s: int, fam: int, quote: bytes, conn: int
) -> bytes:
    """One ICMP frag-needed / ICMPv6 packet-too-big frame sent back to the segment's source."""
    vlan = int(c["vlan"][conn])
    ethertype = 0x0800 if fam == 4 else 0x86DD
    # Sent back towards the segment's source: swap the segment's MAC addresses.
    l2 = bytes.fromhex(f"{int(f['mac_src'][s]):012x}{int(f['mac_dst'][s]):012x}")
    if vlan == 2:
        l2 += struct.pack("!HH", 0x88A8, int(c["vid2"][conn]))
    if vlan >= 1:
        l2 += struct.pack("!HH", 0x8100, int(c["vid1"][conn]))
    l2 += struct.pack("!H", ethertype)
    router = int(rng.integers(1, 255))
    ttl = int(rng.choice([61, 62, 250, 252, 254]))
    if fam == 4:
        mtu = int(rng.choice([1400, 1420, 1450, 1280, 1492, 1476, 1436]))
        body = struct.pack("!BBHHH", 3, 4, 0, 0, mtu) + quote
        body = body[:2] + struct.pack("!H", _csum_bytes(body)) + body[4:]
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0xC0,
            20 + len(body),
            int(rng.integers(0, 65536)),
            0,
            ttl,
            1,
            0,
            struct.pack("!I", ROUTER_V4 + router),
            struct.pack("!I", int(f["src4"][s])),
        )
        ip = ip[:10] + struct.pack("!H", _csum_bytes(ip)) + ip[12:]
        return l2 + ip + body
    mtu = int(rng.choice([1280, 1400, 1420, 1480]))
    src = struct.pack("!QQ", ROUTER_V6_HI, router)
    dst = struct.pack("!QQ", int(f["src6hi"][s]), int(f["src6lo"][s]))
    body = struct.pack("!BBHI", 2, 0, 0, mtu) + quote
    pseudo = src + dst + struct.pack("!IxxxB", len(body), 58)
    body = body[:2] + struct.pack("!H", _csum_bytes(pseudo + body)) + body[4:]
    ip = struct.pack("!IHBB", 6 << 28, len(body), 58, ttl) + src + dst
    return l2 + ip + body


def _csum_bytes(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _fragment_frames(
    rng: np.random.Generator, n_dgrams: int, span_us: int
) -> tuple[list[bytes], Arr]:
    """Fragmented UDP datagrams over IPv4 (RFC 791 §2.3), 1480 data bytes per fragment."""
    frames: list[bytes] = []
    times: list[int] = []
    filler = rng.integers(0, 256, 8192, dtype=np.uint8).tobytes()
    for d in range(n_dgrams):
        size = int(rng.integers(1600, 4400))
        src = CLIENT_V4 + 1 + int(rng.integers(0, 254))
        dst = SERVER_V4 + 1 + int(rng.integers(0, 254))
        sport, dport = int(rng.integers(40000, 60000)), 33000 + d % 100
        udp = struct.pack("!HHHH", sport, dport, 8 + size, 0) + filler[:size]
        ipid = int(rng.integers(0, 65536))
        t = int(rng.integers(0, span_us))
        l2 = bytes.fromhex(f"{GATEWAY_MAC:012x}020000020000") + b"\x08\x00"
        for off in range(0, len(udp), 1480):
            chunk = udp[off : off + 1480]
            more = 0x2000 if off + 1480 < len(udp) else 0
            ip = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,
                0,
                20 + len(chunk),
                ipid,
                more | (off // 8),
                61,
                17,
                0,
                struct.pack("!I", src),
                struct.pack("!I", dst),
            )
            ip = ip[:10] + struct.pack("!H", _csum_bytes(ip)) + ip[12:]
            frames.append(l2 + ip + chunk)
            times.append(t)
            t += 20
    return frames, np.array(times, np.int64)


# --------------------------------------------------------------------------- writing


def _write_batch(out: BinaryIO, c: Table, r: Table, specials: list[bytes], filler: U8) -> U8:
    """Build and write the records of one batch of rows; returns the (maybe grown) filler."""
    n = len(r["t"])
    conn = np.maximum(r["conn"], 0)
    sp = r["special"] >= 0
    fam = c["fam"][conn]
    vlan = c["vlan"][conn]
    tcp_len = np.select([r["kind"] == k for k in TCP_LEN], list(TCP_LEN.values()), 20)
    hdr_len = 14 + 4 * vlan + np.where(fam == 4, 20, 40) + tcp_len
    caplen = np.where(sp, 0, hdr_len + r["plen"])
    sp_idx = np.flatnonzero(sp)
    for k in sp_idx:
        caplen[k] = len(specials[int(r["special"][k])])
    rec_len = 16 + caplen
    off = np.concatenate([[0], np.cumsum(rec_len)[:-1]])
    total = int(rec_len.sum())
    if total > len(filler):
        filler = np.resize(filler, total)
    buf = filler[:total].copy()

    ts = EPOCH_US + r["t"]
    rec = np.empty((n, 4), "<u4")
    rec[:, 0] = ts // 1_000_000
    rec[:, 1] = ts % 1_000_000
    rec[:, 2] = caplen
    rec[:, 3] = caplen
    rec_bytes = rec.view(np.uint8).reshape(n, 16)

    tcp = np.flatnonzero(~sp)
    key = (vlan * 100 + fam * 10 + r["kind"])[tcp]
    for k in np.unique(key):
        sel = tcp[key == k]
        v, fm, kind = int(k // 100), int(k // 10 % 10), int(k % 10)
        f = _fields(c, _take(r, sel))
        l2 = _l2_header(v, f, 0x0800 if fm == 4 else 0x86DD)
        block = np.concatenate([rec_bytes[sel], l2, _ip_tcp(fm, kind, f)], axis=1)
        idx = off[sel, None] + np.arange(block.shape[1])
        buf[idx] = block
    for k in sp_idx:
        o = int(off[k])
        buf[o : o + 16] = rec_bytes[k]
        frame = specials[int(r["special"][k])]
        buf[o + 16 : o + 16 + len(frame)] = np.frombuffer(frame, np.uint8)
    buf.tofile(out)
    return filler


def generate(out_path: Path, n_packets: int, seed: int) -> dict[str, Any]:
    """Write the benchmark capture and return its ground truth.

    Args:
        out_path: the pcap file to write (its `.truth.json` goes next to it).
        n_packets: the approximate number of frames wanted (within a few percent).
        seed: seed of the random generator; the same seed gives the same file.

    Returns:
        The ground-truth dictionary also written as JSON.
    """
    rng = np.random.default_rng(seed)
    n_conn = max(4, n_packets // PACKETS_PER_CONNECTION)
    n_special_icmp = max(4, n_conn // 130)
    n_dgrams = max(2, n_conn // 130)
    # Per connection: 4 opening rows + ~2.5 tail rows + 1.5 rows per data segment,
    # plus ~1.5% retransmissions.
    budget = n_packets - n_conn * 6.7 - n_special_icmp - 3 * n_dgrams
    n_data_total = max(n_conn, int(budget / (1.5 * 1.0155)))
    c = _plan_connections(rng, n_conn, n_data_total)
    rows, _ = _plan_rows(rng, c)

    # Retransmissions: the same segment again one RTO (200 ms + RTT) later.
    data_rows = np.flatnonzero(rows["role"] == R_DATA)
    re_idx = data_rows[rng.random(len(data_rows)) < 0.015]
    retrans = _take(rows, re_idx)
    retrans["t"] = retrans["t"] + 200_000 + c["rtt"][retrans["conn"]]

    span = int(c["start"].max()) + 1
    icmp, icmp_t, icmp_kind = _icmp_frames(rng, c, rows, n_special_icmp)
    frags, frag_t = _fragment_frames(rng, n_dgrams, span)
    specials = icmp + frags
    sp_rows = {k: np.zeros(len(specials), v.dtype) for k, v in rows.items()}
    sp_rows["t"] = np.concatenate([icmp_t, frag_t])
    sp_rows["conn"][:] = -1
    sp_rows["special"] = np.arange(len(specials), dtype=np.int64)

    allrows = _concat([rows, retrans, sp_rows])
    order = np.argsort(allrows["t"], kind="stable")
    allrows = {k: v[order] for k, v in allrows.items()}

    filler = rng.integers(0, 256, 1 << 20, dtype=np.uint8)
    filler = np.resize(filler, 128 << 20)
    n = len(allrows["t"])
    with out_path.open("wb") as out:
        # pcap global header (LE, microseconds, v2.4, Ethernet).
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1))
        for b in range(0, n, BATCH_ROWS):
            batch = {k: v[b : b + BATCH_ROWS] for k, v in allrows.items()}
            filler = _write_batch(out, c, batch, specials, filler)

    conn = rows["conn"]
    syn = rows["role"] == R_SYN
    synack = rows["role"] == R_SYNACK
    tcp_vlan = c["vlan"][allrows["conn"][allrows["conn"] >= 0]]
    truth: dict[str, Any] = {
        "generator": "bench/gen_capture.py",
        "seed": seed,
        "packets": int(n),
        "file_bytes": out_path.stat().st_size,
        "connections": int(n_conn),
        "connections_ipv6": int((c["fam"] == 6).sum()),
        "tcp_frames": int(len(rows["t"]) + len(re_idx)),
        "vlan_tcp_frames": int((tcp_vlan == 1).sum()),
        "qinq_tcp_frames": int((tcp_vlan == 2).sum()),
        "syn": int(syn.sum()),
        "syn_mss": _hist(c["cmss"][conn[syn]]),
        "synack": int(synack.sum()),
        "synack_mss": _hist(c["smss"][conn[synack]]),
        "syns_with_mss": int(syn.sum() + synack.sum()),
        "icmp_too_big": {
            "ipv4": int((icmp_kind == SP_ICMP4).sum()),
            "ipv6": int((icmp_kind == SP_ICMP6).sum()),
            "total": len(icmp),
        },
        "ip_fragments": len(frags),
        "fragmented_datagrams": n_dgrams,
        "retransmissions": int(len(re_idx)),
        "tso_frames": int(rows["tso"].sum()),
        "tso_connections": int(c["tso"].sum()),
        "mss_floor_connections": int(c["floor"].sum()),
        "rst_connections": int(c["rst"].sum()),
        "fin_connections": int((~c["rst"]).sum()),
        "max_frame": int(
            (14 + 8 + 40 + 32 + rows["plen"][rows["tso"]]).max() if rows["tso"].any() else 0
        ),
    }
    Path(f"{out_path}.truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def _hist(values: Arr) -> dict[str, int]:
    return {str(k): v for k, v in sorted(Counter(values.tolist()).items())}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``gen_capture.py --out PATH [--packets N] [--seed S]``.

    Args:
        argv: arguments without the program name; None reads sys.argv.

    Returns:
        The exit code (0).
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", required=True, type=Path, help="pcap file to write")
    p.add_argument("--packets", type=int, default=2_000_000, help="approximate frame count")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    started = time.perf_counter()
    truth = generate(args.out, args.packets, args.seed)
    took = time.perf_counter() - started
    print(
        f"wrote {args.out}: {truth['packets']} packets, {truth['file_bytes'] / 1e9:.2f} GB, "
        f"{truth['connections']} connections in {took:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
