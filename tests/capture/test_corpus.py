"""mtuscope against tshark on every capture of the shared corpus.

For every capture tshark reads: the packet count, the MSS option of every SYN
and SYN/ACK (with its addresses, ports and flags) and the MTU and quoted flow of
every ICMP too-big message equal what `oracle.sh` extracts with tshark. The
captures tshark cannot read end in a clean CaptureError. A capture on which the
two disagree must be listed in KNOWN_DISAGREEMENTS with the reason; the test
also fails when a listed capture has come to agree (so the list stays true).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import iter_chunks
from mtuscope.capture.table import address_text
from mtuscope.errors import CaptureError

CORPUS = Path(os.environ["MTUSCOPE_CORPUS"])  # set by tests/conftest.py

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed"),
    pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}"),
]

_UNSUPPORTED_BY_TSHARK = (
    "tshark refuses the whole file for its link type; mtuscope counts the records as frames "
    "of an unknown link type and reads on"
)
KNOWN_DISAGREEMENTS: dict[str, str] = {
    "libpcap/libpcap__brcm-tag.pcap": _UNSUPPORTED_BY_TSHARK,
    "libpcap/libpcap__brcm-tag-stp.pcap": _UNSUPPORTED_BY_TSHARK,
    "tcpdump/tcpdump__vtp_asan.pcap": _UNSUPPORTED_BY_TSHARK,
    "ndpi/ndpi__fuzz-2021-10-13.pcap": (
        "the first record claims 524501 captured bytes in a 239-byte file; tshark counts it as "
        "one cut-short packet, mtuscope stops with a clean error (offset 24, length too large)"
    ),
}
"""capture (relative to pcaps/) -> why mtuscope and tshark legitimately differ."""

_OUTER_FRAGMENTS = (
    "the outer IPv6 header of an IPv4-in-IPv6 tunnel is fragmented: mtuscope reassembles "
    "fragments of the innermost IP header only, and reads the inner SYN through the first "
    "fragment (frame 1) as tshark does with reassembly off; tshark with reassembly on shows "
    "it at the last fragment"
)
REASSEMBLY_DISAGREEMENTS: dict[str, str] = {
    "snabb/snabb__lwaftr__tcp-afteraftr-ipv6-3frags.pcap": _OUTER_FRAGMENTS,
    "snabb/snabb__lwaftr__vlan__tcp-afteraftr-ipv6-2frags.pcap": _OUTER_FRAGMENTS,
    "snabb/snabb__lwaftr__vlan__tcp-afteraftr-ipv6-3frags.pcap": _OUTER_FRAGMENTS,
    "snabb/snabb__lwaftr__vlan__tcp-ipv6-2frags-bound.pcap": _OUTER_FRAGMENTS,
}
"""Captures with fragments whose SYNs differ only against tshark with reassembly on."""

NO_DEFRAG = "-o ip.defragment:FALSE -o ipv6.defragment:FALSE"
"""mtuscope reads the transport header of a first fragment where it is, as tshark does
with reassembly off, and also puts TCP datagrams back together (capture/reassembly.py)
onto the fragment that completes them, as tshark does with reassembly on. Captures
with fragments are compared both ways: the rows of single packets and first fragments
with the oracle run with these options, the rows of single packets and reassembled
datagrams with the default oracle (SYNs only: reassembly is for TCP)."""


def _manifest() -> dict[str, dict[str, str]]:
    if not CORPUS.is_dir():
        return {}
    with open(CORPUS / "MANIFEST.tsv", newline="") as fh:
        return {
            row["file"].removeprefix("pcaps/"): row for row in csv.DictReader(fh, delimiter="\t")
        }


MANIFEST = _manifest()


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tshark's ground truth for the whole corpus (oracle.sh, run once)."""
    out = tmp_path_factory.mktemp("oracle")
    subprocess.run(
        ["bash", str(CORPUS / "oracle.sh"), str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "JOBS": str(os.cpu_count() or 2)},
        timeout=900,
    )
    return out


def _fragmented(name: str) -> bool:
    features = MANIFEST[name]["features"].split(",")
    return "ip-frag" in features or "ip6-frag" in features


@pytest.fixture(scope="session")
def oracle_nodefrag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tshark's ground truth with IP reassembly off, for the captures holding fragments."""
    out = tmp_path_factory.mktemp("oracle-nodefrag")
    files = [str(CORPUS / "pcaps" / n) for n in MANIFEST if _fragmented(n)]
    for name in {Path(n).parent.name for n in MANIFEST if _fragmented(n)}:
        batch = [f for f in files if Path(f).parent.name == name]
        subprocess.run(
            ["bash", str(CORPUS / "oracle.sh"), str(out / name), *batch],
            check=True,
            capture_output=True,
            env={**os.environ, "JOBS": str(os.cpu_count() or 2), "TSHARK_OPTS": NO_DEFRAG},
            timeout=600,
        )
    return out


def _tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _summary(oracle: Path) -> dict[str, dict[str, str]]:
    rows = {}
    for summary in oracle.rglob("summary.tsv"):
        prefix = summary.parent.relative_to(oracle)
        for row in _tsv(summary):
            rows[str(prefix / row["file"]) if str(prefix) != "." else row["file"]] = row
    return rows


_PROTO = {"tcp": 6, "udp": 17, "sctp": 132, "dccp": 33}


Row = tuple[object, ...]


def _ours(path: Path, *, reassembled: bool = False) -> tuple[int, set[Row], set[Row]]:
    """Packets, SYN rows and ICMP rows; `reassembled`: the SYNs tshark shows with
    reassembly on (single packets and reassembled datagrams), else with it off (single
    packets and first fragments)."""
    syns: set[Row] = set()
    icmps: set[Row] = set()
    chunks = iter_chunks(str(path), chunk_bytes=1 << 16)
    for ch in chunks:
        t: Any = decode_chunk(ch.records, ch.block, ch.ts_ns, ch.first_frame).columns
        syn = (t["proto"] == 6) & (t["thl"] > 0) & ((t["tcp_flags"] & 2) != 0) & (t["family"] > 0)
        first = t["fragment"] & (t["frag_off"] == 0)
        syn &= (~t["fragment"] | t["reassembled"]) if reassembled else (~t["reassembled"] | first)
        for i in np.flatnonzero(syn):
            syns.add(
                (
                    int(t["frame"][i]),
                    int(t["family"][i]),
                    address_text(t["src_hi"][i], t["src_lo"][i], t["family"][i]),
                    address_text(t["dst_hi"][i], t["dst_lo"][i], t["family"][i]),
                    int(t["sport"][i]),
                    int(t["dport"][i]),
                    int(t["tcp_flags"][i]),
                    int(t["mss"][i]) if t["mss"][i] >= 0 else None,
                )
            )
        ptb = ((t["proto"] == 1) & (t["icmp_type"] == 3) & (t["icmp_code"] == 4)) | (
            (t["proto"] == 58) & (t["icmp_type"] == 2)
        )
        for i in np.flatnonzero(ptb):
            qf = t["q_family"][i]
            quoted = qf > 0
            icmps.add(
                (
                    int(t["frame"][i]),
                    address_text(t["src_hi"][i], t["src_lo"][i], t["family"][i]),
                    address_text(t["dst_hi"][i], t["dst_lo"][i], t["family"][i]),
                    int(t["icmp_mtu"][i]),
                    address_text(t["q_src_hi"][i], t["q_src_lo"][i], qf) if quoted else None,
                    address_text(t["q_dst_hi"][i], t["q_dst_lo"][i], qf) if quoted else None,
                    int(t["q_sport"][i]) if t["q_sport"][i] >= 0 else None,
                    int(t["q_dport"][i]) if t["q_dport"][i] >= 0 else None,
                )
            )
    return chunks.info.packets, syns, icmps


def _theirs(oracle: Path, name: str) -> tuple[set[Row], set[Row]]:
    syns: set[Row] = set()
    for r in _tsv(oracle / f"{name}.syn.tsv"):
        mss = r["mss"].split(",")[0] if r["mss"] else None
        syns.add(
            (
                int(r["frame_number"]),
                int(r["ip_version"]) if r["ip_version"] else 0,
                r["src"],
                r["dst"],
                int(r["srcport"]),
                int(r["dstport"]),
                int(r["tcp_flags"], 16),
                int(mss) if mss else None,
            )
        )
    icmps: set[Row] = set()
    for r in _tsv(oracle / f"{name}.icmp.tsv"):
        ports = r["inner_proto"] in _PROTO
        icmps.add(
            (
                int(r["frame_number"]),
                r["outer_src"],
                r["outer_dst"],
                int(r["mtu"]),
                r["inner_src"] or None,
                r["inner_dst"] or None,
                int(r["inner_srcport"]) if ports and r["inner_srcport"] else None,
                int(r["inner_dstport"]) if ports and r["inner_dstport"] else None,
            )
        )
    return syns, icmps


def _compare(oracle: Path, name: str, *, reassembled: bool = False) -> Iterator[str]:
    row = _summary(oracle)[name]
    path = CORPUS / "pcaps" / name
    expected_packets = int(MANIFEST[name]["packets"])
    readable = row["tshark_rc"] == "0" or expected_packets > 0
    try:
        packets, syns, icmps = _ours(path, reassembled=reassembled)
    except CaptureError as exc:
        if readable:
            yield f"CaptureError on a capture tshark reads: {exc}"
        return
    if not readable:
        if packets:
            yield f"tshark cannot read it, mtuscope read {packets} packets"
        return
    if packets != expected_packets:
        yield f"packets: mtuscope {packets}, tshark {expected_packets}"
    their_syns, their_icmps = _theirs(oracle, name)
    pairs = [("SYN", syns, their_syns)] + ([] if reassembled else [("ICMP", icmps, their_icmps)])
    for label, ours, theirs in pairs:
        for extra in sorted(ours - theirs, key=str)[:3]:
            yield f"{label} only mtuscope: {extra}"
        for missing in sorted(theirs - ours, key=str)[:3]:
            yield f"{label} only tshark: {missing}"


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_capture_agrees_with_tshark(oracle: Path, oracle_nodefrag: Path, name: str) -> None:
    problems = list(_compare(oracle_nodefrag if _fragmented(name) else oracle, name))
    if _fragmented(name):
        again = [f"reassembled: {p}" for p in _compare(oracle, name, reassembled=True)]
        if name in REASSEMBLY_DISAGREEMENTS:
            assert again, f"{name} now agrees reassembled: remove it from REASSEMBLY_DISAGREEMENTS"
        else:
            problems += again
    if name in KNOWN_DISAGREEMENTS:
        assert problems, f"{name} now agrees with tshark: remove it from KNOWN_DISAGREEMENTS"
    else:
        assert not problems, "\n".join(problems)


def test_corpus_is_whole() -> None:
    assert len(MANIFEST) == 364
    assert all((CORPUS / "pcaps" / name).is_file() for name in MANIFEST)
