"""The columnar packet table: one numpy array per field, one row per frame.

Layer: capture/. This module only defines the shape of the data; it reads no
files. Every analysis in passive/ works on `PacketTable`s, never on one Python
object per packet.

Conventions (every column has exactly `len(table)` rows):
- `frame` is 1-based and counts every packet record of the file, the way
  Wireshark numbers frames, also records mtuscope could not decode.
- Addresses are 16 bytes split in two big-endian uint64 halves; IPv4 is
  stored IPv4-mapped (::ffff:a.b.c.d), so one key covers both families and
  `family` says which it was.
- The IP/TCP/UDP/ICMP columns describe the *innermost* IP packet of the frame
  (inside any tunnel); `encap` and `encap_overhead` describe what was around it.
- A column that does not apply to a row holds its sentinel: -1 for the signed
  "optional" columns (`mss`, `wscale`, `icmp_type`, `icmp_mtu`, `q_*`), 0 otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntFlag
from functools import lru_cache
from ipaddress import IPv6Address

import numpy as np
import numpy.typing as npt

from mtuscope.errors import UsageError


class Encap(IntFlag):
    """What surrounded the innermost IP packet on the wire (a bit set per frame)."""

    VLAN = 1 << 0  # IEEE 802.1Q tag (one)
    QINQ = 1 << 1  # two or more stacked tags (802.1ad / 802.1Q-in-Q)
    PPPOE = 1 << 2  # PPPoE session (RFC 2516): 8 bytes
    MPLS = 1 << 3  # one or more MPLS labels (RFC 3032): 4 bytes each
    IPIP = 1 << 4  # IPv4 in IPv4 (RFC 2003)
    SIXIN4 = 1 << 5  # IPv6 in IPv4 (RFC 4213, protocol 41)
    FOURIN6 = 1 << 6  # IPv4 in IPv6 (RFC 2473)
    SIXIN6 = 1 << 7  # IPv6 in IPv6 (RFC 2473)
    GRE = 1 << 8  # GRE (RFC 2784/2890), with or without key and sequence
    VXLAN = 1 << 9  # VXLAN (RFC 7348), UDP 4789
    GENEVE = 1 << 10  # Geneve (RFC 8926), UDP 6081
    GTPU = 1 << 11  # GTP-U (3GPP TS 29.281), UDP 2152
    TEREDO = 1 << 12  # Teredo (RFC 4380), UDP 3544
    ETHER_INNER = 1 << 13  # an inner Ethernet header (VXLAN, Geneve, GRE TEB)
    L2TP = 1 << 14  # L2TPv2 data (RFC 2661 §3.1), UDP 1701, carrying PPP
    CAPWAP = 1 << 15  # CAPWAP data channel (RFC 5415 §4.3), UDP 5247
    AYIYA = 1 << 16  # AYIYA (Anything In Anything), UDP 5072


ENCAP_LABELS: Mapping[Encap, str] = {
    Encap.VLAN: "dot1q",
    Encap.QINQ: "qinq",
    Encap.PPPOE: "pppoe",
    Encap.MPLS: "mpls",
    Encap.IPIP: "ipip",
    Encap.SIXIN4: "6in4",
    Encap.FOURIN6: "4in6",
    Encap.SIXIN6: "ip6ip6",
    Encap.GRE: "gre",
    Encap.VXLAN: "vxlan",
    Encap.GENEVE: "geneve",
    Encap.GTPU: "gtpu",
    Encap.TEREDO: "teredo",
    Encap.ETHER_INNER: "inner-ethernet",
    Encap.L2TP: "l2tpv2",
    Encap.CAPWAP: "capwap",
    Encap.AYIYA: "ayiya",
}
"""How reports name each encapsulation: the `mtuscope calc` layer name where calc
has that layer, so a report's stack can be pasted into calc."""
assert set(ENCAP_LABELS) == set(Encap), "every Encap bit needs a label"


# Column name -> dtype. The order is the order of `PacketTable.columns`.
COLUMNS: Mapping[str, npt.DTypeLike] = {
    # record
    "frame": np.int64,  # 1-based frame number, file-wide
    "ts_ns": np.int64,  # capture time, ns since the Unix epoch
    "caplen": np.uint32,  # bytes captured
    "wirelen": np.uint32,  # original length on the wire
    "iface": np.uint16,  # pcapng interface id (0 for pcap)
    "linktype": np.uint16,  # LINKTYPE_* of the frame's interface
    # encapsulation
    "encap": np.uint32,  # Encap bits
    "encap_overhead": np.uint16,  # bytes between the link header and the innermost IP header
    # innermost IP
    "family": np.uint8,  # 4, 6, or 0 when the frame carries no decodable IP
    "src_hi": np.uint64,
    "src_lo": np.uint64,
    "dst_hi": np.uint64,
    "dst_lo": np.uint64,
    "ip_len": np.uint32,  # IP packet length from the header (v4 total length, v6 40+payload length)
    "ip_hlen": np.uint16,  # IP header bytes up to the transport header (v6: with extension headers)
    "ttl": np.uint8,  # TTL / hop limit
    "ip_id": np.uint32,  # IPv4 identification, or IPv6 fragment header identification
    "df": np.bool_,  # IPv4 don't-fragment (IPv6: always True, routers never fragment)
    "mf": np.bool_,  # more fragments
    "frag_off": np.uint32,  # fragment offset in bytes
    "fragment": np.bool_,  # the packet is an IP fragment (v4 MF or offset, or a v6 fragment header)
    # the fragment completed a TCP datagram: its transport columns are the datagram's
    # (capture/reassembly.py), its IP columns still its own
    "reassembled": np.bool_,
    "proto": np.uint8,  # transport protocol after the IPv6 extension chain
    "truncated": np.bool_,  # the capture cut the packet before the fields the row needs
    # transport
    "sport": np.uint16,
    "dport": np.uint16,
    # FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128 AE=256, reserved 0xE00
    "tcp_flags": np.uint16,
    "seq": np.uint32,
    "ack": np.uint32,
    "win": np.uint16,
    "thl": np.uint8,  # TCP header length in bytes
    "payload": np.uint32,  # transport payload bytes, from the IP length fields
    # TCP options, decoded for SYN and SYN/ACK segments only
    "mss": np.int32,  # -1: no MSS option
    "wscale": np.int16,  # -1: no window scale option
    "sack_perm": np.bool_,
    "tsopt": np.bool_,  # timestamps option present
    # ICMP / ICMPv6
    "icmp_type": np.int16,  # -1: not ICMP
    "icmp_code": np.int16,
    "icmp_mtu": np.int32,  # next-hop MTU of frag-needed / packet-too-big; -1 otherwise
    # the packet quoted by an ICMP error (its first IP header and transport ports)
    "q_family": np.uint8,  # 0: no quote
    "q_src_hi": np.uint64,
    "q_src_lo": np.uint64,
    "q_dst_hi": np.uint64,
    "q_dst_lo": np.uint64,
    "q_proto": np.int16,  # -1: unknown
    "q_sport": np.int32,  # -1: not quoted
    "q_dport": np.int32,
    "q_seq": np.int64,  # -1: not quoted (TCP only)
    "q_ip_len": np.int32,  # the quoted packet's own IP length field; -1 unknown
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeIssue:
    """A frame that did not decode fully; the rest of the capture goes on."""

    frame: int
    """1-based frame number."""
    offset: int
    """Byte offset of the record in the (decompressed) capture file."""
    error: str
    """What was wrong, one line."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketTable:
    """A chunk of frames as columns (see `COLUMNS`)."""

    columns: Mapping[str, npt.NDArray[np.generic]]
    issues: tuple[DecodeIssue, ...] = field(default=())
    """Frames of this chunk that did not decode fully."""

    def __post_init__(self) -> None:
        # Raises UsageError: a column missing, unexpected, or of the wrong dtype or length.
        if set(self.columns) != set(COLUMNS):
            missing = sorted(set(COLUMNS) - set(self.columns))
            extra = sorted(set(self.columns) - set(COLUMNS))
            raise UsageError(f"PacketTable columns: missing {missing}, unexpected {extra}")
        n = len(self.columns["frame"])
        for name, dtype in COLUMNS.items():
            col = self.columns[name]
            if col.shape != (n,) or col.dtype != np.dtype(dtype):
                raise UsageError(f"PacketTable column {name}: {col.dtype}{col.shape}")

    def __len__(self) -> int:
        return len(self.columns["frame"])

    def __getitem__(self, name: str) -> npt.NDArray[np.generic]:
        return self.columns[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.columns)

    @classmethod
    def empty(cls, n: int = 0) -> PacketTable:
        """A table of `n` rows holding every column's sentinel."""
        cols: dict[str, npt.NDArray[np.generic]] = {}
        for name, dtype in COLUMNS.items():
            signed_optional = np.dtype(dtype).kind == "i" and name not in ("frame", "ts_ns")
            cols[name] = np.full(n, -1 if signed_optional else 0, dtype=dtype)
        return cls(columns=cols)

    def select(self, mask: npt.NDArray[np.bool_]) -> PacketTable:
        """The rows where `mask` is true (issues of the other frames dropped)."""
        frames = set(self.columns["frame"][mask].tolist()) if self.issues else set()
        return PacketTable(
            columns={k: v[mask] for k, v in self.columns.items()},
            issues=tuple(i for i in self.issues if i.frame in frames),
        )


def concat(tables: list[PacketTable]) -> PacketTable:
    """One table holding the rows of `tables` in order."""
    if not tables:
        return PacketTable.empty()
    return PacketTable(
        columns={k: np.concatenate([t.columns[k] for t in tables]) for k in COLUMNS},
        issues=tuple(i for t in tables for i in t.issues),
    )


@lru_cache(maxsize=1 << 16)
def address_text(hi: int, lo: int, family: int) -> str:
    """The address held in two uint64 halves, as text (IPv4 unmapped when `family` is 4).

    Args:
        hi: the high 64 bits (big-endian order of the 16 address bytes).
        lo: the low 64 bits.
        family: 4 or 6 (the row's `family`, or `q_family` for a quoted packet).

    Returns:
        "192.0.2.1" or "2001:db8::1".
    """
    hi, lo = int(hi), int(lo)
    if family == 4 and hi == 0 and lo >> 32 == 0xFFFF:
        # IPv4-mapped (RFC 4291 §2.5.5.2): dotted quad, as str(IPv4Address) writes it
        return f"{lo >> 24 & 255}.{lo >> 16 & 255}.{lo >> 8 & 255}.{lo & 255}"
    addr = IPv6Address((hi << 64) | lo)
    if family == 4 and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def address_halves(packed: bytes) -> tuple[int, int]:
    """The (hi, lo) uint64 halves of a 4- or 16-byte address (IPv4 stored mapped)."""
    if len(packed) == 4:
        return 0, (0xFFFF << 32) | int.from_bytes(packed, "big")
    return int.from_bytes(packed[:8], "big"), int.from_bytes(packed[8:], "big")
