"""capture/walk.py and _walker.c: the record walker, compiled and pure Python.

Hand-built frames check each link layer and tunnel (offsets, family, encap bits,
overhead, status); hypothesis builds random layer stacks, cuts and corrupts
them, and checks the two walkers agree byte for byte and never fail; the corpus
checks the same agreement on real captures.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtuscope.capture import walk as walk_mod
from mtuscope.capture.records import (
    HEADER_BYTES,
    NO_OFFSET,
    RECORD_DTYPE,
    WalkStatus,
    WalkStop,
)
from mtuscope.capture.table import Encap
from mtuscope.capture.walk import HAVE_C, walk_py
from mtuscope.errors import UsageError

CORPUS = Path(os.environ["MTUSCOPE_CORPUS"])

WALKERS: list[Any] = [pytest.param(walk_py, id="python")]
if HAVE_C:
    WALKERS.append(pytest.param(walk_mod.walk, id="c"))

needs_c = pytest.mark.skipif(not HAVE_C, reason="the C walker (_walker.c) is not built")

S4 = bytes([192, 0, 2, 1])
D4 = bytes([198, 51, 100, 2])
S4B = bytes([203, 0, 113, 3])
D4B = bytes([203, 0, 113, 4])
S6 = bytes.fromhex("20010db8000000000000000000000001")
D6 = bytes.fromhex("20010db8000000000000000000000002")

# ---- frame builders (network byte order) ----


def ipv4(proto: int, payload: bytes, *, src: bytes = S4, dst: bytes = D4, frag: int = 0x4000,
         ihl: int = 5) -> bytes:  # fmt: skip
    opts = bytes((ihl - 5) * 4) if ihl > 5 else b""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(payload), 1, frag, 64,
                      proto, 0, src, dst)  # fmt: skip
    return hdr + opts + payload


def ipv6(nh: int, payload: bytes, *, src: bytes = S6, dst: bytes = D6) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, 64, src, dst) + payload


def ext(nh: int, body_len8: int = 0) -> bytes:
    """A generic IPv6 extension header of (body_len8 + 1) * 8 bytes."""
    return bytes([nh, body_len8]) + bytes(6 + 8 * body_len8)


def frag6(nh: int, offset: int, more: bool) -> bytes:
    return struct.pack("!BBHI", nh, 0, (offset << 3) | int(more), 99)


def tcp(sport: int = 40000, dport: int = 443) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02, 65535, 0, 0)


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def eth(et: int, payload: bytes, tags: tuple[int, ...] = ()) -> bytes:
    out = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
    for tpid in tags:
        out += struct.pack("!HH", tpid, 100)
    return out + struct.pack("!H", et) + payload


def gre(proto: int, payload: bytes, *, key: bool = False, seq: bool = False,
        csum: bool = False) -> bytes:  # fmt: skip
    flags = (0x8000 if csum else 0) | (0x2000 if key else 0) | (0x1000 if seq else 0)
    opt = (b"\0\0\0\0" if csum else b"") + (b"\0\0\0\7" if key else b"") + (
        b"\0\0\0\1" if seq else b"")  # fmt: skip
    return struct.pack("!HH", flags, proto) + opt + payload


def mpls(payload: bytes, labels: int = 2) -> bytes:
    out = b""
    for i in range(labels):
        bos = 1 if i == labels - 1 else 0
        out += struct.pack("!I", (1000 + i) << 12 | bos << 8 | 64)
    return out + payload


def vxlan(inner: bytes) -> bytes:
    return b"\x08\0\0\0\0\0\x2a\0" + inner


def geneve(proto: int, inner: bytes, opt_words: int = 0) -> bytes:
    return struct.pack("!BBH", opt_words, 0, proto) + b"\0\0\x2a\0" + bytes(4 * opt_words) + inner


def gtpu(inner: bytes, *, ext_hdrs: int = 0) -> bytes:
    if not ext_hdrs:
        return struct.pack("!BBHI", 0x30, 0xFF, len(inner), 1) + inner
    out = struct.pack("!BBHI", 0x34, 0xFF, 0, 1) + b"\0\0\0\x85"
    for i in range(ext_hdrs):
        nxt = 0x85 if i < ext_hdrs - 1 else 0
        out += bytes([1, 0, 0, nxt])
    return out + inner


def teredo(inner: bytes, *, auth: bool = False, origin: bool = False) -> bytes:
    out = b""
    if auth:
        out += b"\x00\x01\x02\x01" + b"id" + b"a" + bytes(8) + b"\0"
    if origin:
        out += b"\x00\x00" + bytes(6)
    return out + inner


def pppoe(proto: int, payload: bytes, *, compressed: bool = False) -> bytes:
    """A PPPoE session header, then the PPP protocol field: one byte when `compressed`
    (RFC 1661 section 6.5), else two."""
    field = bytes([proto]) if compressed else struct.pack("!H", proto)
    return struct.pack("!BBHH", 0x11, 0, 1, len(payload) + len(field)) + field + payload


def sll(proto: int, payload: bytes, hatype: int = 1) -> bytes:
    return struct.pack("!HHH8sH", 0, hatype, 6, bytes(8), proto) + payload


def sll2(proto: int, payload: bytes) -> bytes:
    return struct.pack("!HHIHBB8s", proto, 0, 2, 1, 0, 6, bytes(8)) + payload


def arcnet(pid: int, payload: bytes) -> bytes:
    """Linux ARCNET (DLT 129): source, destination, offset; RFC 1201 ids add flag + sequence."""
    head = struct.pack("!BBHB", 0x50, 0xBE, 0, pid)
    return head + (b"" if pid in (0xF0, 0xF1) else b"\x00\x01\x66") + payload


SNAP4 = b"\xaa\xaa\x03\x00\x00\x00\x08\x00"
SNAP6 = b"\xaa\xaa\x03\x00\x00\x00\x86\xdd"


def wlan(payload: bytes, *, flags: int = 0x01, qos: bool = False, subtype: int | None = None,
         swap: bool = False, qos_ctl: int = 0, pad: bool = False) -> bytes:  # fmt: skip
    """An IEEE 802.11 data frame: FC, duration, 3 or 4 addresses, sequence, [QoS, [HT]]."""
    fc0 = 0x08 | ((0x8 if qos else 0) if subtype is None else subtype) << 4
    fc = bytes([flags, fc0]) if swap else bytes([fc0, flags])
    hdr = fc + b"\x2c\x00" + bytes(range(18)) + b"\x10\x00"
    if flags & 3 == 3:
        hdr += bytes(6)
    if fc0 & 0x80:
        hdr += struct.pack("<H", qos_ctl) + (b"HTC!" if flags & 0x80 else b"")
    if pad:
        hdr += bytes(-len(hdr) % 4)
    return hdr + payload


def capwap(payload: bytes, *, t: int = 1, wbid: int = 1, hlen: int = 4, flags: int = 0,
           preamble: int = 0) -> bytes:  # fmt: skip
    """A CAPWAP data header (RFC 5415 section 4.3) of `hlen` words, then the payload."""
    w = hlen << 19 | 3 << 14 | wbid << 9 | t << 8 | flags
    return bytes([preamble]) + w.to_bytes(3, "big") + bytes(4 * hlen - 4) + payload


def ayiya(nh: int, payload: bytes, *, opcode: int = 1, idlen: int = 4, siglen: int = 5) -> bytes:
    """AYIYA: 8 bytes, then a 2^idlen-byte identity and a 4*siglen-byte signature."""
    head = bytes([idlen << 4 | 1, siglen << 4 | 2, 0x10 | opcode, nh]) + b"\x4a\xf6\x4c\x05"
    return head + bytes(1 << idlen) + bytes(4 * siglen) + payload


def pcap_record(frame: bytes, caplen: int | None = None) -> bytes:
    cut = frame[: len(frame) if caplen is None else caplen]
    return struct.pack("<IIII", 1700000000, 5, len(cut), len(frame)) + cut


def run(walker: Callable[..., tuple[int, int, int]], lt: int, *frames: bytes,
        caplen: int | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    buf = b"".join(pcap_record(f, caplen) for f in frames)
    rec = np.zeros(len(frames) + 1, dtype=RECORD_DTYPE)
    blk = np.zeros((len(frames) + 1, HEADER_BYTES), dtype=np.uint8)
    n, pos, stop = walker(buf, 0, len(buf), 1000, 0, False, lt, 0, 262144, rec, blk)
    assert (n, pos, stop) == (len(frames), len(buf), WalkStop.END)
    return rec[:n], blk[:n]


def one(walker: Callable[..., tuple[int, int, int]], lt: int, frame: bytes,
        caplen: int | None = None) -> tuple[Any, np.ndarray]:  # fmt: skip
    rec, blk = run(walker, lt, frame, caplen=caplen)
    return rec[0], blk[0]


@pytest.fixture(params=WALKERS)
def walker(request: pytest.FixtureRequest) -> Callable[..., tuple[int, int, int]]:
    return request.param  # type: ignore[no-any-return]


# ---- link layers ----


def test_ethernet_ipv4_tcp(walker: Any) -> None:
    ip = ipv4(6, tcp())
    r, row = one(walker, 1, eth(0x0800, ip))
    assert (r["family"], r["l3_off"], r["l4_off"], r["l4_proto"]) == (4, 14, 20, 6)
    assert (r["status"], r["encap"], r["encap_overhead"], r["hdr_len"]) == (0, 0, 0, len(ip))
    assert bytes(row[: len(ip)]) == ip and not row[len(ip) :].any()
    assert (r["file_off"], r["ts_hi"], r["ts_lo"], r["linktype"]) == (1000, 1700000000, 5, 1)
    assert r["v6frag_off"] == NO_OFFSET


def test_vlan_and_qinq(walker: Any) -> None:
    ip = ipv4(6, tcp())
    r, _ = one(walker, 1, eth(0x8100, b"\x00\x64\x08\x00" + ip))
    assert (r["l3_off"], r["encap"], r["encap_overhead"]) == (18, Encap.VLAN, 4)
    frame = eth(0x88A8, struct.pack("!HHH", 100, 0x8100, 200) + b"\x08\x00" + ip)
    r, _ = one(walker, 1, frame)
    assert (r["l3_off"], r["encap"], r["encap_overhead"]) == (22, Encap.VLAN | Encap.QINQ, 8)


def test_llc_snap_and_plain_llc(walker: Any) -> None:
    ip = ipv4(6, tcp())
    snap = b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + ip
    r, _ = one(walker, 1, eth(len(snap), snap))
    assert (r["family"], r["l3_off"]) == (4, 22)
    r, _ = one(walker, 1, eth(38, b"\x42\x42\x03" + bytes(35)))  # spanning tree
    assert (r["family"], r["status"], r["l3_off"]) == (0, WalkStatus.NOT_IP, NO_OFFSET)


def test_pppoe(walker: Any) -> None:
    r, _ = one(walker, 1, eth(0x8864, pppoe(0x0057, ipv6(6, tcp()))))
    assert (r["family"], r["l3_off"], r["encap"], r["encap_overhead"]) == (6, 22, Encap.PPPOE, 8)
    r, _ = one(walker, 1, eth(0x8864, pppoe(0xC021, bytes(20))))  # LCP
    assert (r["family"], r["status"], r["encap"]) == (0, WalkStatus.NOT_IP, Encap.PPPOE)


def test_pppoe_compressed_protocol_field(walker: Any) -> None:
    # RFC 1661 section 6.5: 0x21 / 0x57 alone are the protocol field (IPv4 / IPv6)
    r, _ = one(walker, 1, eth(0x8864, pppoe(0x21, ipv4(6, tcp()), compressed=True)))
    assert (r["family"], r["l3_off"], r["encap"], r["encap_overhead"]) == (4, 21, Encap.PPPOE, 7)
    assert (r["status"], r["l4_proto"]) == (WalkStatus.OK, 6)
    r, _ = one(walker, 1, eth(0x8864, pppoe(0x57, ipv6(6, tcp()), compressed=True)))
    assert (r["family"], r["l3_off"], r["status"]) == (6, 21, WalkStatus.OK)
    # the compressed field cut by the capture
    r, _ = one(walker, 1, eth(0x8864, pppoe(0x21, b"", compressed=True)), caplen=20)
    assert (r["family"], r["status"]) == (0, WalkStatus.TRUNCATED)


def test_ppp_that_does_not_decode_is_counted(walker: Any) -> None:
    # Van Jacobson compressed TCP/IP (RFC 1144), in PPPoE and on a PPP link: UNDECODED
    for frame, lt in ((eth(0x8864, pppoe(0x2D, bytes(20), compressed=True)), 1),
                      (eth(0x8864, pppoe(0x002F, bytes(40))), 1),
                      (b"\xff\x03\x00\xfd" + bytes(30), 9), (b"\x2d" + bytes(30), 50)):  # fmt: skip
        r, _ = one(walker, lt, frame)
        assert (r["family"], r["status"]) == (0, WalkStatus.UNDECODED), frame.hex()
    # RFC 1661 section 2: a two-byte field whose last byte is even is no protocol
    r, _ = one(walker, 1, eth(0x8864, pppoe(0x0020, ipv4(6, tcp()))))
    assert (r["family"], r["status"]) == (0, WalkStatus.MALFORMED)
    # L2TP carrying compressed PPP: the outer IP stays, the frame is UNDECODED
    l2tp = struct.pack("!HHH", 0x0002, 1, 1) + b"\xff\x03\x2d" + bytes(20)
    r, _ = one(walker, 1, eth(0x0800, ipv4(17, udp(1701, 1701, l2tp))))
    assert (r["family"], r["l3_off"], r["status"]) == (4, 14, WalkStatus.UNDECODED)


def test_mpls(walker: Any) -> None:
    r, _ = one(walker, 1, eth(0x8847, mpls(ipv4(6, tcp()), labels=3)))
    assert (r["family"], r["l3_off"], r["encap"], r["encap_overhead"]) == (4, 26, Encap.MPLS, 12)
    # pseudowire control word, then Ethernet
    inner = eth(0x0800, ipv4(17, udp(1, 2, b"")))
    r, _ = one(walker, 1, eth(0x8847, mpls(b"\0\0\0\0" + inner, labels=1)))
    assert (r["l3_off"], r["encap"]) == (14 + 4 + 4 + 14, Encap.MPLS | Encap.ETHER_INNER)


def test_sll_sll2(walker: Any) -> None:
    r, _ = one(walker, 113, sll(0x0800, ipv4(6, tcp())))
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (4, 16, 0)
    r, _ = one(walker, 113, sll(0x0800, ipv4(6, tcp()), hatype=824))
    assert r["status"] == WalkStatus.NOT_IP
    r, _ = one(walker, 276, sll2(0x86DD, ipv6(6, tcp())))
    assert (r["family"], r["l3_off"]) == (6, 20)


@pytest.mark.parametrize("lt", [12, 14, 101, 228, 229])
def test_raw(walker: Any, lt: int) -> None:
    pkt = ipv6(6, tcp()) if lt == 229 else ipv4(6, tcp())
    r, _ = one(walker, lt, pkt)
    assert (r["family"], r["l3_off"], r["status"]) == (6 if lt == 229 else 4, 0, 0)


def test_raw_version_nibble(walker: Any) -> None:
    r, _ = one(walker, 101, ipv6(6, tcp()))
    assert r["family"] == 6
    r, _ = one(walker, 101, b"\x70" + bytes(30))
    assert (r["family"], r["status"]) == (0, WalkStatus.NOT_IP)
    r, _ = one(walker, 229, ipv4(6, tcp()))  # Wireshark's IPv6 dissector refuses it too
    assert (r["family"], r["status"]) == (0, WalkStatus.MALFORMED)


@pytest.mark.parametrize(
    ("lt", "head", "family"),
    [
        (0, struct.pack("<I", 2), 4),
        (0, struct.pack(">I", 2), 4),
        (0, struct.pack("<I", 30), 6),
        (0, struct.pack(">I", 24), 6),
        (0, struct.pack("<I", 28), 6),
        (108, struct.pack(">I", 2), 4),
        (108, struct.pack(">I", 24), 6),
    ],
)
def test_null_loop(walker: Any, lt: int, head: bytes, family: int) -> None:
    pkt = ipv4(6, tcp()) if family == 4 else ipv6(6, tcp())
    r, _ = one(walker, lt, head + pkt)
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (family, 4, 0)
    other = struct.pack(">I" if lt == 108 else "<I", 7)  # AF 7: not IP
    r, _ = one(walker, lt, other + pkt)
    assert (r["family"], r["status"]) == (0, WalkStatus.NOT_IP)


def test_nflog(walker: Any) -> None:
    pkt = ipv4(6, tcp())
    tlv_prefix = struct.pack("<HH", 8, 1) + b"\0\x08\0\0"  # NFULA_PACKET_HDR
    payload_tlv = struct.pack("<HH", 4 + len(pkt), 9) + pkt
    r, _ = one(walker, 239, b"\x02\x00\x00\x00" + tlv_prefix + payload_tlv)
    assert (r["family"], r["l3_off"]) == (4, 4 + 8 + 4)
    r, _ = one(walker, 239, b"\x02\x00\x00\x00" + struct.pack("<HH", 2, 1) + bytes(8))
    assert r["status"] == WalkStatus.MALFORMED


def test_ppp(walker: Any) -> None:
    r, _ = one(walker, 9, b"\xff\x03\x00\x21" + ipv4(6, tcp()))
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (4, 4, 0)
    r, _ = one(walker, 50, b"\x00\x57" + ipv6(6, tcp()))
    assert (r["family"], r["l3_off"]) == (6, 2)
    r, _ = one(walker, 9, b"\xff\x03\x21" + ipv4(6, tcp()))  # compressed protocol field
    assert (r["family"], r["l3_off"], r["status"]) == (4, 3, WalkStatus.OK)
    r, _ = one(walker, 50, b"\x57" + ipv6(6, tcp()))  # address/control and protocol compressed
    assert (r["family"], r["l3_off"], r["status"]) == (6, 1, WalkStatus.OK)
    # LINKTYPE_PPP_WITH_DIR: a direction byte first
    r, _ = one(walker, 204, b"\x01\xff\x03\x21" + ipv4(6, tcp()))
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (4, 4, 0)
    # LINKTYPE_PPP_ETHER: PPPoE without Ethernet; its 7 or 8 bytes are encapsulation
    r, _ = one(walker, 51, pppoe(0x21, ipv4(6, tcp()), compressed=True))
    assert (r["family"], r["l3_off"], r["encap"], r["encap_overhead"]) == (4, 7, Encap.PPPOE, 7)
    r, _ = one(walker, 51, pppoe(0x57, ipv6(6, tcp())))
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (6, 8, 8)
    padi = bytes.fromhex("1109000000040101") + bytes(20)  # discovery (PADI): no PPP
    r, _ = one(walker, 51, padi)
    assert (r["family"], r["status"]) == (0, WalkStatus.NOT_IP)


def test_ppi_pktap_ipoib(walker: Any) -> None:
    inner = eth(0x8100, b"\x00\x05\x08\x00" + ipv4(6, tcp()))
    ppi = struct.pack("<BBHI", 0, 0, 12, 1) + bytes(4)  # 12-byte PPI header naming DLT 1
    r, row = one(walker, 192, ppi + inner)
    assert (r["family"], r["l3_off"], r["encap_overhead"], r["encap"]) == (4, 12 + 18, 4, 1)
    assert bytes(row[12:20]) == S4 + D4
    pktap = struct.pack("<II", 48, 1) + bytes(40)
    r, _ = one(walker, 258, pktap + inner)
    assert (r["family"], r["l3_off"]) == (4, 48 + 18)
    r, _ = one(walker, 192, struct.pack("<BBHI", 0, 0, 8, 192) + ppi + inner)  # nested: refused
    assert (r["family"], r["status"]) == (0, WalkStatus.MALFORMED)
    r, _ = one(walker, 192, struct.pack("<BBHI", 0, 0, 80, 1) + bytes(10))  # header past the frame
    assert (r["family"], r["status"]) == (0, WalkStatus.TRUNCATED)
    ipoib = bytes(40) + b"\x86\xdd\x00\x00" + ipv6(6, tcp())
    r, _ = one(walker, 242, ipoib)
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (6, 44, 0)


def test_arcnet(walker: Any) -> None:
    r, row = one(walker, 129, arcnet(0xF0, ipv4(6, tcp())))  # RFC 1051
    assert (r["family"], r["l3_off"], r["encap_overhead"], r["status"]) == (4, 5, 0, 0)
    assert bytes(row[12:20]) == S4 + D4
    r, _ = one(walker, 129, arcnet(0xD4, ipv4(6, tcp())))  # RFC 1201: flag and sequence
    assert (r["family"], r["l3_off"], r["encap_overhead"], r["l4_proto"]) == (4, 8, 0, 6)
    r, _ = one(walker, 129, arcnet(0xC4, ipv6(6, tcp())))  # RFC 2497
    assert (r["family"], r["l3_off"]) == (6, 8)
    for pid in (0xF1, 0xD5):  # ARP
        r, _ = one(walker, 129, arcnet(pid, bytes(28)))
        assert (r["family"], r["status"]) == (0, WalkStatus.NOT_IP)
    r, _ = one(walker, 129, arcnet(0xD4, ipv4(6, tcp())), caplen=6)
    assert (r["family"], r["status"]) == (0, WalkStatus.TRUNCATED)


@pytest.mark.parametrize(
    ("kw", "hdr"),
    [
        ({"flags": 0x01}, 24),  # to the DS
        ({"flags": 0x02}, 24),  # from the DS
        ({"flags": 0x03}, 30),  # WDS: a fourth address
        ({"flags": 0x01, "qos": True}, 26),
        ({"flags": 0x03, "qos": True}, 32),
        ({"flags": 0x81, "qos": True}, 30),  # +HTC: HT control after QoS control
        ({"flags": 0x81}, 24),  # Order bit on non-QoS data: no HT control
        ({"flags": 0x01, "subtype": 1}, 24),  # Data + CF-Ack
    ],
)
def test_ieee80211(walker: Any, kw: dict[str, Any], hdr: int) -> None:
    r, row = one(walker, 105, wlan(SNAP4 + ipv4(6, tcp()), **kw))
    assert (r["family"], r["l3_off"], r["encap_overhead"], r["status"]) == (4, hdr + 8, 0, 0)
    assert bytes(row[12:20]) == S4 + D4
    r, _ = one(walker, 105, wlan(SNAP6 + ipv6(6, tcp()), **kw))
    assert (r["family"], r["l3_off"], r["l4_proto"]) == (6, hdr + 8, 6)


@pytest.mark.parametrize(
    ("frame", "status"),
    [
        (wlan(SNAP4 + ipv4(6, tcp()), flags=0x41), WalkStatus.NOT_IP),  # protected
        (wlan(SNAP4 + ipv4(6, tcp()), flags=0x05), WalkStatus.NOT_IP),  # more fragments
        (wlan(SNAP4 + ipv4(6, tcp()), qos=True, qos_ctl=0x80), WalkStatus.NOT_IP),  # A-MSDU
        (wlan(b"", subtype=4), WalkStatus.NOT_IP),  # null function
        (b"\x80\x00" + bytes(40), WalkStatus.NOT_IP),  # beacon
        (b"\x09\x01" + bytes(40), WalkStatus.NOT_IP),  # protocol version 1
        (wlan(b"\xe0\xe0\x03" + bytes(30)), WalkStatus.NOT_IP),  # LLC, not SNAP
        (wlan(SNAP4[:5]), WalkStatus.TRUNCATED),
        (b"\x88", WalkStatus.TRUNCATED),
        (wlan(b"", qos=True)[:24], WalkStatus.TRUNCATED),
    ],
    ids="protected morefrag amsdu null beacon version1 llc cut-snap cut-fc cut-qos".split(),
)
def test_ieee80211_without_ip(walker: Any, frame: bytes, status: int) -> None:
    r, _ = one(walker, 105, frame)
    assert (r["family"], r["status"], r["l3_off"]) == (0, status, NO_OFFSET)


def test_radiotap_and_ppi_80211(walker: Any) -> None:
    data = wlan(SNAP4 + ipv4(6, tcp()), qos=True)
    rt = struct.pack("<BBHI", 0, 0, 8, 0)  # no fields
    r, row = one(walker, 127, rt + data)
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (4, 8 + 26 + 8, 0)
    assert bytes(row[12:20]) == S4 + D4
    # TSFT (8-aligned) and flags with "data pad": the 26-byte QoS header is padded to 28
    rt = struct.pack("<BBHI", 0, 0, 17, 3) + struct.pack("<Q", 7) + b"\x20"
    padded = wlan(SNAP4 + ipv4(6, tcp()), qos=True, pad=True)
    r, _ = one(walker, 127, rt + padded)
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (4, 17 + 28 + 8, 0)
    # a second present word (bit 31) moves the fields on; flags without data pad
    rt = struct.pack("<BBHII", 0, 0, 13, 0x80000002, 0) + b"\x10"
    r, _ = one(walker, 127, rt + data)
    assert (r["family"], r["l3_off"]) == (4, 13 + 26 + 8)
    r, _ = one(walker, 127, struct.pack("<BBHI", 0, 0, 6, 0) + data)
    assert (r["family"], r["status"]) == (0, WalkStatus.MALFORMED)
    r, _ = one(walker, 127, struct.pack("<BBHII", 0, 0, 8, 0x80000000, 0) + data)
    assert (r["family"], r["status"]) == (0, WalkStatus.MALFORMED)  # present words past the header
    ppi = struct.pack("<BBHI", 0, 0, 32, 105) + bytes(24)  # PPI naming DLT 105
    r, row = one(walker, 192, ppi + data)
    assert (r["family"], r["l3_off"], r["encap_overhead"]) == (4, 32 + 26 + 8, 0)
    assert bytes(row[12:20]) == S4 + D4


def test_unknown_linktype_is_a_frame(walker: Any) -> None:
    r, row = one(walker, 147, bytes(60))
    assert (r["status"], r["family"], r["hdr_len"], r["caplen"]) == (2, 0, 0, 60)
    assert not row.any()


# ---- IP ----


def test_ipv4_options_and_bad_ihl(walker: Any) -> None:
    r, _ = one(walker, 101, ipv4(6, tcp(), ihl=7))
    assert (r["l4_off"], r["l4_proto"]) == (28, 6)
    r, _ = one(walker, 101, ipv4(6, tcp(), ihl=4))
    assert (r["family"], r["status"], r["l4_off"]) == (4, WalkStatus.MALFORMED, NO_OFFSET)


def test_ipv4_fragments(walker: Any) -> None:
    r, _ = one(walker, 101, ipv4(6, tcp(), frag=0x2000))  # first fragment
    assert (r["l4_off"], r["l4_proto"]) == (20, 6)
    r, _ = one(walker, 101, ipv4(6, tcp(), frag=0x0010))  # offset 128
    assert (r["l4_off"], r["l4_proto"], r["status"]) == (NO_OFFSET, 6, 0)


def test_ipv6_extension_chain(walker: Any) -> None:
    chain = ext(43) + ext(44, 1) + frag6(6, 0, True) + tcp()  # HBH, routing, fragment
    r, _ = one(walker, 101, ipv6(0, chain))
    assert (r["l4_off"], r["l4_proto"], r["v6frag_off"]) == (40 + 8 + 8 + 16, 6, 40 + 24)
    r, _ = one(walker, 101, ipv6(44, frag6(6, 100, False) + bytes(20)))
    assert (r["l4_off"], r["l4_proto"], r["v6frag_off"]) == (NO_OFFSET, 6, 40)
    ah = bytes([6, 4]) + bytes(22)  # AH: (4 + 2) * 4 = 24 bytes
    r, _ = one(walker, 101, ipv6(51, ah + tcp()))
    assert (r["l4_off"], r["l4_proto"]) == (64, 6)


def test_ipv6_chain_cut(walker: Any) -> None:
    pkt = ipv6(0, ext(60, 3) + tcp())
    r, _ = one(walker, 101, pkt, caplen=50)
    assert (r["family"], r["status"], r["l4_off"], r["l4_proto"]) == (6, 3, NO_OFFSET, 0)
    assert r["hdr_len"] == 50


def test_truncated_ip(walker: Any) -> None:
    r, row = one(walker, 1, eth(0x0800, ipv4(6, tcp())), caplen=24)
    assert (r["family"], r["status"], r["l3_off"], r["hdr_len"]) == (4, 3, 14, 10)
    assert not row[10:].any()
    r, _ = one(walker, 1, eth(0x0800, ipv4(6, tcp())), caplen=14)
    assert (r["family"], r["status"]) == (0, WalkStatus.TRUNCATED)
    r, _ = one(walker, 1, eth(0x0800, b""), caplen=10)
    assert (r["family"], r["status"]) == (0, WalkStatus.TRUNCATED)


def test_version_mismatch(walker: Any) -> None:
    # Wireshark's IPv4 dissector passes a version-6 header on to IPv6
    r, _ = one(walker, 1, eth(0x0800, ipv6(6, tcp())))
    assert (r["family"], r["status"]) == (6, 0)
    r, _ = one(walker, 1, eth(0x86DD, ipv4(6, tcp())))
    assert (r["family"], r["status"]) == (0, WalkStatus.MALFORMED)


# ---- tunnels ----

INNER4 = ipv4(6, tcp(), src=S4B, dst=D4B)
INNER6 = ipv6(6, tcp())


def inner_ok(r: Any, row: np.ndarray, family: int, l3: int, encap: int) -> None:
    assert (r["family"], r["l3_off"], r["status"], r["l4_proto"]) == (family, l3, 0, 6)
    assert r["encap"] == encap
    assert r["encap_overhead"] == l3 - 14
    if family == 4:
        assert bytes(row[12:20]) == S4B + D4B
    else:
        assert bytes(row[8:40]) == S6 + D6


@pytest.mark.parametrize(
    ("outer", "payload", "family", "bit"),
    [
        (4, INNER4, 4, Encap.IPIP),
        (4, INNER6, 6, Encap.SIXIN4),
        (6, INNER4, 4, Encap.FOURIN6),
        (6, INNER6, 6, Encap.SIXIN6),
    ],
)
def test_ip_in_ip(walker: Any, outer: int, payload: bytes, family: int, bit: int) -> None:
    proto = 4 if family == 4 else 41
    frame = eth(0x0800, ipv4(proto, payload)) if outer == 4 else eth(0x86DD, ipv6(proto, payload))
    r, row = one(walker, 1, frame)
    inner_ok(r, row, family, 14 + (20 if outer == 4 else 40), bit)


@pytest.mark.parametrize(("key", "seq", "csum"), [(False, False, False), (True, True, True),
                                                  (True, False, False)])  # fmt: skip
def test_gre(walker: Any, key: bool, seq: bool, csum: bool) -> None:
    g = gre(0x0800, INNER4, key=key, seq=seq, csum=csum)
    r, row = one(walker, 1, eth(0x0800, ipv4(47, g)))
    inner_ok(r, row, 4, 14 + 20 + 4 + 4 * (key + seq + csum), Encap.GRE)
    r, row = one(walker, 1, eth(0x0800, ipv4(47, gre(0x6558, eth(0x86DD, INNER6)))))
    inner_ok(r, row, 6, 14 + 20 + 4 + 14, Encap.GRE | Encap.ETHER_INNER)
    r, row = one(walker, 1, eth(0x0800, ipv4(47, gre(0x8847, mpls(INNER4, 1)))))
    inner_ok(r, row, 4, 14 + 20 + 4 + 4, Encap.GRE | Encap.MPLS)


def test_gre_pptp(walker: Any) -> None:
    ppp = b"\xff\x03\x00\x21" + INNER4
    hdr = struct.pack("!HHHHI", 0x3001, 0x880B, len(ppp), 7, 1)  # K, S, version 1
    r, row = one(walker, 1, eth(0x0800, ipv4(47, hdr + ppp)))
    inner_ok(r, row, 4, 14 + 20 + 12 + 4, Encap.GRE)


def test_gre_unknown_protocol_keeps_outer(walker: Any) -> None:
    r, _ = one(walker, 1, eth(0x0800, ipv4(47, gre(0x88BE, bytes(40)))))
    assert (r["family"], r["l3_off"], r["l4_proto"], r["status"], r["encap"]) == (4, 14, 47, 0, 0)


def test_vxlan_geneve(walker: Any) -> None:
    frame = eth(0x0800, ipv4(17, udp(50000, 4789, vxlan(eth(0x8100, b"\0\x05\x08\x00" + INNER4)))))
    r, row = one(walker, 1, frame)
    inner_ok(r, row, 4, 14 + 20 + 8 + 8 + 18, Encap.VXLAN | Encap.ETHER_INNER | Encap.VLAN)
    frame = eth(0x86DD, ipv6(17, udp(50000, 6081, geneve(0x6558, eth(0x0800, INNER4), 2))))
    r, row = one(walker, 1, frame)
    inner_ok(r, row, 4, 14 + 40 + 8 + 8 + 8 + 14, Encap.GENEVE | Encap.ETHER_INNER)
    frame = eth(0x0800, ipv4(17, udp(50000, 6081, geneve(0x86DD, INNER6))))
    r, row = one(walker, 1, frame)
    inner_ok(r, row, 6, 14 + 20 + 8 + 8, Encap.GENEVE)


def test_gtpu(walker: Any) -> None:
    r, row = one(walker, 1, eth(0x0800, ipv4(17, udp(2152, 2152, gtpu(INNER6)))))
    inner_ok(r, row, 6, 14 + 20 + 8 + 8, Encap.GTPU)
    r, row = one(walker, 1, eth(0x0800, ipv4(17, udp(2152, 2152, gtpu(INNER4, ext_hdrs=2)))))
    inner_ok(r, row, 4, 14 + 20 + 8 + 12 + 8, Encap.GTPU)
    bad = struct.pack("!BBHI", 0x34, 0xFF, 0, 1) + b"\0\0\0\x85" + b"\x00\0\0\0" + INNER4
    r, _ = one(walker, 1, eth(0x0800, ipv4(17, udp(2152, 2152, bad))))
    assert (r["l3_off"], r["status"]) == (14, WalkStatus.MALFORMED)


@pytest.mark.parametrize(("auth", "origin"), [(False, False), (True, False), (False, True),
                                              (True, True)])  # fmt: skip
def test_teredo(walker: Any, auth: bool, origin: bool) -> None:
    t = teredo(INNER6, auth=auth, origin=origin)
    r, row = one(walker, 1, eth(0x0800, ipv4(17, udp(3544, 61000, t))))
    inner_ok(r, row, 6, 14 + 20 + 8 + len(t) - len(INNER6), Encap.TEREDO)


def test_teredo_non_ipv6_payload(walker: Any) -> None:
    r, _ = one(walker, 1, eth(0x0800, ipv4(17, udp(3544, 61000, b"\x45" + bytes(40)))))
    assert (r["l3_off"], r["l4_proto"], r["encap"], r["status"]) == (14, 17, 0, 0)


def test_capwap(walker: Any) -> None:
    # T=1, WBID=1: a native 802.11 frame, frame control bytes swapped (as Wireshark reads them)
    c = capwap(wlan(SNAP4 + INNER4, swap=True), flags=0x20)
    r, row = one(walker, 1, eth(0x0800, ipv4(17, udp(41264, 5247, c))))
    inner_ok(r, row, 4, 14 + 20 + 8 + 16 + 24 + 8, Encap.CAPWAP)
    c = capwap(wlan(SNAP6 + INNER6, flags=0x03, qos=True, swap=True), hlen=2)
    r, row = one(walker, 1, eth(0x86DD, ipv6(17, udp(5247, 60000, c))))
    inner_ok(r, row, 6, 14 + 40 + 8 + 8 + 32 + 8, Encap.CAPWAP)
    # T=0: an IEEE 802.3 frame
    c = capwap(eth(0x8100, b"\0\x05\x08\x00" + INNER4), t=0, wbid=0)
    r, row = one(walker, 1, eth(0x0800, ipv4(17, udp(41264, 5247, c))))
    inner_ok(r, row, 4, 14 + 20 + 8 + 16 + 18, Encap.CAPWAP | Encap.ETHER_INNER | Encap.VLAN)


@pytest.mark.parametrize(
    "payload",
    [
        capwap(wlan(SNAP4 + INNER4, swap=True), flags=0x80),  # a fragment
        capwap(wlan(SNAP4 + INNER4, swap=True), flags=0x08),  # keep-alive
        capwap(wlan(SNAP4 + INNER4, swap=True), preamble=1),  # DTLS
        capwap(wlan(SNAP4 + INNER4, swap=True), wbid=3),  # not IEEE 802.11
        capwap(b"", hlen=1) + wlan(SNAP4 + INNER4, swap=True),  # HLEN below the fixed 8 bytes
        capwap(wlan(SNAP4 + INNER4, flags=0x41, swap=True)),  # protected 802.11 frame
    ],
    ids=["fragment", "keepalive", "dtls", "wbid3", "hlen1", "protected"],
)
def test_capwap_without_inner_ip(walker: Any, payload: bytes) -> None:
    r, _ = one(walker, 1, eth(0x0800, ipv4(17, udp(41264, 5247, payload))))
    assert (r["family"], r["l3_off"], r["l4_proto"], r["status"], r["encap"]) == (4, 14, 17, 0, 0)


def test_capwap_control_port_not_entered(walker: Any) -> None:
    c = capwap(wlan(SNAP4 + INNER4, swap=True))
    r, _ = one(walker, 1, eth(0x0800, ipv4(17, udp(41264, 5246, c))))
    assert (r["l3_off"], r["l4_proto"]) == (14, 17)


def test_ayiya(walker: Any) -> None:
    a = ayiya(41, INNER6)
    r, row = one(walker, 1, eth(0x0800, ipv4(17, udp(53859, 5072, a))))
    inner_ok(r, row, 6, 14 + 20 + 8 + 8 + 16 + 20, Encap.AYIYA)
    a = ayiya(4, INNER4, idlen=0, siglen=0)
    r, row = one(walker, 1, eth(0x86DD, ipv6(17, udp(5072, 53859, a))))
    inner_ok(r, row, 4, 14 + 40 + 8 + 8 + 1, Encap.AYIYA)
    for bad in (ayiya(41, INNER6, opcode=0), ayiya(59, INNER6), ayiya(41, b"")[:20]):
        r, _ = one(walker, 1, eth(0x0800, ipv4(17, udp(53859, 5072, bad))))
        assert (r["family"], r["l3_off"], r["l4_proto"], r["encap"]) == (4, 14, 17, 0)
    r, _ = one(walker, 1, eth(0x0800, ipv4(17, udp(53859, 5072, ayiya(41, b"")[:20]))))
    assert r["status"] == WalkStatus.TRUNCATED


def test_tunnel_inner_cut_keeps_outer(walker: Any) -> None:
    frame = eth(0x0800, ipv4(47, gre(0x0800, INNER4)))
    r, row = one(walker, 1, frame, caplen=14 + 20 + 4 + 10)
    assert (r["family"], r["l3_off"], r["l4_off"], r["l4_proto"]) == (4, 14, 20, 47)
    assert (r["status"], r["encap"], r["hdr_len"]) == (WalkStatus.TRUNCATED, 0, 34)
    assert bytes(row[12:20]) == S4 + D4


def test_icmp_payload_not_entered(walker: Any) -> None:
    icmp = b"\x03\x04\x00\x00\x00\x00\x05\x78" + INNER4
    r, _ = one(walker, 1, eth(0x0800, ipv4(1, icmp)))
    assert (r["l3_off"], r["l4_proto"], r["encap"]) == (14, 1, 0)


def test_depth_limit(walker: Any) -> None:
    pkt = INNER4
    for _ in range(10):
        pkt = ipv4(4, pkt)
    r, _ = one(walker, 101, pkt)
    assert (r["l3_off"], r["status"], r["encap"]) == (7 * 20, 0, Encap.IPIP)


def test_first_fragment_entered_later_not(walker: Any) -> None:
    r, _ = one(walker, 101, ipv6(44, frag6(4, 0, True) + INNER4))
    assert (r["family"], r["l3_off"], r["encap"]) == (4, 48, Encap.FOURIN6)
    r, _ = one(walker, 101, ipv4(4, INNER4, frag=0x0100))
    assert (r["family"], r["l3_off"], r["l4_off"]) == (4, 0, NO_OFFSET)


# ---- record framing ----


def _arrays(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n, dtype=RECORD_DTYPE), np.zeros((n, HEADER_BYTES), dtype=np.uint8)


def test_pcap_stops(walker: Any) -> None:
    frame = eth(0x0800, ipv4(6, tcp()))
    buf = pcap_record(frame) * 3
    rec, blk = _arrays(2)
    assert walker(buf, 0, len(buf), 0, 0, False, 1, 0, 262144, rec, blk) == (
        2, 2 * (16 + len(frame)), WalkStop.FULL)  # fmt: skip
    rec, blk = _arrays(5)
    assert walker(buf, 0, len(buf) - 1, 0, 0, False, 1, 0, 262144, rec, blk) == (
        2, 2 * (16 + len(frame)), WalkStop.END)  # fmt: skip
    bad = buf + struct.pack("<IIII", 0, 0, 300000, 300000)
    rec, blk = _arrays(5)
    assert walker(bad, 0, len(bad), 0, 0, False, 1, 0, 262144, rec, blk) == (
        3, len(buf), WalkStop.CORRUPT)  # fmt: skip
    be = struct.pack(">IIII", 1, 2, len(frame), len(frame)) + frame
    rec, blk = _arrays(5)
    assert walker(be, 0, len(be), 0, 0, True, 1, 0, 262144, rec, blk) == (1, len(be), 0)
    assert (rec[0]["ts_hi"], rec[0]["ts_lo"], rec[0]["family"]) == (1, 2, 4)


def epb(iface: int, frame: bytes, *, be: bool = False, caplen: int | None = None) -> bytes:
    cap = len(frame) if caplen is None else caplen
    pad = frame + bytes(-len(frame) % 4)
    btl = 32 + len(pad)
    e = ">" if be else "<"
    return struct.pack(e + "IIIIIII", 6, btl, iface, 1, 2, cap, len(frame)) + pad + struct.pack(
        e + "I", btl)  # fmt: skip


def test_pcapng_blocks(walker: Any) -> None:
    frame = eth(0x0800, ipv4(6, tcp()))
    lts = np.array([1, 101], dtype=np.uint16)
    spb_body = frame + bytes(-len(frame) % 4)
    spb = struct.pack("<III", 3, 16 + len(spb_body), len(frame)) + spb_body + struct.pack(
        "<I", 16 + len(spb_body))  # fmt: skip
    pb = bytearray(epb(0, frame))
    pb[0:4] = struct.pack("<I", 2)
    pb[8:12] = struct.pack("<HH", 1, 0)  # interface 1 (raw IP) in the 16-bit field
    isb = struct.pack("<II", 5, 12) + struct.pack("<I", 12)
    buf = epb(1, ipv6(6, tcp())) + spb + bytes(pb) + epb(7, frame) + isb
    rec, blk = _arrays(8)
    n, pos, stop = walker(buf, 0, len(buf), 0, 1, False, lts, 3, 262144, rec, blk)
    assert (n, pos, stop) == (4, len(buf) - 12, WalkStop.BLOCK)
    assert rec["iface"][:4].tolist() == [4, 3, 4, 10]
    assert rec["linktype"][:4].tolist() == [101, 1, 101, 0xFFFF]
    assert rec["family"][:4].tolist() == [6, 4, 0, 0]
    assert rec["status"][:4].tolist() == [0, 0, WalkStatus.NOT_IP, WalkStatus.MALFORMED]
    assert rec["ts_hi"][0] == 1 and rec["ts_lo"][0] == 2


@pytest.mark.parametrize("kind", ["short", "odd", "trailer", "caplen", "huge"])
def test_pcapng_corrupt(walker: Any, kind: str) -> None:
    good = epb(0, eth(0x0800, ipv4(6, tcp())))
    bad = bytearray(good)
    if kind == "short":
        bad[4:8] = struct.pack("<I", 8)
    elif kind == "odd":
        bad[4:8] = struct.pack("<I", len(good) - 2)
    elif kind == "trailer":
        bad[-4:] = struct.pack("<I", 12)
    elif kind == "caplen":
        bad[20:24] = struct.pack("<I", len(good))
    else:
        bad[4:8] = struct.pack("<I", 0x7FFFFFF0)
    buf = good + bytes(bad)
    rec, blk = _arrays(4)
    lts = np.array([1], dtype=np.uint16)
    assert walker(buf, 0, len(buf), 0, 1, False, lts, 0, 262144, rec, blk) == (
        1, len(good), WalkStop.CORRUPT)  # fmt: skip


def test_argument_checks(walker: Any) -> None:
    rec, blk = _arrays(1)
    with pytest.raises(UsageError, match="pos <= end"):
        walker(b"abc", 2, 5, 0, 0, False, 1, 0, 100, rec, blk)
    with pytest.raises(UsageError, match="pcapng needs"):
        walker(b"abc", 0, 3, 0, 1, False, 1, 0, 100, rec, blk)
    with pytest.raises(UsageError, match="pcap needs"):
        walker(b"abc", 0, 3, 0, 0, False, np.zeros(1, np.uint16), 0, 100, rec, blk)
    with pytest.raises(UsageError, match="fmt must be"):
        walker(b"abc", 0, 3, 0, 2, False, 1, 0, 100, rec, blk)
    with pytest.raises(UsageError, match="link type out of range"):
        walker(b"abc", 0, 3, 0, 0, False, 70000, 0, 100, rec, blk)


# ---- C == Python ----


def _both(buf: bytes, fmt: int, be: bool, lts: Any, cap: int = 64) -> tuple[Any, Any]:
    outs = []
    for fn in (walk_mod.walk, walk_py):
        rec, blk = _arrays(cap)
        rec.view(np.uint8)[:] = 0xA5  # rows past n must stay untouched by both
        blk[:] = 0x5A
        res = fn(buf, 0, len(buf), 77, fmt, be, lts, 2, 4096, rec, blk)
        outs.append((res, rec.tobytes(), blk.tobytes()))
    return outs[0], outs[1]


LAYERS = ["vlan", "qinq", "pppoe", "pppoe1", "mpls", "ipip", "6in4", "4in6", "gre", "gre_eth",
          "vxlan", "geneve", "gtpu", "teredo", "ext6", "frag6", "l2tp", "greudp", "capwap",
          "capwap_eth", "ayiya"]  # fmt: skip


_NEED_IP = {"pppoe", "pppoe1", "mpls", "ipip", "6in4", "4in6", "ext6", "frag6", "gtpu", "l2tp",
            "ayiya"}  # fmt: skip


def _stack(layers: list[str], v6: bool) -> bytes:
    """Ethernet frame: layers from the outside in, then IP/TCP."""
    return _stack_valid(layers, v6)[0]


def _stack_valid(layers: list[str], v6: bool) -> tuple[bytes, bool]:
    """The frame, and whether every layer carries what it says (so the walk must reach TCP)."""
    pkt = INNER6 if v6 else INNER4
    et = 0x86DD if v6 else 0x0800
    valid = True
    for layer in reversed(layers):
        fam_et = et
        if (layer in _NEED_IP and et not in (0x0800, 0x86DD)) or (
            layer == "teredo" and et != 0x86DD
        ):
            valid = False
        if layer in ("vlan", "qinq"):
            pkt = struct.pack("!HH", 100, et) + pkt
            et = 0x8100 if layer == "vlan" else 0x88A8
            continue
        if layer in ("pppoe", "pppoe1"):
            pp = 0x57 if et == 0x86DD else 0x21
            pkt, et = pppoe(pp, pkt, compressed=layer == "pppoe1"), 0x8864
            continue
        if layer == "mpls":
            pkt, et = mpls(pkt), 0x8847
            continue
        proto = {0x0800: 4, 0x86DD: 41}.get(fam_et, 4)
        if layer in ("ipip", "6in4"):
            pkt, et = ipv4(proto, pkt), 0x0800
        elif layer == "4in6":
            pkt, et = ipv6(proto, pkt), 0x86DD
        elif layer == "ext6":
            pkt, et = ipv6(0, ext(proto) + pkt), 0x86DD
        elif layer == "frag6":
            pkt, et = ipv6(44, frag6(proto, 0, True) + pkt), 0x86DD
        elif layer == "gre":
            pkt, et = ipv4(47, gre(fam_et, pkt, key=True)), 0x0800
        elif layer == "gre_eth":
            pkt, et = ipv6(47, gre(0x6558, eth(fam_et, pkt))), 0x86DD
        elif layer == "vxlan":
            pkt, et = ipv4(17, udp(40000, 4789, vxlan(eth(fam_et, pkt)))), 0x0800
        elif layer == "geneve":
            pkt, et = ipv6(17, udp(40000, 6081, geneve(fam_et, pkt, 1))), 0x86DD
        elif layer == "gtpu":
            pkt, et = ipv4(17, udp(2152, 2152, gtpu(pkt, ext_hdrs=1))), 0x0800
        elif layer == "teredo":
            pkt, et = ipv4(17, udp(3544, 40000, teredo(pkt, origin=True))), 0x0800
        elif layer == "l2tp":
            ppp = b"\xff\x03" + struct.pack("!H", 0x57 if fam_et == 0x86DD else 0x21) + pkt
            pkt, et = ipv4(17, udp(1701, 1701, struct.pack("!HHH", 0x0002, 1, 1) + ppp)), 0x0800
        elif layer == "greudp":
            pkt, et = ipv4(17, udp(50000, 4754, gre(fam_et, pkt))), 0x0800
        elif layer == "capwap":
            snap = b"\xaa\xaa\x03\0\0\0" + struct.pack("!H", fam_et)
            c = capwap(wlan(snap + pkt, qos=True, swap=True), flags=0x20)
            pkt, et = ipv4(17, udp(40000, 5247, c)), 0x0800
        elif layer == "capwap_eth":
            pkt, et = ipv6(17, udp(5247, 40000, capwap(eth(fam_et, pkt), t=0))), 0x86DD
        elif layer == "ayiya":
            pkt, et = ipv4(17, udp(40000, 5072, ayiya(proto, pkt))), 0x0800
    return eth(et, pkt), valid


@settings(max_examples=150, deadline=None)
@given(layers=st.lists(st.sampled_from(LAYERS), max_size=5), v6=st.booleans())
def test_layer_stacks_reach_the_inner_header(layers: list[str], v6: bool) -> None:
    frame, valid = _stack_valid(layers, v6)
    inner = INNER6 if v6 else INNER4
    for fn in [walk_py] + ([walk_mod.walk] if HAVE_C else []):
        r, row = one(fn, 1, frame)
        if valid:
            assert (r["family"], r["status"], r["l4_proto"]) == (6 if v6 else 4, 0, 6), layers
            assert r["l3_off"] == len(frame) - len(inner)
            assert bytes(row[: r["hdr_len"]]) == inner[: r["hdr_len"]]


frames_st = st.builds(
    lambda layers, v6, cut, flips: (_stack(layers, v6), cut, flips),
    st.lists(st.sampled_from(LAYERS), max_size=5),
    st.booleans(),
    st.integers(min_value=0, max_value=400),
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
)


def _mutate(frame: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    b = bytearray(frame)
    for i, v in flips:
        if i < len(b):
            b[i] = v
    return bytes(b[: max(cut, 0)]) if cut < len(b) else bytes(b)


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(frames_st, min_size=1, max_size=6),
       lt=st.sampled_from([1, 1, 1, 113, 276, 101, 0, 108, 239, 9, 104, 228, 229, 192, 258,
                           242, 105, 127, 129, 51, 204]))  # fmt: skip
def test_c_equals_python_on_layer_stacks(frames: list[tuple[bytes, int, Any]], lt: int) -> None:
    buf = b""
    for frame, cut, flips in frames:
        f = _mutate(frame, cut, flips)
        if lt in (105, 127):
            f = wlan(b"\xaa\xaa\x03\0\0\0" + f[12:], flags=0x83, qos=True)
            if lt == 127:
                f = struct.pack("<BBHIQB", 0, 0, 17, 3, 1, 0x20 if cut & 1 else 0) + f
        elif lt == 129:
            f = arcnet(0xD4 if cut & 1 else 0xF0, f[14:])
        elif lt == 113:
            f = sll(0x0800, f[14:])
        elif lt != 1:
            f = f[14:] if lt not in (0, 108, 239, 9, 104, 276) else bytes(4) + f[14:]
        buf += struct.pack("<IIII", 1, 2, len(f), len(f) + 3) + f
    c, p = _both(buf, 0, False, lt)
    assert c == p
    assert c[0][0] == len(frames)


@needs_c
@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600), fmt=st.sampled_from([0, 1]), be=st.booleans(),
       lt=st.sampled_from([0, 1, 9, 12, 101, 104, 108, 113, 239, 276, 228, 229, 147, 192, 258,
                           242, 105, 127, 129, 50, 51, 204]))  # fmt: skip
def test_c_equals_python_on_random_bytes(data: bytes, fmt: int, be: bool, lt: int) -> None:
    lts: Any = lt if fmt == 0 else np.array([lt, 1, 113], dtype=np.uint16)
    c, p = _both(data, fmt, be, lts)
    assert c == p


@needs_c
@settings(max_examples=200, deadline=None)
@given(body=st.binary(min_size=0, max_size=300),
       lt=st.sampled_from([1, 101, 113, 276, 0, 239, 192, 258, 242, 105, 127, 129]),
       caplen=st.integers(0, 400), be=st.booleans())  # fmt: skip
def test_c_equals_python_on_random_frames(body: bytes, lt: int, caplen: int, be: bool) -> None:
    # a well-framed record whose content is random: exercises the link/IP walk
    e = ">" if be else "<"
    head = {1: eth(0x0800, b""), 113: sll(0x0800, b""), 276: sll2(0x0800, b""),
            105: wlan(SNAP4), 127: struct.pack("<BBHI", 0, 0, 8, 0) + wlan(SNAP4, qos=True),
            129: arcnet(0xD4, b"")}.get(lt, b"")  # fmt: skip
    frame = head + body
    buf = struct.pack(e + "IIII", 0, 0, min(caplen, len(frame)), len(frame)) + frame[:caplen]
    c, p = _both(buf, 0, be, lt)
    assert c == p


def _corpus_files() -> list[Path]:
    if not (CORPUS / "pcaps").is_dir():
        return []
    return sorted(p for p in (CORPUS / "pcaps").rglob("*") if p.is_file())


@needs_c
@pytest.mark.skipif(not (CORPUS / "pcaps").is_dir(), reason=f"corpus not found at {CORPUS}")
def test_c_equals_python_on_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    from mtuscope.capture import reader
    from mtuscope.errors import CaptureError

    def read_all(path: Path, fn: Any) -> list[Any]:
        monkeypatch.setattr(reader, "walk", fn)
        out: list[Any] = []
        it = reader.iter_chunks(str(path), capacity=500)
        try:
            out.extend((c.records.tobytes(), c.block.tobytes(), c.first_frame) for c in it)
        except CaptureError as exc:
            out.append(str(exc))
        out.append(it.info.warnings)
        return out

    files = _corpus_files()
    assert len(files) > 300
    differ = [p.name for p in files if read_all(p, walk_mod.walk) != read_all(p, walk_py)]
    assert differ == []


# ---- the innermost IP header against tshark ----

TSHARK_FILES = [
    "libpcap/libpcap__arcnet-rfc1051-arp-icmp-http.pcap",
    "libpcap/libpcap__arcnet-rfc1201-arp-icmp-http.pcap",
    "tcpdump/tcpdump__arcnet-rfc1201-arp-icmp-http.pcap",
    "libpcap/libpcap__http_PPI.pcap",
    "ndpi/ndpi__someip_sd_sample.pcap",
    "ndpi/ndpi__capwap_data.pcapng",
    "zeek/zeek__tunnels__ayiya3.pcap",
    "libpcap/libpcap__geneve.pcap",
    "ndpi/ndpi__6in4tunnel.pcap",
    "tcpdump/tcpdump__gso-ipv6-vxlan-ipv4.pcap",
]


def _tshark_innermost(path: Path) -> dict[int, tuple[int, str]]:
    """frame -> (family, source) of the last IP header before any ICMP payload, per tshark."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", "ip.defragment:FALSE", "-o",
           "ipv6.defragment:FALSE", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
           "-e", "frame.number", "-e", "frame.protocols", "-e", "ip.src",
           "-e", "ipv6.src"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    found: dict[int, tuple[int, str]] = {}
    for line in out.splitlines():
        num, protos, v4, v6 = (line.split("\t") + ["", "", ""])[:4]
        n4 = n6 = last = 0
        for proto in protos.split(":"):
            if proto in ("icmp", "icmpv6"):
                break
            if proto == "ip":
                n4, last = n4 + 1, 4
            elif proto == "ipv6":
                n6, last = n6 + 1, 6
        if last == 4:
            found[int(num)] = (4, v4.split(",")[n4 - 1])
        elif last == 6:
            found[int(num)] = (6, v6.split(",")[n6 - 1])
    return found


def _our_innermost(path: Path) -> dict[int, tuple[int, str]]:
    from mtuscope.capture import reader

    found: dict[int, tuple[int, str]] = {}
    for ch in reader.iter_chunks(str(path), capacity=500):
        for i, (r, row) in enumerate(zip(ch.records, ch.block, strict=True)):
            fam, hl = int(r["family"]), int(r["hdr_len"])
            if fam == 4 and hl >= 16:
                found[ch.first_frame + i] = (4, str(ipaddress.IPv4Address(bytes(row[12:16]))))
            elif fam == 6 and hl >= 24:
                found[ch.first_frame + i] = (6, str(ipaddress.IPv6Address(bytes(row[8:24]))))
    return found


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", TSHARK_FILES)
def test_innermost_ip_agrees_with_tshark(name: str) -> None:
    path = CORPUS / "pcaps" / name
    if not path.is_file():
        pytest.skip(f"corpus file not found: {path}")
    theirs = _tshark_innermost(path)
    assert theirs, "tshark finds no IP at all: a useless test file"
    assert _our_innermost(path) == theirs
