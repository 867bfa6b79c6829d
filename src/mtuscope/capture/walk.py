"""The record walker: packet records of a buffer -> `RECORD_DTYPE` rows + header block rows.

Layer: capture/. Reads the buffer it is given and writes the two arrays it is
given; no file I/O, no clock. `walk` is the compiled walker (`_walker.c`) when
it is built, else `walk_py`, the same logic in pure Python. Both produce
byte-identical records and blocks (the tests check it); change one, change both.

Call: ``walk(buf, pos, end, base_off, fmt, big_endian, linktypes, iface_base,
max_caplen, records, block) -> (n, new_pos, stop)``

- `buf`: any contiguous buffer (bytes, bytearray, mmap, memoryview); records are
  read in ``buf[pos:end]``. `base_off` is the file offset of ``buf[0]``
  (``file_off = base_off + offset of the record in buf``).
- `fmt`: `FileFormat` (0 pcap, 1 pcapng); `big_endian`: byte order of the file/section.
- `linktypes`: pcap: the file's link type (int); pcapng: a uint16 array of link
  types indexed by the section-local interface id. `iface_base` is added to the
  local id (pcap: written as is).
- `max_caplen`: pcap records with a larger ``incl_len``, pcapng packet blocks
  with a larger captured length (or a block longer than ``max_caplen + 65536``)
  stop the walk with `WalkStop.CORRUPT` at that record.
- `records` (RECORD_DTYPE) and `block` (uint8, ``(capacity, HEADER_BYTES)``):
  rows ``[0, n)`` are written; capacity is the smaller of their lengths.
- Returns ``n`` rows written, ``new_pos`` (where the next record starts, or the
  record that stopped the walk) and a `WalkStop`: END (no complete record at
  ``new_pos`` within ``end``), FULL, BLOCK (pcapng: a non-packet block starts at
  ``new_pos``) or CORRUPT (an impossible length at ``new_pos``: block length < 12
  or not a multiple of 4, trailing length mismatch, captured length past the block).

Records: pcap records; pcapng EPB (6), SPB (3, interface 0, caplen = min(orig_len,
body)) and obsolete PB (2). Custom blocks (0xBAD, 0x40000BAD) and systemd journal
entries (9) are frames too, as Wireshark numbers them: iface and linktype 0xFFFF,
status UNKNOWN_LINKTYPE, caplen = their data length. An interface id beyond the
section's IDBs gives a MALFORMED frame with linktype 0xFFFF.

Per frame (semantics shared by both walkers):

- The link layer leads to the first IP header: Ethernet (1) with 802.1Q/802.1ad/
  0x9100 tags, 802.3 LLC/SNAP, PPPoE session, MPLS (then IP by version nibble, or an
  RFC 4448 control word and Ethernet), 802.1ah PBB, VN-Tag, Cisco MetaData; Linux SLL
  (113) and SLL2 (276); raw IP 12/14/101 (version nibble), LINKTYPE_IPV4 228 (an IPv6
  header there is taken, as Wireshark's IPv4 dissector does) and IPV6 229; BSD NULL
  (0, host order, Wireshark's byte-order heuristics; AF 2, 24/28/30, or an ethertype
  when above 1500) and LOOP (108); NFLOG (239, payload TLV 9); PPP (9, 50), PPP with a
  direction byte (204) and PPPoE without Ethernet (51, session data only); Cisco
  HDLC (104); IP over InfiniBand (242, tcpdump's 44-byte header); PPI (192) and PKTAP
  (258) headers, then the link type they name; Linux ARCNET (129: source, destination,
  2-byte offset, protocol id, and for RFC 1201 ids a split flag and sequence; ids 0xF0 and
  0xD4 IPv4, 0xC4 IPv6); IEEE 802.11 (105) and radiotap (127: LE length at bytes 2-3; the
  TSFT/flags fields are read for the "data pad" flag). Anything else: UNKNOWN_LINKTYPE.
- IEEE 802.11: only version-0 data frames with a body lead on (not protected, not a
  fragment with more to come, not an A-MSDU): 24 bytes, 30 with ToDS and FromDS, +2 QoS
  control for QoS subtypes, +4 HT control when a QoS frame has the Order bit; then LLC/SNAP
  (AA AA 03, OUI, ethertype). At link level the 802.11 and SNAP headers are the link header
  (`encap_overhead` 0).
- Tunnels lead on from an IP header: protocols 4 and 41; GRE 47 (version 0: the
  protocol type is taken as an ethertype, 0x6558 -> Ethernet, Cisco MetaData; version
  1 PPTP -> PPP); UDP (lower port tried first, as Wireshark does) 4789 VXLAN, 6081
  Geneve, 2152 GTP-U (T-PDU, optional fields, extension chain), 3544 Teredo (auth and
  origin indication, then IPv6 only), 4754 GRE-in-UDP, 1701 L2TPv2 data -> PPP, 5247
  CAPWAP data (RFC 5415 section 4.3: not DTLS, fragments or keep-alives; HLEN words; T=0
  Ethernet, T=1 with WBID 1 IEEE 802.11 with its frame control bytes swapped, as
  Wireshark's default capwap.swap_fc reads them), 5072 AYIYA (opcode Forward, next header
  4 or 41, after 8 + 2^idlen + 4*siglen bytes). L2TPv2, CAPWAP and AYIYA set their
  Encap bits, and their bytes count in `encap_overhead`. ICMP payloads are never entered. At
  most 8 IP headers are nested. Frames are walked as if cut at 65000 bytes.
- An inner IP header becomes the innermost one only when its fixed header (20 or 40
  bytes) is captured and its version (and IPv4 IHL >= 5) is valid. Otherwise the
  outer IP header stays the innermost and `status` is TRUNCATED (cut by caplen) or
  MALFORMED (bad version/IHL, zero GTP extension length). A tunnel payload that is
  not IP (ARP in VXLAN, an unknown GRE protocol) leaves the outer header with OK.
  So ``family != 0`` always means `l3_off` points at a usable IP header, whatever
  `status` says.
- A first fragment (offset 0) is walked like a whole packet, tunnels included, as
  tshark does with reassembly off; a non-first fragment stops at its IP header. (So
  the fragmentation of an outer tunnel packet is not visible in the row.)
- AH (51) is walked as an extension header after IPv4 too, so `l4_off`/`l4_proto`
  are past it.
- `l4_off` (from `l3_off`) is NO_OFFSET for a non-first fragment, or when the IPv4
  options / IPv6 extension chain are not fully captured (status TRUNCATED). Otherwise
  it is set even if no transport byte is captured: compare it with `hdr_len`.
  `l4_proto` is the IPv4 protocol / last IPv6 next header reached (0 if the IP header
  itself is cut before it).
- `encap` holds the Encap bits of the layers around the innermost IP header (VLAN
  for any tag, QINQ in addition for two or more stacked tags); for a frame without
  IP, the bits met before the walk stopped. `encap_overhead` is ``l3_off`` minus the
  length of the base link header (0 when `family` is 0).
- `hdr_len` = min(HEADER_BYTES, captured bytes from `l3_off`); the block row
  holds those bytes and zeros after them.
- PPP (links, PPPoE, PPTP, L2TP): the protocol field is one byte when its first byte
  is odd (RFC 1661 section 6.5), else two; a two-byte field whose last byte is even is
  MALFORMED, and Van Jacobson compressed TCP/IP, compressed datagrams and multilink
  fragments (`_PPP_UNDECODED`) are UNDECODED: IP is there but not read.
- Status: NOT_IP (no IP before any IP header: ARP, LLC, non-IP PPP...),
  UNKNOWN_LINKTYPE, TRUNCATED, MALFORMED (e.g. outer IPv4 IHL < 5, a version nibble
  not matching the ethertype, a pcapng interface id beyond the section's IDBs, an
  NFLOG TLV length < 4), UNDECODED (see PPP). MALFORMED and UNDECODED frames become
  decode issues (`decode.decode_chunk`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NoReturn, TypeVar

import numpy as np
import numpy.typing as npt

from mtuscope.capture.records import HEADER_BYTES, NO_LINKTYPE, NO_OFFSET, RECORD_DTYPE
from mtuscope.capture.table import Encap
from mtuscope.errors import UsageError
from mtuscope.wire.enums import LinkType
from mtuscope.wire.ipv4 import IPV4_LAYOUT
from mtuscope.wire.ipv6 import IPV6_EXTENSION_LAYOUT, IPV6_FRAGMENT_LAYOUT, IPV6_LAYOUT
from mtuscope.wire.udp import UDP_LAYOUT

__all__ = ["HAVE_C", "walk", "walk_py"]

_C: ModuleType | None
try:
    from mtuscope.capture import _walker as _C
except ImportError:  # the optional C extension is not built: the pure-Python twins run
    _C = None
HAVE_C = _C is not None
_F = TypeVar("_F", bound=Callable[..., Any])


def _compiled(name: str, twin: _F) -> _F:
    """`_walker.<name>` when the extension is built, else its pure-Python twin."""
    found: _F = getattr(_C, name) if _C is not None else twin
    return found


_WALK_MAX = 65000
_MAX_DEPTH = 8
_BLOCK_SLACK = 65536

_OK, _NOT_IP, _UNKNOWN, _TRUNC, _MALF, _UNDEC = 0, 1, 2, 3, 4, 5
_END, _FULL, _BLOCK, _CORRUPT = 0, 1, 2, 3

_N_ETYPE, _N_ETHER, _N_MPLS, _N_IPVER, _N_PPP, _N_GRE, _N_IP4, _N_IP6, _N_WLAN = range(9)
# UDP port -> 1 VXLAN, 2 Geneve, 3 GTP-U, 4 Teredo, 5 GRE-in-UDP, 6 L2TPv2, 7 CAPWAP, 8 AYIYA
_U_TUNNELS = {4789: 1, 6081: 2, 2152: 3, 3544: 4, 4754: 5, 1701: 6, 5247: 7, 5072: 8}
# Link types whose fixed header names an ethertype: (header length, where the
# ethertype is, where an ARPHRD type is or 0). Linux SLL/SLL2 with ARPHRD_NETLINK
# carry netlink messages, not IP.
_ETYPE_LINKS = {
    int(LinkType.IPOIB): (44, 40, 0),  # tcpdump's layout: 2 x 20-byte addresses, type
    int(LinkType.ETHERNET): (14, 12, 0),
    int(LinkType.LINUX_SLL): (16, 14, 2),
    int(LinkType.LINUX_SLL2): (20, 0, 8),
    int(LinkType.C_HDLC): (4, 2, 0),
}
_ARPHRD_NETLINK = 824
# Ethertypes of headers that end with the next ethertype: their length.
_ETYPE_SKIPS = {0x8926: 6, 0x8909: 8}  # VN-Tag, Cisco MetaData
# Where a code names IP: ethertypes, PPP protocols (RFC 1332, RFC 5072), version nibbles.
_ETYPE_NEXT = {0x0800: _N_IP4, 0x86DD: _N_IP6}
_PPP_NEXT = {0x21: _N_IP4, 0x57: _N_IP6}
# PPP protocols carrying IP in a form not decoded here: Van Jacobson TCP/IP header
# compression (RFC 1144; 0x2D, 0x2F), compressed datagrams (RFC 1962; 0xFB, 0xFD),
# multilink fragments (RFC 1990; 0x3D). Counted as UNDECODED, never dropped silently.
_PPP_UNDECODED = frozenset((0x2D, 0x2F, 0x3D, 0xFB, 0xFD))
_VERSION_NEXT = {4: _N_IP4, 6: _N_IP6}
# the layout of the next IEEE 802.11 header: frame control swapped (CAPWAP), radiotap data pad
_WF_SWAP, _WF_PAD = 1, 2
_V6_EXT = frozenset((0, 43, 60, 135, 139, 140, 51))

_E_AYIYA = int(Encap.AYIYA)
_E_CAPWAP = int(Encap.CAPWAP)
_E_ETHER_INNER = int(Encap.ETHER_INNER)
_E_FOURIN6 = int(Encap.FOURIN6)
_E_GENEVE = int(Encap.GENEVE)
_E_GRE = int(Encap.GRE)
_E_GTPU = int(Encap.GTPU)
_E_IPIP = int(Encap.IPIP)
_E_L2TP = int(Encap.L2TP)
_E_MPLS = int(Encap.MPLS)
_E_PPPOE = int(Encap.PPPOE)
_E_QINQ = int(Encap.QINQ)
_E_SIXIN4 = int(Encap.SIXIN4)
_E_SIXIN6 = int(Encap.SIXIN6)
_E_TEREDO = int(Encap.TEREDO)
_E_VLAN = int(Encap.VLAN)
_E_VXLAN = int(Encap.VXLAN)

# The link types walked, as plain ints for the per-frame comparisons (wire.LinkType).
_LT_ARCNET_LINUX = int(LinkType.ARCNET_LINUX)
_LT_IEEE802_11 = int(LinkType.IEEE802_11)
_LT_IEEE802_11_RADIOTAP = int(LinkType.IEEE802_11_RADIOTAP)
_LT_IPV4 = int(LinkType.IPV4)
_LT_IPV6 = int(LinkType.IPV6)
_LT_LOOP = int(LinkType.LOOP)
_LT_NFLOG = int(LinkType.NFLOG)
_LT_NULL = int(LinkType.NULL)
_LT_PKTAP = int(LinkType.PKTAP)
_LT_PPI = int(LinkType.PPI)
_LT_PPP = int(LinkType.PPP)
_LT_PPP_HDLC = int(LinkType.PPP_HDLC)
_LT_PPP_ETHER = int(LinkType.PPP_ETHER)
_LT_PPP_WITH_DIR = int(LinkType.PPP_WITH_DIR)
_LT_RAW = int(LinkType.RAW)
_LT_RAW_DLT12 = int(LinkType.RAW_DLT12)
_LT_RAW_DLT14 = int(LinkType.RAW_DLT14)

# Header fields the walk reads, from wire/'s layouts (the C walker names the same
# offsets in #defines, and a test checks them against these declarations).
_V4_VER_IHL = IPV4_LAYOUT.offset("version_ihl")
_V4_FLAGS = IPV4_LAYOUT.offset("flags_fragment")
_V4_PROTO = IPV4_LAYOUT.offset("proto")
_V4_SIZE = IPV4_LAYOUT.size
_V6_NEXT = IPV6_LAYOUT.offset("next_header")
_V6_SIZE = IPV6_LAYOUT.size
_EXT_NEXT = IPV6_EXTENSION_LAYOUT.offset("next_header")
_EXT_LEN = IPV6_EXTENSION_LAYOUT.offset("length")
_FRAG_NEXT = IPV6_FRAGMENT_LAYOUT.offset("next_header")
_FRAG_FIELD = IPV6_FRAGMENT_LAYOUT.offset("offset_flags")
_FRAG_SIZE = IPV6_FRAGMENT_LAYOUT.size
_UDP_SPORT = UDP_LAYOUT.offset("sport")
_UDP_DPORT = UDP_LAYOUT.offset("dport")
_UDP_SIZE = UDP_LAYOUT.size

_REC = struct.Struct("=qIIIIIHHHHHHHBBB3x")
assert _REC.size == RECORD_DTYPE.itemsize


class _Stop(Exception):
    """Ends the walk of one frame (the Python spelling of `goto done`)."""


class _Frame:
    """The state of one frame's walk; mirrors the locals of `walk_frame` in C."""

    __slots__ = (
        "d",
        "ln",
        "fam",
        "l3",
        "l4",
        "v6f",
        "proto",
        "encap",
        "pend",
        "link_end",
        "status",
        "depth",
        "tags",
        "shift",
        "wflags",
    )

    def __init__(self, d: bytes) -> None:
        self.d = d
        self.ln = len(d)
        self.fam = 0
        self.l3 = NO_OFFSET
        self.l4 = NO_OFFSET
        self.v6f = NO_OFFSET
        self.proto = 0
        self.encap = 0
        self.pend = 0
        self.link_end = 0
        self.status = _OK
        self.depth = 0
        self.tags = 0
        self.shift = 0
        self.wflags = 0

    def need(self, n: int) -> None:
        if n > self.ln:
            self.status = _TRUNC
            raise _Stop

    def not_ip(self) -> NoReturn:
        if not self.fam:
            self.status = _NOT_IP
        raise _Stop

    def malformed(self) -> NoReturn:
        self.status = _MALF
        raise _Stop

    def snap(self, off: int) -> int:
        """The ethertype of the 8-byte LLC/SNAP header at `off` (AA AA 03, OUI, type)."""
        d = self.d
        self.need(off + 3)
        if d[off] != 0xAA or d[off + 1] != 0xAA or d[off + 2] != 0x03:
            self.not_ip()
        self.need(off + 8)
        return self.u16(off + 6)

    def lead(self, table: dict[int, int], key: int) -> int:
        """The IP state `key` leads to in `table`; no IP (`not_ip`) when it names none."""
        nxt = table.get(key)
        if nxt is None:
            self.not_ip()
        return nxt

    def ppp_protocol(self, off: int, *, link: bool) -> tuple[int, int]:
        """The PPP protocol field at `off`: (offset after it, the IP state it leads to).

        RFC 1661 section 6.5: a first byte that is odd is the whole (compressed) field;
        section 2: the last byte of a two-byte field is odd, else the frame is MALFORMED.
        Protocols carrying IP in a form not decoded here are UNDECODED. `link`: the
        PPP header is the link header (its end is `link_end`)."""
        d = self.d
        self.need(off + 1)
        if d[off] & 1:
            pp = d[off]
            off += 1
        else:
            self.need(off + 2)
            pp = self.u16(off)
            off += 2
            if not pp & 1:
                self.malformed()
        if link:
            self.link_end = off
        if pp in _PPP_UNDECODED:
            self.status = _UNDEC
            raise _Stop
        return off, self.lead(_PPP_NEXT, pp)

    def u16(self, i: int) -> int:
        d = self.d
        return (d[i] << 8) | d[i + 1]

    def run(self, lt: int) -> None:  # noqa: C901 - one state machine, as in C
        d = self.d
        off = 0
        et = 0
        if lt in (_LT_PPI, _LT_PKTAP):  # a header naming the link type that follows
            self.need(8)
            hl = (d[2] | d[3] << 8) if lt == _LT_PPI else int.from_bytes(d[0:4], "little")
            lt = int.from_bytes(d[4:8], "little")
            if hl < 8 or lt in (_LT_PPI, _LT_PKTAP):
                self.malformed()
            self.need(hl)
            d = self.d = d[hl:]
            self.ln -= hl
            self.shift = hl
        link = _ETYPE_LINKS.get(lt)
        if link is not None:  # a fixed link header that names an ethertype
            off, at, arphrd = link
            self.need(off)
            if arphrd and self.u16(arphrd) == _ARPHRD_NETLINK:
                self.not_ip()
            et = self.u16(at)
            self.link_end = off
            nxt = _N_ETYPE
        elif lt in (_LT_RAW_DLT12, _LT_RAW_DLT14, _LT_RAW):
            nxt = _N_IPVER
        elif lt == _LT_IPV4:
            nxt = _N_IP4
        elif lt == _LT_IPV6:
            nxt = _N_IP6
        elif lt in (_LT_NULL, _LT_LOOP):
            self.need(4)
            af = int.from_bytes(d[0:4], "big" if lt == _LT_LOOP else "little")
            if lt == _LT_NULL and af & 0xFFFF0000:
                if not af & 0xFF000000 and af & 0x00FF0000 < 0x00060000:
                    af >>= 16
                else:
                    af = int.from_bytes(d[0:4], "big")
            off = self.link_end = 4
            if af > 1500:
                et = af & 0xFFFF
                nxt = _N_ETYPE
            elif af == 2:
                nxt = _N_IP4
            elif af in (24, 28, 30):
                nxt = _N_IP6
            else:
                self.not_ip()
        elif lt == _LT_NFLOG:
            self.need(4)
            q = 4
            while True:
                self.need(q + 4)
                tl = d[q] | (d[q + 1] << 8)
                tt = d[q + 2] | (d[q + 3] << 8)
                if tl < 4:
                    self.malformed()
                if tt == 9:
                    break
                q += (tl + 3) & ~3
            off = self.link_end = q + 4
            nxt = _N_IPVER
        elif lt in (_LT_PPP, _LT_PPP_HDLC):
            nxt = _N_PPP  # at link level its header is the link header
        elif lt == _LT_PPP_WITH_DIR:  # a direction byte, then PPP
            self.need(1)
            off = 1
            nxt = _N_PPP
        elif lt == _LT_PPP_ETHER:  # PPPoE (RFC 2516) without Ethernet: session data (code 0)
            self.need(6)
            if d[1] != 0:
                self.not_ip()
            self.pend |= _E_PPPOE  # its bytes count as encapsulation, as over Ethernet
            off = 6
            nxt = _N_PPP
        elif lt == _LT_ARCNET_LINUX:  # source, destination, 2-byte offset, protocol id
            self.need(5)
            pid = d[4]
            off = self.link_end = 5 if pid in (0xF0, 0xF1, 0x80, 0xCD) else 8
            if pid in (0xF0, 0xD4):
                nxt = _N_IP4
            elif pid == 0xC4:
                nxt = _N_IP6
            else:
                self.not_ip()
            self.need(off)
        elif lt == _LT_IEEE802_11:
            nxt = _N_WLAN
        elif lt == _LT_IEEE802_11_RADIOTAP:  # version, pad, LE length, present words (bit 31)
            self.need(8)
            rl = d[2] | d[3] << 8
            if rl < 8:
                self.malformed()
            self.need(rl)
            pres = int.from_bytes(d[4:8], "little")
            q = 4
            while d[q + 3] & 0x80:
                q += 4
                if q + 4 > rl:
                    self.malformed()
            q += 4
            if pres & 1:
                q = ((q + 7) & ~7) + 8
            if pres & 2 and q < rl and d[q] & 0x20:
                self.wflags = _WF_PAD
            d = self.d = d[rl:]
            self.ln -= rl
            self.shift += rl
            nxt = _N_WLAN
        else:
            self.status = _UNKNOWN
            raise _Stop

        while True:
            if nxt == _N_ETHER:
                self.pend |= _E_ETHER_INNER
                self.tags = 0
                self.need(off + 14)
                et = self.u16(off + 12)
                off += 14
                nxt = _N_ETYPE
                continue
            if nxt == _N_ETYPE:
                if et in (0x8100, 0x88A8, 0x9100):
                    self.need(off + 4)
                    self.tags += 1
                    self.pend |= _E_VLAN
                    if self.tags >= 2:
                        self.pend |= _E_QINQ
                    et = self.u16(off + 2)
                    off += 4
                    continue
                if et < 0x600:  # an 802.3 length: LLC/SNAP follows
                    et = self.snap(off)
                    off += 8
                    continue
                skip = _ETYPE_SKIPS.get(et)
                if skip is not None:  # a header that names the next ethertype itself
                    self.need(off + skip)
                    et = self.u16(off + skip - 2)
                    off += skip
                    continue
                if et == 0x88E7:
                    self.need(off + 4)
                    off += 4
                    nxt = _N_ETHER
                    continue
                if et == 0x6558:
                    nxt = _N_ETHER
                    continue
                if et == 0x8864:  # PPPoE session, RFC 2516: 6 bytes, then the PPP protocol
                    self.need(off + 7)
                    self.pend |= _E_PPPOE
                    off, nxt = self.ppp_protocol(off + 6, link=False)
                    continue
                if et in (0x8847, 0x8848):
                    nxt = _N_MPLS
                    continue
                nxt = self.lead(_ETYPE_NEXT, et)
                continue
            if nxt == _N_MPLS:
                self.pend |= _E_MPLS
                while True:
                    self.need(off + 4)
                    bos = d[off + 2] & 1
                    off += 4
                    if bos:
                        break
                self.need(off + 1)
                nib = d[off] >> 4
                if nib == 4:
                    nxt = _N_IP4
                elif nib == 6:
                    nxt = _N_IP6
                elif nib == 0:
                    self.need(off + 4)
                    off += 4
                    nxt = _N_ETHER
                else:
                    self.not_ip()
                continue
            if nxt == _N_PPP:
                if off + 2 <= self.ln and d[off] == 0xFF and d[off + 1] == 0x03:
                    off += 2
                at_link = not self.fam and not self.pend & _E_PPPOE
                off, nxt = self.ppp_protocol(off, link=at_link)
                continue
            if nxt == _N_GRE:
                self.need(off + 4)
                flags = self.u16(off)
                gp = self.u16(off + 2)
                if flags & 7 == 0:
                    if flags & 0x4000:
                        raise _Stop
                    hl2 = 4 + (4 if flags & 0x8000 else 0) + (4 if flags & 0x2000 else 0)
                    hl2 += 4 if flags & 0x1000 else 0
                    self.need(off + hl2)
                    off += hl2
                    self.pend = self.encap | _E_GRE
                    et = gp
                    if gp == 0x8909:
                        self.need(off + 8)
                        et = self.u16(off)
                        off += 8
                    nxt = _N_ETYPE
                    continue
                if flags & 7 == 1 and gp == 0x880B and flags & 0x2000:
                    hl2 = 8 + (4 if flags & 0x1000 else 0) + (4 if flags & 0x0080 else 0)
                    self.need(off + hl2)
                    if self.u16(off + 4) == 0:
                        raise _Stop
                    off += hl2
                    self.pend = self.encap | _E_GRE
                    nxt = _N_PPP
                    continue
                raise _Stop
            if nxt == _N_WLAN:  # IEEE 802.11 data frame, then LLC/SNAP
                self.need(off + 2)
                sw = self.wflags & _WF_SWAP
                fc0 = d[off + sw]
                fc1 = d[off + 1 - sw]
                if fc0 & 0x0F != 0x08 or fc0 & 0x40 or fc1 & 0x44:
                    self.not_ip()
                hl2 = 30 if fc1 & 3 == 3 else 24
                if fc0 & 0x80:
                    self.need(off + hl2 + 1)
                    if d[off + hl2] & 0x80:
                        self.not_ip()
                    hl2 += 6 if fc1 & 0x80 else 2
                if self.wflags & _WF_PAD:
                    hl2 = (hl2 + 3) & ~3
                off += hl2
                et = self.snap(off)
                off += 8
                if not self.fam:
                    self.link_end = off
                nxt = _N_ETYPE
                continue
            if nxt == _N_IPVER:
                self.need(off + 1)
                nxt = self.lead(_VERSION_NEXT, d[off] >> 4)
                continue

            off, nxt, et = self._ip(off, 4 if nxt == _N_IP4 else 6)

    def _ip(self, off: int, v: int) -> tuple[int, int, int]:  # noqa: C901
        """Walk the IP header at `off`; return (offset, next state, ethertype), or raise _Stop."""
        d = self.d
        ln = self.ln
        avail = ln - off
        if v == 4 and avail and d[off + _V4_VER_IHL] >> 4 == 6:
            v = 6
        fixed = _V4_SIZE if v == 4 else _V6_SIZE
        if not self.fam:
            if avail == 0:
                self.status = _TRUNC
                raise _Stop
            if d[off + _V4_VER_IHL] >> 4 != v:
                self.malformed()
            self.l3 = off
            self.fam = v
            self.encap = self.pend
            self.depth = 1
            if avail < fixed:
                self.status = _TRUNC
                raise _Stop
            if v == 4 and d[off + _V4_VER_IHL] & 15 < 5:
                self.proto = d[off + _V4_PROTO]
                self.malformed()
        else:
            if avail < fixed:
                self.status = _TRUNC
                raise _Stop
            if d[off + _V4_VER_IHL] >> 4 != v or (v == 4 and d[off + _V4_VER_IHL] & 15 < 5):
                self.malformed()
            self.l3 = off
            self.fam = v
            self.encap = self.pend
            self.l4 = NO_OFFSET
            self.v6f = NO_OFFSET
            self.depth += 1

        if v == 4:
            ihl = (d[off + _V4_VER_IHL] & 15) * 4
            self.proto = d[off + _V4_PROTO]
            if self.u16(off + _V4_FLAGS) & 0x1FFF:
                raise _Stop
            if ihl > avail:
                self.status = _TRUNC
                raise _Stop
            while self.proto == 51:
                if ihl + 2 > avail:
                    self.status = _TRUNC
                    raise _Stop
                hl = (d[off + ihl + _EXT_LEN] + 2) * 4
                if ihl + hl > avail:
                    self.status = _TRUNC
                    raise _Stop
                self.proto = d[off + ihl + _EXT_NEXT]
                ihl += hl
            self.l4 = ihl
        else:
            nh = d[off + _V6_NEXT]
            cur = _V6_SIZE
            while True:
                if nh in _V6_EXT:
                    if cur + 2 > avail:
                        self.proto = nh
                        self.status = _TRUNC
                        raise _Stop
                    if nh == 51:
                        hl = (d[off + cur + _EXT_LEN] + 2) * 4
                    else:
                        hl = (d[off + cur + _EXT_LEN] + 1) * 8
                    if cur + hl > avail:
                        self.proto = nh
                        self.status = _TRUNC
                        raise _Stop
                    nh = d[off + cur + _EXT_NEXT]
                    cur += hl
                elif nh == 44:
                    if cur + _FRAG_SIZE > avail:
                        self.proto = nh
                        self.status = _TRUNC
                        raise _Stop
                    self.v6f = cur
                    nh = d[off + cur + _FRAG_NEXT]
                    if self.u16(off + cur + _FRAG_FIELD) & 0xFFF8:
                        self.proto = nh
                        raise _Stop
                    cur += _FRAG_SIZE
                else:
                    break
            self.proto = nh
            self.l4 = cur

        # ---- tunnels ----
        if self.depth >= _MAX_DEPTH:
            raise _Stop
        p = off + self.l4
        proto = self.proto
        encap = self.encap
        fam = self.fam
        if proto == 4:
            self.pend = encap | (_E_IPIP if fam == 4 else _E_FOURIN6)
            return p, _N_IP4, 0
        if proto == 41:
            self.pend = encap | (_E_SIXIN4 if fam == 4 else _E_SIXIN6)
            return p, _N_IP6, 0
        if proto == 47:
            return p, _N_GRE, 0
        if proto == 17:
            if p + _UDP_DPORT + 2 > ln:
                raise _Stop
            sp = self.u16(p + _UDP_SPORT)
            dp = self.u16(p + _UDP_DPORT)
            kind = _U_TUNNELS.get(min(sp, dp), 0) or _U_TUNNELS.get(max(sp, dp), 0)
            if not kind:
                raise _Stop
            self.need(p + _UDP_SIZE)
            u = p + _UDP_SIZE
            if kind == 1:  # VXLAN, RFC 7348
                self.need(u + 8)
                self.pend = encap | _E_VXLAN
                return u + 8, _N_ETHER, 0
            if kind == 2:  # Geneve, RFC 8926
                self.need(u + 8)
                if d[u] >> 6:
                    raise _Stop
                ol = (d[u] & 0x3F) * 4
                gp = self.u16(u + 2)
                self.need(u + 8 + ol)
                self.pend = encap | _E_GENEVE
                return u + 8 + ol, _N_ETYPE, gp
            if kind == 5:  # GRE-in-UDP, RFC 8086
                return u, _N_GRE, 0
            if kind == 6:  # L2TPv2 data message, RFC 2661 section 3.1
                self.need(u + 2)
                f = self.u16(u)
                if f & 0x8000 or f & 0xF != 2:
                    raise _Stop
                q = u + 2 + (2 if f & 0x4000 else 0) + 4 + (4 if f & 0x0800 else 0)
                if f & 0x0200:
                    self.need(q + 2)
                    q += 2 + self.u16(q)
                self.need(q)
                self.pend = encap | _E_L2TP
                return q, _N_PPP, 0
            if kind == 7:  # CAPWAP data channel, RFC 5415 section 4.3
                self.need(u + 4)
                if d[u] & 0x0F == 1:
                    raise _Stop
                w = (d[u + 1] << 16) | (d[u + 2] << 8) | d[u + 3]
                if w & 0x88:
                    raise _Stop
                hl3 = (w >> 19) * 4
                if hl3 < 8:
                    raise _Stop
                self.need(u + hl3)
                self.pend = encap | _E_CAPWAP
                if not w & 0x100:
                    return u + hl3, _N_ETHER, 0
                if (w >> 9) & 31 != 1:
                    raise _Stop
                self.wflags = _WF_SWAP
                return u + hl3, _N_WLAN, 0
            if kind == 8:  # AYIYA: 8 bytes, identity (2^n bytes), signature
                self.need(u + 8)
                if d[u + 2] & 0x0F != 1:
                    raise _Stop
                nh2 = d[u + 3]
                if nh2 not in (4, 41):
                    raise _Stop
                q = u + 8 + (1 << (d[u] >> 4)) + (d[u + 1] >> 4) * 4
                self.need(q)
                self.pend = encap | _E_AYIYA
                return q, _N_IP4 if nh2 == 4 else _N_IP6, 0
            if kind == 3:  # GTP-U, 3GPP TS 29.281
                self.need(u + 8)
                f = d[u]
                if f >> 5 != 1 or not f & 0x10 or d[u + 1] != 0xFF:
                    raise _Stop
                q = u + 8
                if f & 7:
                    self.need(u + 12)
                    nx = d[u + 11]
                    q = u + 12
                    if f & 4:
                        while nx:
                            self.need(q + 1)
                            el = d[q] * 4
                            if not el:
                                self.malformed()
                            self.need(q + el)
                            nx = d[q + el - 1]
                            q += el
                self.pend = encap | _E_GTPU
                return q, _N_IPVER, 0
            # Teredo, RFC 4380 section 5.1.1
            q = u
            self.need(q + 2)
            if self.u16(q) == 1:
                self.need(q + 4)
                q += 4 + d[q + 2] + d[q + 3] + 9
                self.need(q + 2)
            if self.u16(q) == 0:
                q += 8
            self.need(q + 1)
            if d[q] >> 4 != 6:
                raise _Stop
            self.pend = encap | _E_TEREDO
            return q, _N_IP6, 0
        raise _Stop


def _walk_frame(
    frame: bytes, lt: int, rec: tuple[Any, ...], out: memoryview, roff: int, row: memoryview
) -> None:
    f = _Frame(frame)
    try:
        f.run(lt)
    except _Stop:
        pass
    hdr_len = 0
    if f.fam:
        hdr_len = min(f.ln - f.l3, HEADER_BYTES)
        row[:hdr_len] = f.d[f.l3 : f.l3 + hdr_len]
        encap, l3, l4, v6f, proto = f.encap, f.l3 + f.shift, f.l4, f.v6f, f.proto
        overhead = f.l3 - f.link_end
    else:
        encap, l3, l4, v6f, proto, overhead = f.pend, NO_OFFSET, NO_OFFSET, NO_OFFSET, 0, 0
    row[hdr_len:] = bytes(HEADER_BYTES - hdr_len)
    _REC.pack_into(out, roff, *rec[:5], encap, rec[5], rec[6], l3, l4, v6f, overhead, hdr_len,
                   f.fam, proto, f.status)  # fmt: skip


def _rd(be: bool) -> tuple[struct.Struct, struct.Struct]:
    return (struct.Struct(">I"), struct.Struct(">H")) if be else (
        struct.Struct("<I"), struct.Struct("<H"))  # fmt: skip


def walk_py(
    buf: Any,
    pos: int,
    end: int,
    base_off: int,
    fmt: int,
    big_endian: bool,
    linktypes: int | npt.NDArray[np.uint16],
    iface_base: int,
    max_caplen: int,
    records: npt.NDArray[Any],
    block: npt.NDArray[np.uint8],
) -> tuple[int, int, int]:
    """Walk packet records in pure Python; same contract as the compiled walker.

    Args:
        buf: a contiguous buffer holding the records.
        pos: offset of the first record in `buf`.
        end: end of the valid bytes in `buf`.
        base_off: file offset of ``buf[0]``.
        fmt: 0 pcap, 1 pcapng.
        big_endian: byte order of the file (pcapng: of the section).
        linktypes: pcap: the link type; pcapng: uint16 link types by local interface id.
        iface_base: added to the local interface id.
        max_caplen: largest plausible captured length.
        records: RECORD_DTYPE array to fill.
        block: uint8 array (capacity, HEADER_BYTES) to fill.

    Returns:
        (rows written, position of the next record, `WalkStop` value).

    Raises:
        UsageError: an unknown `fmt`, positions outside the buffer, arrays of the
            wrong item size, or `linktypes` of the wrong kind for `fmt`.
    """
    if fmt not in (0, 1):
        raise UsageError("walk: fmt must be 0 (pcap) or 1 (pcapng)")
    if not 0 <= iface_base <= 0xFFFF or not 0 <= max_caplen <= 0x7FFF0000:
        raise UsageError("walk: iface_base or max_caplen out of range")
    if fmt == 0:
        if not isinstance(linktypes, int):
            raise UsageError("walk: pcap needs an int link type")
        if not 0 <= linktypes <= 0xFFFF:
            raise UsageError("walk: link type out of range")
        pcap_lt = linktypes
        lts: list[int] = []
    else:
        arr = None if isinstance(linktypes, int) else np.asarray(linktypes)
        if arr is None or arr.itemsize != 2:
            raise UsageError("walk: pcapng needs a uint16 array of link types")
        pcap_lt = 0
        lts = [int(x) for x in arr.reshape(-1).view(np.uint16).tolist()]
    mv = memoryview(buf).cast("B")
    if pos < 0 or end < pos or end > len(mv):
        raise UsageError("walk: need 0 <= pos <= end <= len(buf)")
    out = records.data.cast("B")
    blk = block.data.cast("B")
    if len(out) % _REC.size or len(blk) % HEADER_BYTES:
        raise UsageError("walk: records/block have the wrong item size")
    cap = min(len(out) // _REC.size, len(blk) // HEADER_BYTES)
    u32, u16 = _rd(big_endian)
    n = 0
    while True:
        if n >= cap:
            return n, pos, _FULL
        iface = iface_base
        bad_iface = False
        nonpkt = False
        if fmt == 0:
            if end - pos < 16:
                return n, pos, _END
            ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(">IIII" if big_endian else "<IIII",
                                                               mv, pos)  # fmt: skip
            if caplen > max_caplen:
                return n, pos, _CORRUPT
            if caplen > end - pos - 16:
                return n, pos, _END
            lt = pcap_lt
            data_off = 16
            size = 16 + caplen
        else:
            if end - pos < 8:
                return n, pos, _END
            btype = u32.unpack_from(mv, pos)[0]
            if btype not in (6, 3, 2, 0xBAD, 0x40000BAD, 9):
                return n, pos, _BLOCK
            btl = u32.unpack_from(mv, pos + 4)[0]
            if btl < 12 or btl & 3 or btl > max_caplen + _BLOCK_SLACK:
                return n, pos, _CORRUPT
            if btl > end - pos:
                return n, pos, _END
            if u32.unpack_from(mv, pos + btl - 4)[0] != btl:
                return n, pos, _CORRUPT
            if btype == 3:
                if btl < 16:
                    return n, pos, _CORRUPT
                wirelen = u32.unpack_from(mv, pos + 8)[0]
                caplen = min(btl - 16, wirelen)
                ts_hi = ts_lo = 0
                local = 0
                data_off = 12
            elif btype in (0xBAD, 0x40000BAD, 9):
                if btl < 16:
                    return n, pos, _CORRUPT
                caplen = wirelen = btl - (12 if btype == 9 else 16)
                ts_hi = ts_lo = 0
                local = 0
                data_off = 12
                nonpkt = True
            else:
                if btl < 32:
                    return n, pos, _CORRUPT
                if btype == 6:
                    local = u32.unpack_from(mv, pos + 8)[0]
                else:
                    local = u16.unpack_from(mv, pos + 8)[0]
                ts_hi = u32.unpack_from(mv, pos + 12)[0]
                ts_lo = u32.unpack_from(mv, pos + 16)[0]
                caplen = u32.unpack_from(mv, pos + 20)[0]
                wirelen = u32.unpack_from(mv, pos + 24)[0]
                data_off = 28
                if caplen > max_caplen or caplen > btl - 32:
                    return n, pos, _CORRUPT
            if nonpkt:
                lt = NO_LINKTYPE
                bad_iface = True
            elif local < len(lts):
                lt = lts[local]
            else:
                lt = NO_LINKTYPE
                bad_iface = True
            iface = 0xFFFF if nonpkt else min(iface_base + local, 0xFFFF)
            size = btl
        roff = n * _REC.size
        row = blk[n * HEADER_BYTES : (n + 1) * HEADER_BYTES]
        rec = (base_off + pos, ts_hi, ts_lo, caplen, wirelen, iface, lt)
        if bad_iface:
            row[:] = bytes(HEADER_BYTES)
            _REC.pack_into(out, roff, *rec[:5], 0, iface, lt, NO_OFFSET, NO_OFFSET, NO_OFFSET,
                           0, 0, 0, 0, _UNKNOWN if nonpkt else _MALF)  # fmt: skip
        else:
            start = pos + data_off
            frame = bytes(mv[start : start + min(caplen, _WALK_MAX)])
            _walk_frame(frame, lt, rec, out, roff, row)
        n += 1
        pos += size


walk: Callable[..., tuple[int, int, int]] = _compiled("walk", walk_py)
"""The walker in use: the compiled one when built, else `walk_py` (same contract)."""


# ---- flows: connection keys and per-direction sums of a chunk's TCP rows ----

FLOW_STATS: tuple[str, ...] = (
    "packets", "bytes", "first_frame", "last_frame", "first_ts", "last_ts", "syns", "rsts",
    "fins", "iplen0", "ip_max", "tail_raw", "tail_frame", "family",
)  # fmt: skip
"""Rows of `ChunkFlows.stats`, in the order of `_walker.c`'s FS_* (one column per chain)."""

_NONE = -(1 << 63)
"""int64 "no value" (`passive.partial.NONE`): a chain without a non-RST packet has no tail."""


@dataclass(frozen=True, slots=True)
class ChunkFlows:
    """The connections of some TCP rows and the sums of each of their directions.

    Connections are numbered 0.. in order of first appearance; chain ``2*conn+dir``
    is one direction (dir 0: endpoint A -> B, A the smaller (address halves, port)).
    `stats[FLOW_STATS.index(name), chain]`: packets, payload bytes, first and last
    frame, smallest and largest timestamp, SYN/RST/FIN counts, IPv4 rows with IP
    length 0, the largest IP length, the raw sequence number and frame of the last
    non-RST row (`_NONE` without one), the family of the first row. A chain without
    rows has packets 0 (and zeros, tails `_NONE`)."""

    conn: npt.NDArray[np.int64]
    """Per row: its connection."""
    dir: npt.NDArray[np.uint8]
    """Per row: 1 when the sender is endpoint B."""
    first: npt.NDArray[np.int64]
    """Per connection: its first row."""
    keys: npt.NDArray[np.uint64]
    """(4, connections): a_hi, a_lo, b_hi, b_lo."""
    ports: npt.NDArray[np.uint16]
    """(2, connections): a_port, b_port."""
    stats: npt.NDArray[np.int64]
    """(len(FLOW_STATS), 2 * connections)."""


def chunk_flows(
    cols: Mapping[str, npt.NDArray[Any]], impl: Callable[..., int] | None = None
) -> ChunkFlows:
    """Key the connections of TCP rows and sum their directions in one pass.

    Args:
        cols: the rows' src_hi, src_lo, sport, dst_hi, dst_lo, dport, tcp_flags,
            payload, frame, ts_ns, ip_len, family and seq columns (PacketTable dtypes).
        impl: `flows_py` or the compiled `flows` (default: the compiled one when built).
    """
    fn = impl or flows
    m = len(cols["frame"])
    ins = [
        np.ascontiguousarray(cols[name], dtype=dt)
        for name, dt in (
            ("src_hi", np.uint64), ("src_lo", np.uint64), ("sport", np.uint16),
            ("dst_hi", np.uint64), ("dst_lo", np.uint64), ("dport", np.uint16),
            ("tcp_flags", np.uint16), ("payload", np.uint32), ("frame", np.int64),
            ("ts_ns", np.int64), ("ip_len", np.uint32), ("family", np.uint8), ("seq", np.uint32),
        )
    ]  # fmt: skip
    conn = np.empty(m, np.int64)
    dirs = np.empty(m, np.uint8)
    first = np.empty(m, np.int64)
    keys = np.empty((4, m), np.uint64)
    ports = np.empty((2, m), np.uint16)
    stats = np.empty((len(FLOW_STATS), 2 * m), np.int64)
    n = fn(*ins, conn, dirs, first, keys, ports, stats)
    # Copies of the used part: the row-sized buffers are freed at once (peak memory).
    return ChunkFlows(
        conn=conn,
        dir=dirs,
        first=first[:n].copy(),
        keys=keys[:, :n].copy(),
        ports=ports[:, :n].copy(),
        stats=stats[:, : 2 * n].copy(),
    )


def flows_py(*bufs: Any) -> int:
    """`_walker.flows` in pure Python (same arguments, same output arrays, same result).

    Arguments: the 13 input columns of `chunk_flows` in its order, then the output
    arrays conn (m), dir (m), first (m), keys (4, m), ports (2, m), stats
    (len(FLOW_STATS), 2m). Returns the number of connections.
    """
    src_hi, src_lo, sport, dst_hi, dst_lo, dport, flags, payload, frame, ts, ip_len, fam, seq = (
        np.asarray(b).reshape(-1).tolist() for b in bufs[:13]
    )
    conn, dirs, first, keys, ports, stats = bufs[13:]
    m = len(src_hi)
    if any(len(c) != m for c in (src_lo, sport, dst_hi, dst_lo, dport, flags, payload, frame,
                                 ts, ip_len, fam, seq)):  # fmt: skip
        raise UsageError("flows: the input columns differ in length")
    nch = 2 * m
    st = [[0] * nch for _ in FLOW_STATS]
    tail_raw, tail_frame = st[11], st[12]
    index: dict[tuple[int, int, int, int, int, int], int] = {}
    conn_l, dir_l, first_l = [0] * m, [0] * m, [0] * m
    key_l: list[tuple[int, int, int, int, int, int]] = []
    for i in range(m):
        s = (src_hi[i], src_lo[i], sport[i])
        d = (dst_hi[i], dst_lo[i], dport[i])
        swap = s > d
        key = (*d, *s) if swap else (*s, *d)
        c = index.get(key)
        if c is None:
            c = index[key] = len(key_l)
            key_l.append(key)
            first_l[c] = i
            tail_raw[2 * c] = tail_raw[2 * c + 1] = _NONE
            tail_frame[2 * c] = tail_frame[2 * c + 1] = _NONE
        conn_l[i], dir_l[i] = c, int(swap)
        ch = 2 * c + swap
        fl, fr, t, ipl = flags[i], frame[i], ts[i], ip_len[i]
        if st[0][ch] == 0:
            st[2][ch], st[4][ch], st[5][ch], st[13][ch], st[10][ch] = fr, t, t, fam[i], ipl
        st[0][ch] += 1
        st[1][ch] += payload[i]
        st[3][ch] = fr
        st[4][ch] = min(st[4][ch], t)
        st[5][ch] = max(st[5][ch], t)
        st[6][ch] += (fl & 2) != 0
        st[7][ch] += (fl & 4) != 0
        st[8][ch] += (fl & 1) != 0
        st[9][ch] += ipl == 0 and fam[i] == 4
        st[10][ch] = max(st[10][ch], ipl)
        if not fl & 4:
            tail_raw[ch], tail_frame[ch] = seq[i], fr
    n = len(key_l)
    conn[:m] = conn_l
    dirs[:m] = dir_l
    first[:n] = first_l[:n]
    if n:
        k = np.array(key_l, dtype=np.uint64).T
        keys[:, :n] = k[[0, 1, 3, 4]]
        ports[:, :n] = k[[2, 5]].astype(np.uint16)
        stats[:, : 2 * n] = np.array([row[: 2 * n] for row in st], dtype=np.int64)
    return n


flows: Callable[..., int] = _compiled("flows", flows_py)
"""The flow keyer in use: the compiled one when built, else `flows_py`."""


# ---- sizes: the payload-size histogram of a chunk's data segments ----

SIZE_INPUTS: tuple[str, ...] = (
    "chain", "payload", "frame", "seq_end", "ttl", "ip_len", "family", "wirelen", "hdr",
)  # fmt: skip
"""Per data segment, in the order `chunk_sizes` reads them (rows of its int64 input)."""
SIZE_COLUMNS: tuple[str, ...] = (
    "chain", "payload", "count", "first_frame", "last_frame", "first_seq_end", "ttl_min",
    "ttl_max", "iplen0", "ip_len_max", "wire_max", "hdr",
)  # fmt: skip
"""Per (chain, payload) group: the columns `chunk_sizes` returns."""


def chunk_sizes(
    segs: Mapping[str, npt.NDArray[Any]], impl: Callable[..., int] | None = None
) -> dict[str, npt.NDArray[np.int64]]:
    """Group data segments by (chain, payload size) in one pass.

    Args:
        segs: the `SIZE_INPUTS` columns of the segments, in chain order (any int dtype).
        impl: `sizes_py` or the compiled `sizes` (default: the compiled one when built).

    Returns:
        `SIZE_COLUMNS` -> one value per group, groups in order of first appearance:
        how many segments, smallest and largest frame, the sequence end of the first,
        smallest and largest TTL, IPv4 segments with IP length 0, largest IP length,
        largest frame length on the wire, the first one's IP + TCP header length.
    """
    fn = impl or sizes
    m = len(segs["chain"])
    out = np.empty((len(SIZE_COLUMNS), m), np.int64)
    n = fn(np.stack([np.asarray(segs[k], np.int64) for k in SIZE_INPUTS]), out)
    return {name: out[i, :n].copy() for i, name in enumerate(SIZE_COLUMNS)}


def sizes_py(cols: Any, out: Any) -> int:
    """`_walker.sizes` in pure Python: int64 (9, m) in, int64 (12, m) out, groups returned."""
    a = np.asarray(cols)
    o = np.asarray(out)
    if a.dtype != np.int64 or a.ndim != 2 or a.shape[0] != len(SIZE_INPUTS):
        raise UsageError("sizes: the input is not 9 int64 rows")
    m = a.shape[1]
    if o.dtype != np.int64 or o.size != len(SIZE_COLUMNS) * m:
        raise UsageError("sizes: sizes output has the wrong item size or length")
    chain, pay, frame, seq_end, ttl, ip_len, fam, wire, hdr = a.tolist()
    groups: dict[tuple[int, int], list[int]] = {}
    for i in range(m):
        key = (chain[i], pay[i])
        g = groups.get(key)
        fr, t, ipl, w = frame[i], ttl[i], ip_len[i], wire[i]
        if g is None:
            groups[key] = [key[0], key[1], 1, fr, fr, seq_end[i], t, t,
                           int(ipl == 0 and fam[i] == 4), ipl, w, hdr[i]]  # fmt: skip
            continue
        g[2] += 1
        g[3], g[4] = min(g[3], fr), max(g[4], fr)
        g[6], g[7] = min(g[6], t), max(g[7], t)
        g[8] += ipl == 0 and fam[i] == 4
        g[9], g[10] = max(g[9], ipl), max(g[10], w)
    n = len(groups)
    if n:
        o.reshape(len(SIZE_COLUMNS), m)[:, :n] = np.array(list(groups.values()), np.int64).T
    return n


sizes: Callable[..., int] = _compiled("sizes", sizes_py)
"""The size histogram in use: the compiled one when built, else `sizes_py`."""


# ---- chains: sequence unwrapping, retransmissions, records and jumps of a chunk ----

CHAIN_STATE: tuple[str, ...] = (
    "events", "first_raw", "last_raw", "last_abs", "ack_max", "high", "first_start", "retrans",
    "nrec", "reach", "ev_first_start", "ev_first_frame", "ev_last_frame", "jump_start",
    "jump_gap", "jump_frame", "jump_prev_frame",
)  # fmt: skip
"""Rows of `ChunkChains.state`, in the order of `_walker.c`'s CS_* (one column per chain)."""
SEGMENT_COLUMNS: tuple[str, ...] = (
    "chain", "frame", "ts", "seq_start", "seq_end", "payload", "ack_max",
)  # fmt: skip
"""Rows of `ChunkChains.records` and `.retrans`, in the order of `_walker.c`'s SG_*."""


@dataclass(frozen=True, slots=True)
class ChunkChains:
    """The sequence chains of some TCP rows (chain ``2*conn+dir``, as `ChunkFlows`).

    A chain's *events*, in file order, are the sequence numbers its direction sends
    (rows with payload, SYN or FIN, not RST) and the ack numbers the other direction
    sends (ACK set, not RST). The first event keeps its raw value; each later one is
    the previous value plus the signed 32-bit step between their raw values.

    `state[CHAIN_STATE.index(name), chain]` (`_NONE` where there is no value):
    events (0: none), the first and last raw values and the last unwrapped one, the
    peer's highest ack (`ack_max`), the highest data end (`high`, `_NONE` without
    data), the first data segment's start, the retransmissions (a data segment ending
    at or below the highest end sent before it, except a one-byte keep-alive ending
    exactly there), the new-high records seen (`nrec`), and over the sequence events
    (end = start + payload + SYN + FIN): their reach (highest end), the first one's
    start and frame, the last one's frame, and the last jump (an event starting
    beyond the reach of those before it: start, that reach, its frame and the
    previous event's frame).

    `records` / `retrans`: ``(len(SEGMENT_COLUMNS), n)``, in file order: the new-high
    data segments (only the first `max_records` of each chain, and only those ending
    within `span` of its first data segment's start; none unless `keep_records`) and
    the retransmitted ones, with the peer's highest ack before each (`_NONE`: none)."""

    seg_end: npt.NDArray[np.int64]
    """Per row: the data end (unwrapped sequence + payload) of a data row, else `_NONE`."""
    state: npt.NDArray[np.int64]
    """(len(CHAIN_STATE), 2 * connections)."""
    records: npt.NDArray[np.int64]
    retrans: npt.NDArray[np.int64]


def chunk_chains(
    cols: Mapping[str, npt.NDArray[Any]],
    nconn: int,
    *,
    span: int,
    max_records: int,
    keep_records: bool,
    impl: Callable[..., tuple[int, int]] | None = None,
) -> ChunkChains:
    """Unwrap each direction's sequence numbers and classify its data segments in one pass.

    Args:
        cols: the TCP rows' conn and dir (`ChunkFlows`), tcp_flags, payload, seq, ack,
            frame and ts_ns columns.
        nconn: the number of connections (`len(ChunkFlows.first)`).
        span, max_records, keep_records: which new-high records to keep (see
            `passive.partial`).
        impl: `chains_py` or the compiled `chains` (default: the compiled one when built).
    """
    fn = impl or chains
    m = len(cols["frame"])
    ins = [
        np.ascontiguousarray(cols[name], dtype=dt)
        for name, dt in (
            ("conn", np.int64), ("dir", np.uint8), ("tcp_flags", np.uint16),
            ("payload", np.uint32), ("seq", np.uint32), ("ack", np.uint32),
            ("frame", np.int64), ("ts_ns", np.int64),
        )
    ]  # fmt: skip
    seg_end = np.empty(m, np.int64)
    state = np.empty((len(CHAIN_STATE), 2 * nconn), np.int64)
    recs = np.empty((len(SEGMENT_COLUMNS), m), np.int64)
    retx = np.empty((len(SEGMENT_COLUMNS), m), np.int64)
    nrec, nretx = fn(*ins, nconn, span, max_records, keep_records, seg_end, state, recs, retx)
    return ChunkChains(
        seg_end=seg_end,
        state=state,
        records=recs[:, :nrec].copy(),
        retrans=retx[:, :nretx].copy(),
    )


def _signed_step(to_raw: int, from_raw: int) -> int:
    return ((to_raw - from_raw + (1 << 31)) & ((1 << 32) - 1)) - (1 << 31)


def chains_py(*args: Any) -> tuple[int, int]:
    """`_walker.chains` in pure Python (same arguments, same output arrays, same result).

    Arguments: the 8 input columns of `chunk_chains` in its order, the number of
    connections, span, max_records, keep_records, then the output arrays seg_end (m),
    state (len(CHAIN_STATE), 2 * connections), records and retrans
    (len(SEGMENT_COLUMNS), m). Returns the numbers of records and retransmissions.
    """
    conn, dirs, flags, payload, seq, ack, frame, ts = (
        np.asarray(b).reshape(-1).tolist() for b in args[:8]
    )
    nconn, span, max_records, keep_records = args[8:12]
    seg_end, state, recs, retx = args[12:]
    m = len(conn)
    if nconn < 0:
        raise UsageError("chains: a negative number of connections")
    if any(len(c) != m for c in (dirs, flags, payload, seq, ack, frame, ts)):
        raise UsageError("chains: the input columns differ in length")
    if any(not 0 <= c < nconn for c in conn) or any(d > 1 for d in dirs):
        raise UsageError("chains: a row names no connection of the chunk")
    nch = 2 * nconn
    ix = {name: i for i, name in enumerate(CHAIN_STATE)}
    st = [[_NONE] * nch for _ in CHAIN_STATE]
    st[ix["events"]] = [0] * nch
    st[ix["nrec"]] = [0] * nch
    ends = [_NONE] * m
    out_rec: list[list[int]] = []
    out_retx: list[list[int]] = []

    def event(ch: int, raw: int) -> int:
        if st[0][ch] == 0:
            st[1][ch] = v = raw
        else:
            v = st[3][ch] + _signed_step(raw, st[2][ch])
        st[0][ch] += 1
        st[2][ch], st[3][ch] = raw, v
        return v

    ack_max, high, first_start, retrans, nrec = (st[ix[k]] for k in CHAIN_STATE[4:9])
    reach, ev_start, ev_first, ev_last = (st[ix[k]] for k in CHAIN_STATE[9:13])
    j_start, j_gap, j_frame, j_prev = (st[ix[k]] for k in CHAIN_STATE[13:])
    for i in range(m):
        fl, pay, fr = flags[i], payload[i], frame[i]
        if fl & 4:
            continue
        if pay > 0 or fl & 3:
            ch = 2 * conn[i] + dirs[i]
            start = event(ch, seq[i])
            s_end = start + pay + (fl & 1) + ((fl >> 1) & 1)
            if reach[ch] == _NONE:
                reach[ch], ev_start[ch], ev_first[ch] = s_end, start, fr
            else:
                if start > reach[ch]:
                    j_start[ch], j_gap[ch] = start, reach[ch]
                    j_frame[ch], j_prev[ch] = fr, ev_last[ch]
                reach[ch] = max(reach[ch], s_end)
            ev_last[ch] = fr
            if pay > 0:
                end = start + pay
                if high[ch] == _NONE:
                    is_retx = False
                    high[ch], first_start[ch], retrans[ch] = end, start, 0
                else:
                    prev = high[ch]
                    is_retx = end <= prev and not (pay == 1 and end == prev)
                    high[ch] = max(prev, end)
                ends[i] = end
                row = [ch, fr, ts[i], start, end, pay, ack_max[ch]]
                if is_retx:
                    retrans[ch] += 1
                    out_retx.append(row)
                else:
                    nrec[ch] += 1
                    if nrec[ch] <= max_records and end <= first_start[ch] + span and keep_records:
                        out_rec.append(row)
        if fl & 16:
            ch = 2 * conn[i] + 1 - dirs[i]
            v = event(ch, ack[i])
            if ack_max[ch] == _NONE or v > ack_max[ch]:
                ack_max[ch] = v
    np.asarray(seg_end)[:m] = ends
    if nch:
        np.asarray(state).reshape(len(CHAIN_STATE), nch)[:] = np.array(st, np.int64)
    for rows, out in ((out_rec, recs), (out_retx, retx)):
        if rows:
            np.asarray(out).reshape(len(SEGMENT_COLUMNS), m)[:, : len(rows)] = np.array(
                rows, np.int64
            ).T
    return len(out_rec), len(out_retx)


chains: Callable[..., tuple[int, int]] = _compiled("chains", chains_py)
"""The chain pass in use: the compiled one when built, else `chains_py`."""
