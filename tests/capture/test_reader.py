"""capture/reader.py and source.py: files, gzip, stdin, chunks, errors and warnings.

Also the corpus: the packet count of every capture against MANIFEST.tsv
(tshark's count), and the innermost IP header of every frame against tshark on
captures covering each link type and tunnel.
"""

from __future__ import annotations

import csv
import gzip
import ipaddress
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtuscope.capture.reader import CaptureInfo, iter_chunks
from mtuscope.capture.records import FileFormat, WalkStatus
from mtuscope.capture.table import Encap
from mtuscope.errors import CaptureError, UsageError

CORPUS = Path(os.environ["MTUSCOPE_CORPUS"])
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"corpus not found at {CORPUS}"
)

# ---- small capture builders ----

S4 = bytes([192, 0, 2, 1])
D4 = bytes([198, 51, 100, 2])


def frame(i: int = 0) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 40000 + i, 443, i, 0, 0x50, 0x02, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, i, 0x4000, 64, 6, 0, S4, D4) + tcp
    return b"\x02" * 12 + b"\x08\x00" + ip


def pcap(frames: list[bytes], *, be: bool = False, ns: bool = False, linktype: int = 1) -> bytes:
    e = ">" if be else "<"
    out = struct.pack(e + "IHHiIII", 0xA1B23C4D if ns else 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                      linktype)  # fmt: skip
    for i, f in enumerate(frames):
        out += struct.pack(e + "IIII", 1700000000 + i, 7, len(f), len(f)) + f
    return out


def block(btype: int, body: bytes, be: bool = False) -> bytes:
    e = ">" if be else "<"
    body += bytes(-len(body) % 4)
    return (
        struct.pack(e + "II", btype, 12 + len(body)) + body + struct.pack(e + "I", 12 + len(body))
    )


def shb(be: bool = False, version: tuple[int, int] = (1, 0)) -> bytes:
    e = ">" if be else "<"
    return block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, *version, -1), be)


def idb(linktype: int, be: bool = False, tsresol: int | None = None) -> bytes:
    e = ">" if be else "<"
    opts = b""
    if tsresol is not None:
        opts = struct.pack(e + "HHB3x", 9, 1, tsresol) + struct.pack(e + "HH", 0, 0)
    return block(1, struct.pack(e + "HHI", linktype, 0, 0) + opts, be)


def epb(iface: int, f: bytes, ts: int, be: bool = False) -> bytes:
    e = ">" if be else "<"
    return block(
        6, struct.pack(e + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f, be
    )


def read(path: Path | str, **kw: Any) -> tuple[list[Any], CaptureInfo]:
    it = iter_chunks(str(path), **kw)
    chunks = list(it)
    return chunks, it.info


def rows(chunks: list[Any]) -> np.ndarray:
    return np.concatenate([c.records for c in chunks]) if chunks else np.zeros(0)


# ---- pcap ----


@pytest.mark.parametrize(("be", "ns"), [(False, False), (True, False), (False, True), (True, True)])
def test_pcap_byte_orders_and_timestamps(tmp_path: Path, be: bool, ns: bool) -> None:
    p = tmp_path / "a.pcap"
    p.write_bytes(pcap([frame(0), frame(1)], be=be, ns=ns))
    chunks, info = read(p)
    assert len(chunks) == 1 and chunks[0].first_frame == 1
    c = chunks[0]
    assert c.records["family"].tolist() == [4, 4]
    assert c.records["file_off"].tolist() == [24, 24 + 16 + 54]
    sub = 7 if ns else 7000
    assert c.ts_ns.tolist() == [1700000000 * 10**9 + sub, 1700000001 * 10**9 + sub]
    assert (info.file_format, info.big_endian, info.nanosecond) == (FileFormat.PCAP, be, ns)
    snaplens = tuple(i.snaplen for i in info.interfaces)
    assert (info.packets, info.linktypes, snaplens, info.warnings) == (2, (1,), (65535,), ())
    assert info.bytes_read == p.stat().st_size


def test_chunks_and_frame_numbers(tmp_path: Path) -> None:
    p = tmp_path / "a.pcap"
    p.write_bytes(pcap([frame(i) for i in range(10)]))
    chunks, info = read(p, capacity=3)
    assert [c.first_frame for c in chunks] == [1, 4, 7, 10]
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    # chunks that are held keep their data (arrays are reused only when dropped)
    seq = np.concatenate([c.block[:, 4:6] for c in chunks])  # IPv4 identification
    assert [int.from_bytes(bytes(x), "big") for x in seq] == list(range(10))
    assert info.packets == 10


def test_capacity_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        iter_chunks(str(tmp_path / "x"), capacity=0)


@pytest.mark.parametrize(
    ("data", "text", "offset"),
    [
        (b"", "empty file", 0),
        (b"\x00\x01\x02\x03" + bytes(40), "not a pcap or pcapng file", 0),
        (b"GIF89a", "not a pcap or pcapng file", 0),
        (pcap([])[:10], "ends inside the 24-byte pcap file header", 10),
        (pcap([]) + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 60) + bytes(60),
         "captured length 2147483647 exceeds the maximum 262144", 24),
    ],
)  # fmt: skip
def test_pcap_errors(tmp_path: Path, data: bytes, text: str, offset: int) -> None:
    p = tmp_path / "bad.pcap"
    p.write_bytes(data)
    with pytest.raises(CaptureError, match=text) as exc:
        read(p)
    assert exc.value.path == str(p) and exc.value.offset == offset
    assert "\n" not in str(exc.value) and str(p) in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot open"):
        read(tmp_path / "nope.pcap")


def test_corrupt_record_after_good_ones_warns(tmp_path: Path) -> None:
    p = tmp_path / "c.pcap"
    good = pcap([frame(0), frame(1)])
    p.write_bytes(good + struct.pack("<IIII", 0, 0, 999999, 60) + bytes(60))
    chunks, info = read(p)
    assert sum(len(c) for c in chunks) == 2 and info.packets == 2
    (w,) = info.warnings
    assert w.startswith(f"{p}: offset {len(good)}, frame 3: corrupt record")


def test_truncated_last_record_warns(tmp_path: Path) -> None:
    p = tmp_path / "t.pcap"
    data = pcap([frame(0), frame(1)])
    p.write_bytes(data[:-10])
    chunks, info = read(p)
    assert info.packets == 1
    (w,) = info.warnings
    assert f"offset {24 + 16 + 54}, frame 2: file ends inside a packet record" in w


def test_header_only_pcap_is_empty_capture(tmp_path: Path) -> None:
    p = tmp_path / "h.pcap"
    p.write_bytes(pcap([]))
    chunks, info = read(p)
    assert chunks == [] and info.packets == 0 and info.warnings == ()


# ---- pcapng ----


def test_pcapng_sections_interfaces_and_resolutions(tmp_path: Path) -> None:
    raw = b"\x60\x00\x00\x00\x00\x14\x06\x40" + bytes(32) + bytes(20)  # IPv6 + 20 bytes
    custom = block(0xBAD, struct.pack("<I", 32473) + b"mtuscope")
    isb = block(5, bytes(8))
    data = (
        shb()
        + idb(1)
        + idb(101, tsresol=9)
        + epb(0, frame(0), 1_700_000_000_000_000)
        + custom
        + epb(1, raw, 1_700_000_000_000_000_123)
        + isb
        + shb(be=True)
        + idb(113, be=True, tsresol=0x80 | 10)
        + epb(0, b"\0\0\0\1\0\6" + bytes(8) + b"\x08\x00" + frame(1)[14:], 3 << 10, be=True)
    )
    p = tmp_path / "m.pcapng"
    p.write_bytes(data)
    chunks, info = read(p)
    rec = rows(chunks)
    ts = np.concatenate([c.ts_ns for c in chunks])
    assert rec["iface"].tolist() == [0, 0xFFFF, 1, 2]
    assert rec["linktype"].tolist() == [1, 0xFFFF, 101, 113]
    assert rec["family"].tolist() == [4, 0, 6, 4]
    assert rec["status"].tolist() == [0, WalkStatus.UNKNOWN_LINKTYPE, 0, 0]
    assert ts.tolist() == [1_700_000_000_000_000_000, 0, 1_700_000_000_000_000_123, 3 * 10**9]
    assert [c.first_frame for c in chunks] == [1]  # rows accumulate across blocks
    assert (info.file_format, info.sections, info.linktypes) == (
        FileFormat.PCAPNG,
        2,
        (1, 101, 113),
    )
    assert info.big_endian is False and info.packets == 4 and info.warnings == ()


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (shb(version=(1, 1)), "unsupported pcapng version 1.1"),
        (shb()[:4] + struct.pack("<I", 0x7FFFFFF0) + shb()[8:], "absurd length 2147483632"),
        (shb() + idb(1) + block(6, bytes(4))[:4] + struct.pack("<I", 0x40000000),
         "absurd length 1073741824"),
        (shb() + idb(1) + block(6, struct.pack("<IIIII", 0, 0, 0, 99, 99)),
         "captured length past the block"),
        (block(1, bytes(8)), "not a pcap or pcapng file"),
    ],
)  # fmt: skip
def test_pcapng_errors(tmp_path: Path, data: bytes, text: str) -> None:
    p = tmp_path / "bad.pcapng"
    p.write_bytes(data)
    with pytest.raises(CaptureError, match=text):
        read(p)


def test_pcapng_damage_after_packets_warns(tmp_path: Path) -> None:
    good = shb() + idb(1) + epb(0, frame(0), 0)
    p = tmp_path / "d.pcapng"
    p.write_bytes(good + block(6, bytes(20))[:4] + struct.pack("<I", 3) + bytes(20))
    _, info = read(p)
    assert info.packets == 1
    assert info.warnings[0].startswith(f"{p}: offset {len(good)}, frame 2: corrupt pcapng block")
    p.write_bytes(good + epb(0, frame(1), 0)[:-6])
    _, info = read(p)
    assert info.packets == 1 and "file ends inside a pcapng block" in info.warnings[0]


def test_pcapng_bad_interface_id_is_malformed_frame(tmp_path: Path) -> None:
    p = tmp_path / "i.pcapng"
    p.write_bytes(shb() + idb(1) + epb(5, frame(0), 0) + epb(0, frame(1), 0))
    chunks, info = read(p)
    rec = rows(chunks)
    assert rec["status"].tolist() == [WalkStatus.MALFORMED, 0]
    assert rec["iface"].tolist() == [5, 0] and info.packets == 2


# ---- gzip, stdin, streaming ----


def test_gzip_and_stream_equal_mmap(tmp_path: Path) -> None:
    frames = [frame(i % 500) + bytes(i % 300) for i in range(3000)]
    plain = tmp_path / "s.pcap"
    plain.write_bytes(pcap(frames))
    gz = tmp_path / "s.pcap.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    ref, ref_info = read(plain, capacity=700)
    got, info = read(gz, chunk_bytes=1 << 16, capacity=700)  # many refills with carry-over
    assert info.compressed and not ref_info.compressed
    assert [c.first_frame for c in got] == [c.first_frame for c in ref]
    for a, b in zip(ref, got, strict=True):
        assert a.records.tobytes() == b.records.tobytes()
        assert a.block.tobytes() == b.block.tobytes()
        assert a.ts_ns.tolist() == b.ts_ns.tolist()
    assert info.packets == 3000 and info.bytes_read == plain.stat().st_size


def test_record_larger_than_stream_buffer(tmp_path: Path) -> None:
    big = frame(1) + bytes(200_000)
    gz = tmp_path / "b.pcap.gz"
    gz.write_bytes(gzip.compress(pcap([frame(0), big, frame(2)])))
    chunks, info = read(gz, chunk_bytes=1 << 16)
    rec = rows(chunks)
    assert rec["caplen"].tolist() == [54, len(big), 54] and info.warnings == ()


def test_truncated_gzip_warns(tmp_path: Path) -> None:
    data = gzip.compress(pcap([frame(i) for i in range(2000)]))
    gz = tmp_path / "t.pcap.gz"
    gz.write_bytes(data[: len(data) // 2])
    _, info = read(gz, chunk_bytes=1 << 16)
    assert 0 < info.packets < 2000
    assert any("compressed stream damaged" in w or "file ends inside" in w for w in info.warnings)


@pytest.mark.parametrize("compress", [False, True])
def test_stdin(tmp_path: Path, compress: bool) -> None:
    data = pcap([frame(i) for i in range(50)])
    p = tmp_path / "in.pcap"
    p.write_bytes(gzip.compress(data) if compress else data)
    code = (
        "from mtuscope.capture.reader import iter_chunks\n"
        "it = iter_chunks('-')\n"
        "n = sum(len(c) for c in it)\n"
        "print(n, it.info.packets, it.info.compressed, it.info.path)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    with open(p, "rb") as fh:
        out = subprocess.run([sys.executable, "-c", code], stdin=fh, capture_output=True,
                             text=True, env=env, timeout=60, check=True)  # fmt: skip
    assert out.stdout.split() == ["50", "50", str(compress), "-"]


def test_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "f"
    os.mkfifo(fifo)
    data = pcap([frame(i) for i in range(20)])
    writer = subprocess.Popen(["sh", "-c", f"cat > {fifo}"], stdin=subprocess.PIPE)
    assert writer.stdin is not None
    writer.stdin.write(data)
    writer.stdin.close()
    _, info = read(fifo)
    writer.wait(timeout=30)
    assert info.packets == 20


# ---- corpus ----


def _manifest() -> list[dict[str, str]]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    with open(CORPUS / "MANIFEST.tsv", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


COUNT_EXCEPTIONS = {
    "libpcap__brcm-tag.pcap": "tshark refuses link type 281 and reads 0 packets; we read its "
    "15 records as UNKNOWN_LINKTYPE frames",
    "libpcap__brcm-tag-stp.pcap": "tshark refuses link type 281 (0 packets); we read 4 frames",
    "tcpdump__vtp_asan.pcap": "tshark refuses link type 182 (0 packets); we read 5 frames",
    "ndpi__fuzz-2021-10-13.pcap": "fuzzed record with captured length 524501 > 262144: tshark "
    "shows a cut frame, we refuse the record (CaptureError, corrupt first record)",
}


@needs_corpus
@pytest.mark.parametrize("row", _manifest(), ids=lambda r: r["file"].rsplit("/", 1)[-1])
def test_corpus_packet_count(row: dict[str, str]) -> None:
    name = row["file"].rsplit("/", 1)[-1]
    it = iter_chunks(str(CORPUS / row["file"]))
    try:
        n = sum(len(c) for c in it)
    except CaptureError:
        n = -1
    if name in COUNT_EXCEPTIONS:
        assert n != int(row["packets"]), f"{name} now agrees: drop it from COUNT_EXCEPTIONS"
        return
    if n == -1:  # a capture we refuse must be one tshark cannot read either
        assert row["packets"] == "0" and "malformed" in row["features"]
        return
    assert n == int(row["packets"]) == it.info.packets


# the innermost IP header against tshark: capture -> an Encap bit some frame must show
INNER_FILES: dict[str, int] = {
    "pcapplusplus/pcapplusplus__QinQ_802.1_AD.pcapng": Encap.QINQ,
    "zeek/zeek__pppoe-over-qinq.pcap": Encap.PPPOE | Encap.QINQ,
    "zeek/zeek__pppoe.pcap": Encap.PPPOE,
    "dpkt/dpkt__nb6-http.pcap": Encap.PPPOE,  # + L2TPv2 -> PPP -> IPv6
    "pcapplusplus/pcapplusplus__MplsPackets.pcap": Encap.MPLS,
    "zeek/zeek__mpls-in-vlan.pcap": Encap.MPLS | Encap.VLAN,
    "zeek/zeek__tunnels__gre-sample.pcap": Encap.GRE,
    "tcpdump/tcpdump__various_gre.pcap": Encap.GRE,
    "zeek/zeek__tunnels__gre-over-udp-4754.pcap": Encap.GRE,
    "tcpdump/tcpdump__vxlan.pcap": Encap.VXLAN | Encap.ETHER_INNER,
    "zeek/zeek__tunnels__vxlan-encapsulated-http.pcap": Encap.VXLAN,
    "libpcap/libpcap__geneve.pcap": Encap.GENEVE,
    "tcpdump/tcpdump__geneve.pcap": Encap.GENEVE,
    "zeek/zeek__tunnels__gtp__gtp1_gn_normal_incl_fragmentation.pcap": Encap.GTPU,
    "zeek/zeek__tunnels__Teredo.pcap": Encap.TEREDO,
    "zeek/zeek__tunnels__6in4.pcap": Encap.SIXIN4,
    "ndpi/ndpi__6in4tunnel.pcap": Encap.SIXIN4,
    "zeek/zeek__tunnels__4in6.pcap": Encap.FOURIN6,
    "zeek/zeek__pbb.pcap": Encap.ETHER_INNER,
    "zeek/zeek__vntag.pcap": Encap.VLAN,
    "tcpdump/tcpdump__tcp-handshake-nano.pcap": 0,  # Linux SLL
    "pcapplusplus/pcapplusplus__sll2.pcap": 0,
    "zeek/zeek__linux_dlt_sll2.pcap": 0,
    "pcapplusplus/pcapplusplus__NullLoopback.pcap": 0,  # BSD NULL, both AF byte orders
    "pcapplusplus/pcapplusplus__mysql.pcapng": 0,
    "tcpdump/tcpdump__LINKTYPE_RAW_ipv4.pcap": 0,
    "tcpdump/tcpdump__LINKTYPE_RAW_ipv6.pcap": 0,
    "tcpdump/tcpdump__LINKTYPE_IPV4.pcap": 0,
    "tcpdump/tcpdump__LINKTYPE_IPV6.pcap": 0,
    "tcpdump/tcpdump__LINKTYPE_IPV4_invalid.pcap": 0,  # an IPv6 packet in LINKTYPE_IPV4
    "tcpdump/tcpdump__nflog.pcap": 0,
    "zeek/zeek__nflog-http.pcap": 0,
    "tcpdump/tcpdump__LINKTYPE_PKTAP.pcap": 0,
    "ndpi/ndpi__someip_sd_sample.pcap": 0,  # PPI around Ethernet
    "tcpdump/tcpdump__ipoib.pcap": 0,
}


def _tshark_inner(path: Path) -> list[tuple[int, str, str] | None]:
    """Per frame, tshark's innermost IP (family, src, dst), ICMP quotes excluded."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-o", "ip.defragment:FALSE", "-o",
         "ipv6.defragment:FALSE", "-T", "fields", "-e", "frame.protocols", "-e", "ip.src",
         "-e", "ip.dst", "-e", "ipv6.src", "-e", "ipv6.dst", "-E", "occurrence=a",
         "-E", "aggregator=,"],
        capture_output=True, text=True, timeout=120, check=False,
    ).stdout  # fmt: skip
    result: list[tuple[int, str, str] | None] = []
    for line in out.splitlines():
        protos, *cols = line.split("\t")
        v4s, v4d, v6s, v6d = (c.split(",") if c else [] for c in cols)
        i4 = i6 = 0
        last: tuple[int, str, str] | None = None
        for proto in protos.split(":"):
            if proto in ("icmp", "icmpv6"):
                break
            if proto == "ip":
                last = (4, v4s[i4], v4d[i4]) if i4 < min(len(v4s), len(v4d)) else last
                i4 += 1
            elif proto == "ipv6":
                last = (6, v6s[i6], v6d[i6]) if i6 < min(len(v6s), len(v6d)) else last
                i6 += 1
        result.append(last)
    return result


def _ours_inner(chunks: list[Any]) -> list[tuple[int, tuple[int, str, str] | None, int]]:
    out: list[tuple[int, tuple[int, str, str] | None, int]] = []
    for c in chunks:
        for r, row in zip(c.records, c.block, strict=True):
            fam, status, encap = int(r["family"]), int(r["status"]), int(r["encap"])
            ip: tuple[int, str, str] | None = None
            if fam == 4 and r["hdr_len"] >= 20:
                ip = (4, str(ipaddress.IPv4Address(bytes(row[12:16]))),
                      str(ipaddress.IPv4Address(bytes(row[16:20]))))  # fmt: skip
            elif fam == 6 and r["hdr_len"] >= 40:
                ip = (6, str(ipaddress.IPv6Address(bytes(row[8:24]))),
                      str(ipaddress.IPv6Address(bytes(row[24:40]))))  # fmt: skip
            out.append((status, ip, encap))
    return out


@pytest.mark.tshark
@needs_corpus
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", sorted(INNER_FILES))
def test_innermost_ip_agrees_with_tshark(name: str) -> None:
    path = CORPUS / "pcaps" / name
    chunks, _ = read(path)
    ours = _ours_inner(chunks)
    theirs = _tshark_inner(path)
    assert len(ours) == len(theirs)
    compared = [(i + 1, o[1], t) for i, (o, t) in enumerate(zip(ours, theirs, strict=True))
                if o[0] == WalkStatus.OK]  # fmt: skip
    assert any(o is not None for _, o, _ in compared)
    assert [(f, o, t) for f, o, t in compared if o != t] == []
    want = INNER_FILES[name]
    assert any(o[2] & want == want for o in ours), f"no frame with encap {Encap(want)!r}"


def test_unknown_link_types_are_counted_and_reported_not_fatal() -> None:
    # Broadcom-tagged Ethernet (LINKTYPE 281): tshark refuses the file; we read on.
    path = CORPUS / "pcaps/libpcap/libpcap__brcm-tag.pcap"
    if not path.is_file():
        pytest.skip(f"corpus capture missing: {path}")
    chunks = iter_chunks(str(path))
    frames = sum(len(c) for c in chunks)
    info = chunks.info
    assert frames == info.packets == 15
    assert info.undecoded == {281: 15}
    assert any("15 frames of link type 281 not decoded" in w for w in info.warnings)
