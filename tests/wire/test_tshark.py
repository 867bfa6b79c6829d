"""wire/ against tshark on real captures from the corpus and on packets we build.

Each test extracts the ICMP or TCP bytes with tshark itself (`-T json -x`),
decodes them with wire/, and checks our values against tshark's fields:
icmp.mtu / icmpv6.mtu, the quoted addresses, ports, TTL, length and ID, and
tcp.options.mss_val (every MSS option, in order).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import pytest

from mtuscope.wire.builders import build_icmp_error, build_ip, build_tcp
from mtuscope.wire.enums import IpProto, TcpOptionKind
from mtuscope.wire.icmp import IcmpMessage, decode_icmp_error
from mtuscope.wire.tcp_options import TcpOption, decode_tcp_options

pytestmark = pytest.mark.tshark

CORPUS = Path(os.environ["MTUSCOPE_CORPUS"]) / "pcaps"
ICMP_CAPTURES = [
    "entrada/entrada__sidnlabs-test-icmp-frag-needed.pcap",  # Linux SLL, quotes DNS over UDP
    "ndpi/ndpi__6in4tunnel.pcap",  # ICMPv6 PTB inside 6in4, quotes TCP
    "snabb/snabb__lwaftr__incoming-icmpv6-20pkttoobig-inet-OPE.pcap",  # quotes IPv4-in-IPv6
    "snabb/snabb__lwaftr__ipv6-tunneled-incoming-icmpv4-34toobig.pcap",  # ICMPv4 in IPv6
    "zeek/zeek__icmp__icmp6-toobig.pcap",  # quotes UDP
    "zeek/zeek__smtp.pcap",  # frag-needed during an SMTP session
]
SYN_CAPTURES = [
    "entrada/entrada__sidnlabs-tcp.pcap",
    "ndpi/ndpi__6in4tunnel.pcap",
    "dpkt/dpkt__nb6-http.pcap",  # PPPoE and tunnels
    "libpcap/libpcap__geneve.pcap",
    "ndpi/ndpi__http_ipv6.pcap",
]
TOO_BIG = "(icmp.type == 3 && icmp.code == 4) || icmpv6.type == 2"
PORTED = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "dccp": "dccp"}


def _run_json(path: Path, display_filter: str, *options: str) -> list[dict[str, Any]]:
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed")
    cmd = [tshark, "-n", "-r", str(path), *options, "-Y", display_filter]
    cmd += ["-T", "json", "--no-duplicate-keys"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    return [frame["_source"]["layers"] for frame in json.loads(done.stdout or "[]")]


def tshark_json(path: Path, display_filter: str, *options: str) -> list[dict[str, Any]]:
    """The `layers` of every matching frame, plus their raw bytes under "__raw__".

    Two runs: with -x, tshark adds "<field>_raw" keys that collide with fields
    such as tcp.seq_raw, so the field values come from a run without -x.
    """
    fields = _run_json(path, display_filter, *options)
    raws = _run_json(path, display_filter, *options, "-x")
    assert len(fields) == len(raws)
    for layers, raw in zip(fields, raws, strict=True):
        layers["__raw__"] = {key: value for key, value in raw.items() if key.endswith("_raw")}
    return fields


def first(value: Any) -> Any:
    """--no-duplicate-keys turns repeated keys into lists; take the first occurrence."""
    if isinstance(value, list) and value and isinstance(value[0], (list, dict)):
        return value[0]
    return value


def raw_bytes(layers: dict[str, Any], proto: str) -> bytes:
    return bytes.fromhex(first(layers["__raw__"][f"{proto}_raw"])[0])


def one(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def check_icmp_frame(layers: dict[str, Any]) -> IcmpMessage:
    """Decode the frame's ICMP/ICMPv6 bytes and compare with tshark; return our decode."""
    kind = "icmp" if "icmp" in layers else "icmpv6"
    family = 4 if kind == "icmp" else 6
    tree = first(layers[kind])
    message = decode_icmp_error(raw_bytes(layers, kind), family=family)
    mtu = tree.get(f"{kind}.mtu")
    assert message.mtu == (None if mtu is None else int(one(mtu)))
    tokens = one(layers["frame"]["frame.protocols"]).split(":")
    after = tokens[tokens.index(kind) + 1 :]
    quote = message.quote
    if not after or after[0] not in ("ip", "ipv6"):
        assert quote is None
        return message
    if quote is None:  # tshark shows a partial header; we want the whole fixed header
        assert message.quote_len < (20 if after[0] == "ip" else 40)
        return message
    ip = first(tree[after[0]])
    if after[0] == "ip":
        assert quote.family == 4
        assert (quote.src, quote.dst) == (
            ip_address(one(ip["ip.src"])),
            ip_address(one(ip["ip.dst"])),
        )
        assert quote.ttl == int(one(ip["ip.ttl"]))
        assert quote.ip_len == int(one(ip["ip.len"]))
        assert quote.ip_id == int(one(ip["ip.id"]), 16)
        assert quote.proto == int(one(ip["ip.proto"]))
    else:
        assert quote.family == 6
        assert (quote.src, quote.dst) == (
            ip_address(one(ip["ipv6.src"])),
            ip_address(one(ip["ipv6.dst"])),
        )
        assert quote.ttl == int(one(ip["ipv6.hlim"]))
        assert quote.ip_len == 40 + int(one(ip["ipv6.plen"]))
        if quote.header_len == 40:
            assert quote.proto == int(one(ip["ipv6.nxt"]))
    # skip the extension-header tokens (ipv6.hopopts, ipv6.fraghdr, ...) of the quote
    rest = [token for token in after[1:] if not token.startswith("ipv6.")]
    transport = rest[0] if rest else None
    if transport in PORTED:
        layer = first(tree[transport])
        assert quote.sport == int(one(layer[f"{transport}.srcport"]))
        assert quote.dport == int(one(layer[f"{transport}.dstport"]))
        if transport == "tcp" and "tcp.seq_raw" in layer:
            assert quote.seq == int(one(layer["tcp.seq_raw"]))
    else:
        assert quote.sport is None
    return message


@pytest.mark.parametrize("name", ICMP_CAPTURES)
def test_too_big_messages_in_corpus(name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus capture {name} is not here")
    frames = tshark_json(path, TOO_BIG)
    assert frames, f"tshark found no too-big message in {name}"
    for layers in frames:
        message = check_icmp_frame(layers)
        assert message.is_error and message.quote is not None


def test_corpus_values_we_know() -> None:
    """Spot values, so that a tshark that agrees with a broken decoder cannot pass."""
    path = CORPUS / ICMP_CAPTURES[0]
    if not path.exists():
        pytest.skip("corpus not here")
    (layers,) = tshark_json(path, TOO_BIG)
    message = check_icmp_frame(layers)
    assert message.mtu == 1500
    assert message.quote is not None
    assert message.quote.proto is IpProto.UDP and message.quote.sport == 53
    path6 = CORPUS / "snabb/snabb__lwaftr__incoming-icmpv6-20pkttoobig-inet-OPE.pcap"
    (layers6,) = tshark_json(path6, TOO_BIG)
    message6 = check_icmp_frame(layers6)
    assert message6.mtu == 777
    assert message6.quote is not None and message6.quote.proto is IpProto.IPIP


def mss_values(tcp: dict[str, Any]) -> tuple[int, ...]:
    """Every tcp.options.mss_val in a tshark TCP tree, in order."""
    found: list[int] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "tcp.options.mss_val":
                    found.extend(int(v) for v in (value if isinstance(value, list) else [value]))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(tcp)
    return tuple(found)


def check_syn_frames(frames: Iterable[dict[str, Any]]) -> int:
    """Compare every frame's MSS options with tshark; return how many carried an MSS."""
    count = 0
    for layers in frames:
        raw = raw_bytes(layers, "tcp")
        tree = first(layers["tcp"])
        thl = int(one(tree["tcp.hdr_len"]))
        options = decode_tcp_options(raw[20:thl], area_len=thl - 20)
        assert options.mss_all == mss_values(tree), one(layers["frame"]["frame.number"])
        count += bool(options.mss_all)
    return count


@pytest.mark.parametrize("name", SYN_CAPTURES)
def test_syn_mss_in_corpus(name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus capture {name} is not here")
    frames = tshark_json(path, "tcp.flags.syn == 1 && !icmp && !icmpv6")
    assert check_syn_frames(frames) > 0


def test_built_packets_agree_with_tshark(
    tmp_path: Path,
    vector: Callable[[str], bytes],
    write_raw_pcap: Callable[[Path, Iterable[bytes]], Path],
) -> None:
    """Odd option areas and ICMP layouts built here; tshark is the judge."""
    src, dst = IPv4Address("192.0.2.1"), IPv4Address("198.51.100.2")
    src6, router6 = IPv6Address("2001:db8::1"), IPv6Address("2001:db8:ffff::1")
    mss = TcpOptionKind.MSS
    packets = [
        vector("ipv4_tcp_syn"),
        vector("icmp4_frag_needed"),
        # two MSS options: tshark lists both
        build_tcp(
            src=src,
            dst=dst,
            sport=1,
            dport=2,
            options=[
                TcpOption(kind=mss, data=b"\x05\xb4"),
                TcpOption(kind=mss, data=b"\x05\x78"),
            ],
        ),
        # an MSS option of length 5: no mss_val
        build_tcp(
            src=src,
            dst=dst,
            sport=1,
            dport=2,
            options=[
                TcpOption(kind=mss, data=b"\x05\xb4\x00"),
                TcpOption(kind=TcpOptionKind.NOP),
                TcpOption(kind=mss, data=b"\x02\x18"),
            ],
        ),
        # a length byte of 1 after an MSS: the walk stops, the MSS stays
        build_ip(
            src=src,
            dst=dst,
            proto=6,
            payload=bytes.fromhex(
                "0001 0002 00000000 00000000 7002 ffff 0000 0000 020405b4 0801 0000"
            ),
        ),
        # the RFC 4884 time exceeded and the PTB with an extension chain
        build_ip(
            src=IPv4Address("203.0.113.9"),
            dst=src,
            proto=1,
            payload=vector("icmp4_time_exceeded_rfc4884"),
        ),
        build_ip(src=router6, dst=src6, proto=58, payload=vector("icmp6_ptb_ext_chain")),
        # a frag-needed with MTU 0 and a quote cut inside the IP header
        build_icmp_error(
            src=IPv4Address("203.0.113.9"),
            dst=src,
            type=3,
            code=4,
            mtu=0,
            quote=vector("ipv4_tcp_syn")[:12],
        ),
    ]
    pcap = write_raw_pcap(tmp_path / "built.pcap", packets)
    checks = (
        # a quoted first fragment is dissected only without reassembly (see icmp.py)
        "-o",
        "ipv6.defragment:FALSE",
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
    )
    frames = tshark_json(pcap, "frame", *checks)
    assert len(frames) == len(packets)
    mss_seen = []
    for layers in frames:
        number = int(one(layers["frame"]["frame.number"]))
        if "icmp" in layers or "icmpv6" in layers:
            message = check_icmp_frame(layers)
            if number == 8:
                assert message.mtu == 0 and message.quote is None
            continue
        tree = first(layers["tcp"])
        raw = raw_bytes(layers, "tcp")
        thl = int(one(tree["tcp.hdr_len"]))
        options = decode_tcp_options(raw[20:thl], area_len=thl - 20)
        assert options.mss_all == mss_values(tree)
        mss_seen.append((options.mss_all, options.malformed))
        if number != 5:  # frame 5's TCP bytes are hand-written with a zero checksum
            assert one(tree["tcp.checksum.status"]) == "1"  # our checksums are right
    assert mss_seen == [
        ((1460,), False),
        ((1460, 1400), False),
        ((536,), True),
        ((1460,), True),
    ]
