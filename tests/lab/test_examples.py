"""The bundled example captures tell the stories examples/README.md says they tell.

Checked with tshark (the oracle), so an analyzer's tests can rely on them; and
the README's file table is checked against the files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(not shutil.which("tshark"), reason="needs tshark on PATH"),
]


def _fields(name: str, display_filter: str, *fields: str) -> list[tuple[str, ...]]:
    argv = ["tshark", "-n", "-r", str(EXAMPLES / name), "-Y", display_filter, "-T", "fields"]
    for field in fields:
        argv += ["-e", field]
    out = subprocess.run(
        [*argv, "-E", "occurrence=f"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]


SYN = "tcp.flags.syn == 1 && tcp.flags.ack == 0"
SYNACK = "tcp.flags.syn == 1 && tcp.flags.ack == 1"


def test_readme_lists_every_capture_and_each_is_small() -> None:
    readme = (EXAMPLES / "README.md").read_text()
    pcaps = sorted(p.name for p in EXAMPLES.glob("*.pcap"))
    assert len(pcaps) == 8
    for name in pcaps:
        size = (EXAMPLES / name).stat().st_size
        assert size < 300_000, name
        packets = len(_fields(name, "frame", "frame.number"))
        assert f"| `{name}` | {packets} | {size} |" in readme, name


@pytest.mark.parametrize(("name", "mss"), [("pmtud-ok", "1460"), ("pmtud-ok-v6", "1440")])
def test_pmtud_ok_server_sees_big_segments_then_too_big_then_small(name: str, mss: str) -> None:
    server = f"{name}-server.pcap"
    v6 = name.endswith("v6")
    length = "ipv6.plen" if v6 else "ip.len"
    big, small = ("1460", "1360") if v6 else ("1500", "1400")
    assert _fields(server, SYN, "frame.number", "tcp.options.mss_val") == [("1", mss)]
    data = _fields(server, "tcp.len > 0 && !icmp && !icmpv6", "frame.number", length)
    assert [f for f, size in data if size == big] == [
        str(n) for n in (*range(4, 9), *range(14, 19))
    ]
    too_big = "icmpv6.type == 2" if v6 else "icmp.type == 3 && icmp.code == 4"
    mtu = "icmpv6.mtu" if v6 else "icmp.mtu"
    src = "ipv6.src" if v6 else "ip.src"
    router = "2001:db8:0:3::1" if v6 else "203.0.113.1"
    icmp = _fields(server, too_big, "frame.number", mtu, src)
    assert icmp == [(str(n), "1400", router) for n in (*range(9, 14), *range(19, 24))]
    retrans = _fields(server, "tcp.analysis.retransmission", "frame.number", length)
    assert [f for f, _ in retrans] == [str(n) for n in (*range(24, 30), *range(31, 37))]
    assert retrans[0][1] == small
    # After the last too-big message, no data packet leaves the server over 1400 bytes.
    assert all(int(size) <= int(small) for f, size in data if int(f) > 23)
    client = f"{name}-client.pcap"
    sizes = [int(s) for _, s in _fields(client, "tcp.len > 0", "frame.number", length)]
    assert max(sizes) == int(small)
    assert _fields(client, "icmp || icmpv6", "frame.number") == []


def test_blackhole_server_retransmits_the_same_segment_unanswered() -> None:
    server = _fields(
        "blackhole-server.pcap", "tcp", "frame.number", "ip.src", "ip.len", "tcp.seq", "tcp.len"
    )
    assert _fields("blackhole-server.pcap", "icmp", "frame.number") == []
    retrans = _fields(
        "blackhole-server.pcap", "tcp.analysis.retransmission", "frame.number", "tcp.seq", "ip.len"
    )
    assert retrans == [(str(n), "1", "1500") for n in range(15, 20)]
    # Nothing from the client between the handshake's ACK and its FIN at frame 20.
    from_client = [row[0] for row in server if row[1] == "192.0.2.1"]
    assert from_client == ["1", "3", "20"]
    client = _fields("blackhole-client.pcap", "tcp", "frame.number", "tcp.len")
    assert [length for _, length in client] == ["0"] * 5


def test_clamp_rewrites_mss_between_the_two_captures() -> None:
    at_client = _fields(
        "clamp-client.pcap", "tcp.flags.syn == 1", "frame.number", "tcp.options.mss_val"
    )
    at_server = _fields(
        "clamp-server.pcap", "tcp.flags.syn == 1", "frame.number", "tcp.options.mss_val"
    )
    assert at_client == [("1", "1460"), ("2", "1300")]
    assert at_server == [("1", "1300"), ("2", "1460")]
    sizes = {s for (s,) in _fields("clamp-server.pcap", "tcp.len > 0", "ip.len")}
    assert max(int(s) for s in sizes) == 1340


@pytest.mark.parametrize(("name", "tail"), [("pmtud-ok", "552"), ("pmtud-ok-v6", "532")])
def test_pmtud_ok_server_resends_each_run_as_five_full_packets_and_a_tail(
    name: str, tail: str
) -> None:
    length = "ipv6.plen" if name.endswith("v6") else "ip.len"
    small = "1360" if name.endswith("v6") else "1400"
    retrans = _fields(f"{name}-server.pcap", "tcp.analysis.retransmission", "frame.number", length)
    assert retrans == [
        (str(n), tail if n in (29, 36) else small) for n in (*range(24, 30), *range(31, 37))
    ]


def test_pmtud_ok_client_sees_four_retransmitted_segments() -> None:
    # examples/README.md: seq 27961 and 29309 arrive late (frames 65-66, after the
    # SACK of frame 64) and again (77-78), reported as duplicates by the D-SACK of 79.
    client = "pmtud-ok-client.pcap"
    flagged = _fields(client, "tcp.analysis.flags && tcp.len > 0", "frame.number", "tcp.seq")
    assert [f for f, _ in flagged if f != "48"] == ["65", "66", "77", "78"]
    assert [s for f, s in flagged if f != "48"] == ["27961", "29309"] * 2
    sack = _fields(client, "frame.number == 64 || frame.number == 79", "tcp.options.sack_le")
    assert sack == [("30657",), ("27961",)]
    assert _fields(client, "tcp.flags.fin == 1", "frame.number") == [("80",), ("81",)]
    analysed = subprocess.run(
        [sys.executable, "-m", "mtuscope", "analyze", "--json", str(EXAMPLES / client)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    (conn,) = json.loads(analysed)["connections"]
    assert conn["retransmissions"] == 4
    readme = " ".join((EXAMPLES / "README.md").read_text().split())
    assert "no retransmission visible" not in readme
    assert "Four segments arrive out of order or twice (`mtuscope analyze` counts 4" in readme


def test_pmtud_ok_server_resends_the_overtaken_pair_after_the_sack() -> None:
    server = "pmtud-ok-server.pcap"
    sent = _fields(server, "tcp.seq == 27961 || tcp.seq == 29309", "frame.number", "tcp.seq")
    assert sent == [("53", "27961"), ("54", "29309"), ("97", "27961"), ("98", "29309")]
    sack = _fields(server, "frame.number == 96 || frame.number == 99", "tcp.options.sack_le")
    assert sack == [("30657",), ("27961",)]
    analysed = subprocess.run(
        [sys.executable, "-m", "mtuscope", "analyze", "--json", str(EXAMPLES / server)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    (conn,) = json.loads(analysed)["connections"]
    assert conn["retransmissions"] == 14
