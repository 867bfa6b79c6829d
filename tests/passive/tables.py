"""Test helper: build a `PacketTable` from a list of per-packet dicts (test-only).

Each dict names columns of `mtuscope.capture.table.COLUMNS` directly, plus
shortcuts: `src`/`dst` (address text, sets `family` and the halves), `q_src`/`q_dst`
(quoted addresses of an ICMP error), `flags` (e.g. "SA", "A", "PA", "R", "F").
Unset columns get sensible defaults: frame = position + 1, ts_ns = 1 ms apart,
proto 6, TTL 64, ip_hlen 20/40, thl 20, ip_len = headers + payload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

import numpy as np

from mtuscope.capture.table import COLUMNS, PacketTable

FLAG_BITS = {"F": 1, "S": 2, "R": 4, "P": 8, "A": 16}


def halves(text: str) -> tuple[int, int, int]:
    """(hi, lo, family) of an address, IPv4 mapped into ::ffff:0:0/96."""
    addr = ip_address(text)
    if isinstance(addr, IPv4Address):
        value = int(IPv6Address(f"::ffff:{addr}"))
        family = 4
    else:
        value = int(addr)
        family = 6
    return value >> 64, value & ((1 << 64) - 1), family


def row(**fields: Any) -> dict[str, Any]:
    """Expand shortcuts of one packet dict into column values."""
    out: dict[str, Any] = {}
    for side in ("src", "dst"):
        if side in fields:
            hi, lo, fam = halves(fields.pop(side))
            out[f"{side}_hi"], out[f"{side}_lo"] = hi, lo
            out["family"] = fam
    for side in ("q_src", "q_dst"):
        if side in fields:
            hi, lo, fam = halves(fields.pop(side))
            out[f"{side}_hi"], out[f"{side}_lo"] = hi, lo
            out["q_family"] = fam
    if "flags" in fields:
        out["tcp_flags"] = sum(FLAG_BITS[f] for f in fields.pop("flags"))
    out.update(fields)
    family = out.get("family", 4)
    out.setdefault("family", family)
    proto = out.setdefault("proto", 6)
    hlen = out.setdefault("ip_hlen", 20 if family == 4 else 40)
    thl = out.setdefault("thl", 20 if proto == 6 else 8)
    payload = out.setdefault("payload", 0)
    out.setdefault("ip_len", hlen + thl + payload)
    out.setdefault("ttl", 64)
    out.setdefault("df", True)
    return out


def packet_table(packets: Sequence[Mapping[str, Any]], *, first_frame: int = 1) -> PacketTable:
    """A table with one row per dict of `packets` (see the module docstring)."""
    n = len(packets)
    table = PacketTable.empty(n)
    cols = {k: v.copy() for k, v in table.columns.items()}
    cols["frame"][:] = np.arange(first_frame, first_frame + n)
    cols["ts_ns"][:] = 1_700_000_000_000_000_000 + (cols["frame"] - 1) * 1_000_000
    for i, p in enumerate(packets):
        r = row(**dict(p))
        r.setdefault("wirelen", r["ip_len"] + 14)
        r.setdefault("caplen", r["wirelen"])
        for name, value in r.items():
            if name not in COLUMNS:
                raise KeyError(f"unknown column {name!r}")
            cols[name][i] = value
    return PacketTable(columns=cols)


def tcp(
    src: str,
    sport: int,
    dst: str,
    dport: int,
    *,
    flags: str = "A",
    seq: int = 0,
    ack: int = 0,
    payload: int = 0,
    **more: Any,
) -> dict[str, Any]:
    """One TCP packet dict."""
    return {
        "src": src,
        "sport": sport,
        "dst": dst,
        "dport": dport,
        "flags": flags,
        "seq": seq % (1 << 32),
        "ack": ack % (1 << 32),
        "payload": payload,
        **more,
    }


def too_big(
    sender: str,
    dst: str,
    *,
    mtu: int,
    quoted: tuple[str, int, str, int],
    ttl: int = 62,
    quoted_len: int = 1500,
) -> dict[str, Any]:
    """An ICMP fragmentation-needed (IPv4) or ICMPv6 packet-too-big quoting a TCP packet."""
    v6 = ":" in sender
    qs, qsp, qd, qdp = quoted
    return {
        "src": sender,
        "dst": dst,
        "proto": 58 if v6 else 1,
        "icmp_type": 2 if v6 else 3,
        "icmp_code": 0 if v6 else 4,
        "icmp_mtu": mtu,
        "ttl": ttl,
        "thl": 8,
        "q_src": qs,
        "q_dst": qd,
        "q_proto": 6,
        "q_sport": qsp,
        "q_dport": qdp,
        "q_ip_len": quoted_len,
        "q_seq": 1,
    }
