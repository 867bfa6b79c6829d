"""capture/formats.py: pcap/pcapng headers, blocks, options and timestamp conversion."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from mtuscope.capture import formats
from mtuscope.capture.formats import Interface
from mtuscope.capture.records import FileFormat
from mtuscope.errors import CaptureError
from mtuscope.wire.enums import LinkType


def pcap_header(magic: int = 0xA1B2C3D4, *, be: bool = False, version: tuple[int, int] = (2, 4),
                snaplen: int = 65535, ltfield: int = 1) -> bytes:  # fmt: skip
    e = ">" if be else "<"
    return struct.pack(e + "IHHiIII", magic, *version, 0, 0, snaplen, ltfield)


@pytest.mark.parametrize(
    ("magic", "be", "ns"),
    [(0xA1B2C3D4, False, False), (0xA1B2C3D4, True, False), (0xA1B23C4D, False, True),
     (0xA1B23C4D, True, True)],
)  # fmt: skip
def test_pcap_header_magics(magic: int, be: bool, ns: bool) -> None:
    hdr = formats.parse_pcap_header(pcap_header(magic, be=be, snaplen=1500, ltfield=113))
    assert (hdr.big_endian, hdr.nanosecond, hdr.snaplen, hdr.linktype) == (be, ns, 1500, 113)
    assert hdr.linktype is LinkType.LINUX_SLL
    assert hdr.version == (2, 4) and hdr.fcs_len == 0
    assert formats.sniff_format(pcap_header(magic, be=be)) is FileFormat.PCAP


def test_pcap_header_fcs_bits() -> None:
    # F bit (26) set, FCS length 2 (in 16-bit units: 4 bytes) in bits 28-31
    hdr = formats.parse_pcap_header(pcap_header(ltfield=(2 << 28) | (1 << 26) | 1))
    assert (hdr.linktype, hdr.fcs_len) == (1, 4)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (pcap_header()[:20], "ends inside"),
        (b"\x00\x00\x00\x00" + bytes(20), "not a pcap file"),
        (pcap_header(version=(1, 4)), "unsupported pcap version 1.4"),
        (pcap_header(ltfield=0x00300001), "reserved bits"),
    ],
)
def test_pcap_header_errors(data: bytes, text: str) -> None:
    with pytest.raises(CaptureError, match=text):
        formats.parse_pcap_header(data)


def test_sniff_format() -> None:
    assert formats.sniff_format(b"\x0a\x0d\x0d\x0a") is FileFormat.PCAPNG
    assert formats.sniff_format(b"\x1f\x8b\x08\x00") is None
    assert formats.sniff_format(b"") is None


def options(be: bool, *opts: tuple[int, bytes]) -> bytes:
    e = ">" if be else "<"
    out = b""
    for code, value in opts:
        out += struct.pack(e + "HH", code, len(value)) + value + bytes(-len(value) % 4)
    return out + struct.pack(e + "HH", 0, 0)


def shb(be: bool = False, version: tuple[int, int] = (1, 0), opts: bytes = b"") -> bytes:
    e = ">" if be else "<"
    btl = 28 + len(opts)
    return (
        struct.pack(e + "IIIHHq", 0x0A0D0D0A, btl, 0x1A2B3C4D, *version, -1)
        + opts
        + struct.pack(e + "I", btl)
    )


def idb(linktype: int, be: bool = False, snaplen: int = 0, opts: bytes = b"") -> bytes:
    e = ">" if be else "<"
    btl = 20 + len(opts)
    return struct.pack(e + "IIHHI", 1, btl, linktype, 0, snaplen) + opts + struct.pack(e + "I", btl)


@pytest.mark.parametrize("be", [False, True])
def test_shb(be: bool) -> None:
    block = shb(be, opts=options(be, (4, b"mtuscope test")))
    assert formats.shb_byte_order(block) is be
    sec = formats.parse_shb(block)
    assert (sec.big_endian, sec.version, sec.block_len) == (be, (1, 0), len(block))


@pytest.mark.parametrize(
    ("block", "text"),
    [
        (shb(version=(1, 1)), "unsupported pcapng version 1.1"),
        (shb(version=(2, 0)), "unsupported pcapng version 2.0"),
        (shb()[:8] + b"\x11\x22\x33\x44" + shb()[12:], "byte-order magic"),
        (shb()[:-4] + struct.pack("<I", 32), "trailing"),
        (shb(opts=struct.pack("<HH", 4, 200) + bytes(4)), "runs past"),
    ],
)
def test_shb_errors(block: bytes, text: str) -> None:
    with pytest.raises(CaptureError, match=text):
        formats.parse_shb(block)


def test_shb_version_1_2_accepted() -> None:
    assert formats.parse_shb(shb(version=(1, 2))).version == (1, 2)


@pytest.mark.parametrize("be", [False, True])
def test_idb_options(be: bool) -> None:
    e = ">" if be else "<"
    opts = options(be, (2, b"eth0"), (9, b"\x09"), (14, struct.pack(e + "q", -5)), (13, b"\x04"))
    itf = formats.parse_idb(idb(113, be, 262144, opts), be)
    assert itf == Interface(linktype=LinkType.LINUX_SLL, snaplen=262144, ts_base=10, ts_exp=9,
                            ts_offset=-5, fcs_len=4)  # fmt: skip
    assert itf.linktype is LinkType.LINUX_SLL
    itf = formats.parse_idb(idb(1, be, opts=options(be, (9, b"\x94"))), be)
    assert (itf.ts_base, itf.ts_exp) == (2, 20)
    assert formats.parse_idb(idb(1, be), be) == Interface(linktype=LinkType.ETHERNET, snaplen=0)


def test_idb_bad_length() -> None:
    block = bytearray(idb(1))
    block[4:8] = struct.pack("<I", 18)
    with pytest.raises(CaptureError, match="impossible length"):
        formats.parse_idb(bytes(block), False)


def test_parse_other() -> None:
    formats.parse_other(struct.pack("<III", 5, 12, 12), False)
    with pytest.raises(CaptureError, match="trailing"):
        formats.parse_other(struct.pack("<III", 5, 12, 16), False)


def test_iter_options_stops_at_end_marker() -> None:
    body = options(False, (1, b"abc"), (2, b"")) + b"garbage"
    assert list(formats.iter_options(body, False)) == [(1, b"abc"), (2, b"")]


def test_ts_pcap() -> None:
    hi = np.array([1, 1700000000], dtype=np.uint32)
    lo = np.array([999999, 5], dtype=np.uint32)
    assert formats.ts_ns_pcap(hi, lo, False).tolist() == [1_999_999_000, 1_700_000_000_000_005_000]
    assert formats.ts_ns_pcap(hi, lo, True).tolist() == [1_000_999_999, 1_700_000_000_000_000_005]


def test_ts_pcapng_resolutions() -> None:
    t_us = 1_700_000_000_123_456  # µs since the epoch
    t_ns = t_us * 1000 + 789
    t_2_30 = (1_700_000_000 << 30) + (1 << 29)  # 2^-30 s units: x.5 s
    t_ps = 1_234_567_890_123_456_789  # 10^-12 s units (about 14 days)
    raw = np.array([t_us, t_ns, t_2_30, t_ps, t_us], dtype=np.uint64)
    hi = (raw >> np.uint64(32)).astype(np.uint32)
    lo = (raw & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    ifaces = [
        Interface(linktype=LinkType.ETHERNET, snaplen=0),
        Interface(linktype=LinkType.ETHERNET, snaplen=0, ts_exp=9),
        Interface(linktype=LinkType.ETHERNET, snaplen=0, ts_base=2, ts_exp=30, ts_offset=10),
        Interface(linktype=LinkType.ETHERNET, snaplen=0, ts_exp=12),
    ]
    iface = np.array([0, 1, 2, 3, 9], dtype=np.uint16)
    ns = formats.ts_ns_pcapng(hi, lo, iface, ifaces)
    assert ns.tolist() == [
        t_us * 1000,
        t_ns,
        (1_700_000_000 + 10) * 10**9 + 500_000_000,
        t_ps // 1000,
        t_us * 1000,  # unknown interface: default µs
    ]
