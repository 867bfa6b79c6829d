"""The pcapng writer behind `analyze --annotate`: frames byte-exact, comments where asked.

tshark is the oracle: it reads the written file, lists the comments
(`frame.comment`) and hashes every frame (`frame.md5_hash`) with its timestamp,
lengths and interface link type, which must equal what it reads from the input.
Inputs are built here: pcap in both byte orders and both resolutions, pcapng
with two sections of opposite byte order, two link types, an existing comment,
a simple packet block and an obsolete packet block, gzip, and a damaged tail.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from mtuscope.capture.pcapng_writer import (
    AnnotateSummary,
    add_comment,
    annotate,
    encode_epb,
    encode_idb,
    encode_option,
    encode_shb,
)
from mtuscope.capture.reader import iter_chunks
from mtuscope.capture.source import open_source

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pmtud-ok-server.pcap"

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")

FIELDS = ["frame.md5_hash", "frame.time_epoch", "frame.len", "frame.cap_len", "frame.protocols"]


def _tshark(path: Path, *args: str) -> str:
    run = subprocess.run(
        ["tshark", "-o", "frame.generate_md5_hash:TRUE", "-r", str(path), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return run.stdout


def _frames(path: Path) -> list[str]:
    """One line per frame: hash, time, lengths, protocols."""
    args = ["-T", "fields"] + [a for f in FIELDS for a in ("-e", f)]
    return _tshark(path, *args).splitlines()


def _comments(path: Path) -> dict[int, str]:
    out = _tshark(
        path, "-Y", "frame.comment", "-T", "fields", "-e", "frame.number", "-e", "frame.comment"
    )
    return {int(n): c for n, _, c in (line.partition("\t") for line in out.splitlines())}


def _annotate(src_path: Path, out: Path, comments: dict[int, str], **kw: int) -> AnnotateSummary:
    src = open_source(str(src_path), **kw)
    try:
        with open(out, "wb") as f:
            return annotate(src, f, comments)
    finally:
        src.close()


def _pcap_records(path: Path) -> list[tuple[int, int, bytes, int]]:
    """(seconds, microseconds, data, original length) of a little-endian µs pcap."""
    raw = path.read_bytes()
    assert raw[:4] == b"\xd4\xc3\xb2\xa1"
    out, pos = [], 24
    while pos + 16 <= len(raw):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", raw, pos)
        out.append((sec, usec, raw[pos + 16 : pos + 16 + caplen], wirelen))
        pos += 16 + caplen
    return out


def _write_pcap(
    path: Path, records: list[tuple[int, int, bytes, int]], *, big: bool, nano: bool
) -> None:
    u = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    parts = [struct.pack(u + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)]
    for sec, usec, data, wirelen in records:
        frac = usec * 1000 + 7 if nano else usec  # a nanosecond digit a µs copy would lose
        parts.append(struct.pack(u + "IIII", sec, frac, len(data), wirelen) + data)
    path.write_bytes(b"".join(parts))


def test_pcap_becomes_pcapng_frame_for_frame(tmp_path: Path) -> None:
    out = tmp_path / "out.pcapng"
    summary = _annotate(EXAMPLE, out, {1: "mtuscope: a: first", 9: "one\ntwo", 5000: "none"})
    assert summary.frames == len(_frames(EXAMPLE))
    assert summary.commented == (1, 9) and summary.skipped == (5000,) and summary.complete
    assert _frames(out) == _frames(EXAMPLE)
    assert _comments(out) == {1: "mtuscope: a: first", 9: "one\\ntwo"}  # tshark escapes \n
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"


@pytest.mark.parametrize(("big", "nano"), [(True, False), (False, True), (True, True)])
def test_pcap_byte_orders_and_resolutions(tmp_path: Path, big: bool, nano: bool) -> None:
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcapng"
    _write_pcap(src, _pcap_records(EXAMPLE)[:12], big=big, nano=nano)
    _annotate(src, out, {3: "three"})
    assert _frames(out) == _frames(src)
    assert _comments(out) == {3: "three"}
    if nano:  # the nanosecond digit survives
        assert _tshark(out, "-T", "fields", "-e", "frame.time_epoch", "-c", "1").strip()[-1] == "7"
    # our own reader sees the same timestamps in the copy
    ts_in = [t for c in iter_chunks(str(src)) for t in c.ts_ns.tolist()]
    ts_out = [t for c in iter_chunks(str(out)) for t in c.ts_ns.tolist()]
    assert ts_in == ts_out


def _block(btype: int, body: bytes, big: bool) -> bytes:
    u, btl = (">" if big else "<"), 12 + len(body)
    return struct.pack(u + "II", btype, btl) + body + struct.pack(u + "I", btl)


def _pad(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def _pcapng_two_sections(path: Path) -> list[bytes]:
    """A pcapng with a little-endian section (Ethernet + raw IP interfaces, an EPB with a
    comment of its own, an SPB, a name resolution block) and a big-endian one (an
    obsolete packet block and an EPB). Returns its blocks."""
    recs = _pcap_records(EXAMPLE)
    eth = [r[2] for r in recs[:6]]
    raw_ip = eth[0][14:]  # the same IPv4 packet without its Ethernet header
    blocks = [
        encode_shb(),
        encode_idb(linktype=1, snaplen=0),
        encode_idb(linktype=101, snaplen=0, ts_exp=9),
        encode_epb(interface=0, ts_hi=1, ts_lo=2, data=eth[0], wirelen=len(eth[0])),  # 1
        encode_epb(
            interface=0, ts_hi=1, ts_lo=3, data=eth[1], wirelen=len(eth[1]), comment="theirs"
        ),  # 2
        _block(3, struct.pack("<I", len(eth[2])) + _pad(eth[2]), False),  # 3: SPB
        _block(4, encode_option(1, b"\x0a\x00\x00\x01" + b"host\x00") + bytes(4), False),  # NRB
        encode_epb(interface=1, ts_hi=0, ts_lo=5, data=raw_ip, wirelen=len(raw_ip)),  # 4
        encode_shb(big_endian=True),
        encode_idb(linktype=1, snaplen=0, big_endian=True),
        _block(
            2,
            struct.pack(">HHIIII", 0, 0, 1, 9, len(eth[3]), len(eth[3]))
            + _pad(eth[3])
            + encode_option(1, b"old", True)
            + encode_option(0, b"", True),
            True,
        ),  # 5: obsolete packet block, with options
        encode_epb(
            interface=0, ts_hi=1, ts_lo=10, data=eth[4], wirelen=len(eth[4]), big_endian=True
        ),  # 6
    ]
    path.write_bytes(b"".join(blocks))
    return blocks


def _split_blocks(raw: bytes) -> list[bytes]:
    out, pos, big = [], 0, False
    while pos < len(raw):
        if raw[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
            big = raw[pos + 8 : pos + 12] == b"\x1a\x2b\x3c\x4d"
        btl = struct.unpack_from(">I" if big else "<I", raw, pos + 4)[0]
        out.append(raw[pos : pos + btl])
        pos += btl
    return out


def test_pcapng_keeps_its_blocks_and_merges_comments(tmp_path: Path) -> None:
    src, out = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    blocks = _pcapng_two_sections(src)
    comments = {2: "mtuscope: b: ours", 3: "on the SPB", 4: "raw ip", 5: "on the PB", 6: "BE"}
    summary = _annotate(src, out, comments)
    assert summary.frames == 6 and summary.commented == (2, 3, 4, 5, 6) and summary.complete
    assert _frames(out)[:2] == _frames(src)[:2]
    assert _frames(out)[3:] == _frames(src)[3:]
    # the SPB became an EPB: same bytes and lengths (an SPB has no timestamp to keep)
    assert _frames(out)[2].split("\t")[2:] == _frames(src)[2].split("\t")[2:]
    assert _frames(out)[2].split("\t")[0] == _frames(src)[2].split("\t")[0]
    got = _comments(out)
    assert got[2] == "theirs,mtuscope: b: ours"  # theirs kept, ours added
    assert got[5] == "old,on the PB"
    assert {k: got[k] for k in (3, 4, 6)} == {3: "on the SPB", 4: "raw ip", 6: "BE"}
    # every block without a new comment is copied byte for byte, in order
    written = _split_blocks(out.read_bytes())
    assert len(written) == len(blocks)
    changed = {4, 5, 7, 10, 11}  # block indexes of frames 2, 3, 4, 5, 6
    assert [w for i, w in enumerate(written) if i not in changed] == [
        b for i, b in enumerate(blocks) if i not in changed
    ]
    # and with no comment at all, the copy is the input itself
    _annotate(src, tmp_path / "same.pcapng", {})
    assert (tmp_path / "same.pcapng").read_bytes() == src.read_bytes()


def test_gzip_input_and_small_buffers(tmp_path: Path) -> None:
    """A gzip stream read through a 64 KiB buffer (hundreds of refills) writes the same
    file as the memory-mapped input."""
    records = _pcap_records(EXAMPLE)
    big = tmp_path / "big.pcap"
    _write_pcap(big, records * 40, big=False, nano=False)  # about 4 MB, 4080 frames
    zipped = tmp_path / "big.pcap.gz"
    zipped.write_bytes(gzip.compress(big.read_bytes()))
    comments = {n: f"frame {n}" for n in (1, 1000, 2047, 4080)}
    plain, packed = tmp_path / "plain.pcapng", tmp_path / "packed.pcapng"
    _annotate(big, plain, comments)
    _annotate(zipped, packed, comments, chunk_bytes=1 << 16)
    assert packed.read_bytes() == plain.read_bytes()
    assert _comments(packed) == comments
    # pcapng through a small buffer: copied runs and rewritten blocks across refills
    again = tmp_path / "again.pcapng.gz"
    again.write_bytes(gzip.compress(plain.read_bytes()))
    twice = tmp_path / "twice.pcapng"
    _annotate(again, twice, {2: "x", 4079: "y"}, chunk_bytes=1 << 16)
    assert _frames(twice) == _frames(big)
    assert _comments(twice) == comments | {2: "x", 4079: "y"}


def test_a_damaged_tail_ends_the_copy_with_a_valid_file(tmp_path: Path) -> None:
    src, out = tmp_path / "cut.pcap", tmp_path / "out.pcapng"
    raw = EXAMPLE.read_bytes()
    src.write_bytes(raw[: len(raw) - 30])  # the last record loses its end
    summary = _annotate(src, out, {1: "kept", 102: "lost"})
    assert not summary.complete
    n = len(_pcap_records(EXAMPLE)) - 1
    assert summary.frames == n and summary.skipped == (102,)
    assert len(_frames(out)) == n and _comments(out) == {1: "kept"}


def test_damaged_options_leave_the_block_alone() -> None:
    epb = encode_epb(interface=0, ts_hi=0, ts_lo=0, data=b"abcd", wirelen=4)
    # an option claiming 200 bytes inside a 4-byte option region
    broken = epb[:32] + struct.pack("<HH", 1, 200) + epb[-4:]
    broken = broken[:4] + struct.pack("<I", len(broken)) + broken[8:-4]
    broken += struct.pack("<I", len(broken) + 4)
    assert add_comment(broken, "x", False) is None
    assert add_comment(epb, "x", False) is not None
