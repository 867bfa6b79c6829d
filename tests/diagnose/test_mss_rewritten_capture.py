"""`mss-rewritten` from one capture point: many unrelated hosts announcing the same value
no default stack uses (issue 11 point 12). The captures are built here as real pcap files
(raw IP link type) and go through `mtuscope analyze`."""

from __future__ import annotations

import json
import struct
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest

from mtuscope.cli import main
from mtuscope.diagnose.rules.mss_rewritten import MIN_HOSTS, MIN_NETWORKS
from mtuscope.report.schema import validate_report
from mtuscope.wire.builders import build_tcp
from mtuscope.wire.tcp import TcpFlags

LINKTYPE_RAW = 101
CLIENT4 = "192.0.2.10"
CLIENT6 = "2001:db8:ffff::10"
# The three IPv4 documentation /16s (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24).
NETS4 = ("192.0.2.", "198.51.100.", "203.0.113.")
SYNACK = TcpFlags.SYN | TcpFlags.ACK


def _pcap(path: Path, packets: list[bytes]) -> Path:
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_RAW))
        for i, p in enumerate(packets):
            out.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(p), len(p)) + p)
    return path


def _handshake(
    client: str, server: str, sport: int, *, client_mss: int, server_mss: int
) -> list[bytes]:
    c, s = ip_address(client), ip_address(server)
    syn = build_tcp(
        src=c, dst=s, sport=sport, dport=443, seq=1000, mss=client_mss,
        sack_permitted=True, wscale=7,
    )  # fmt: skip
    synack = build_tcp(
        src=s, dst=c, sport=443, dport=sport, seq=5000, ack=1001, flags=SYNACK,
        mss=server_mss, sack_permitted=True, wscale=7, ttl=52,
    )  # fmt: skip
    ack = build_tcp(src=c, dst=s, sport=sport, dport=443, seq=1001, ack=5001, flags=TcpFlags.ACK)
    return [syn, synack, ack]


def _servers4(count: int, networks: int) -> list[str]:
    return [f"{NETS4[i % networks]}{100 + i}" for i in range(count)]


def _capture(
    tmp_path: Path,
    servers: list[str],
    *,
    server_mss: int = 1360,
    client_mss: int = 1460,
    extra: list[tuple[str, int]] | None = None,
    client: str = CLIENT4,
    at_server: bool = False,
) -> None:
    packets: list[bytes] = []
    port = 40000
    for s, mss in [*((s, server_mss) for s in servers), *(extra or [])]:
        port += 1
        if at_server:  # the servers are the clients here: many clients, one server
            packets += _handshake(s, client, port, client_mss=mss, server_mss=1460)
        else:
            packets += _handshake(client, s, port, client_mss=client_mss, server_mss=mss)
    path = _pcap(tmp_path / "case.pcap", packets)
    assert main(["analyze", "--json", str(path)]) in (0, 1)


def _rewritten(capsys: pytest.CaptureFixture[str], *args: Any, **kw: Any) -> list[Any]:
    _capture(*args, **kw)
    doc = json.loads(capsys.readouterr().out)
    validate_report(doc)
    return [f for f in doc["findings"] if f["kind"] == "mss-rewritten"]


def test_many_servers_in_many_networks_with_one_clamp_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = _servers4(12, 3)
    (f,) = _rewritten(capsys, tmp_path, servers)
    facts = f["facts"]
    assert facts["mss"] == 1360 and facts["side"] == "server"
    assert facts["hosts"] == 12 and facts["networks"] == 3 and facts["connections"] == 12
    assert facts["peer_mss"] == 1460
    assert "adjust-mss 1360" in facts["convention"]
    assert "12 servers in 3 networks" in f["summary"] and "clamp on the way" in f["summary"]
    assert "while the clients announced 1460" in f["summary"]
    # One SYN/ACK cited per server (at most 8), then a client SYN.
    frames = [e["frame"] for e in f["evidence"]]
    assert frames[:3] == [2, 5, 8] and len(frames) == 9
    assert f["evidence"][-1]["observed"] == 1460


def test_the_thresholds_both_sides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (MIN_HOSTS, MIN_NETWORKS) == (5, 3)
    assert len(_rewritten(capsys, tmp_path, _servers4(5, 3))) == 1
    assert _rewritten(capsys, tmp_path, _servers4(4, 3)) == []  # too few servers
    assert _rewritten(capsys, tmp_path, _servers4(12, 2)) == []  # too few networks


def test_stack_defaults_and_servers_above_prove_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    servers = _servers4(12, 3)
    # 1460 is what every Ethernet host announces by itself.
    assert _rewritten(capsys, tmp_path, servers, server_mss=1460) == []
    # Two servers of 14 announce more: a clamp would have capped them; no finding.
    above = [("203.0.113.200", 1460), ("198.51.100.201", 1460)]
    assert _rewritten(capsys, tmp_path, servers, extra=above) == []
    # Clients that announced the same value: servers answering with the peer's MSS
    # (load balancers, some stacks) would agree on it too; no rewrite shown.
    assert _rewritten(capsys, tmp_path, servers, client_mss=1360) == []
    # One of 13 above (a host reached around the clamp) is tolerated.
    (f,) = _rewritten(capsys, tmp_path, servers, extra=above[:1])
    assert f["facts"]["hosts_above"] == 1


def test_clients_syns_seen_at_a_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clients = [f"2001:db8:{n:x}::{n}" for n in range(1, 7)]
    (f,) = _rewritten(
        capsys, tmp_path, clients, server_mss=1340, client=CLIENT6.replace("ffff", "aaaa"),
        at_server=True,
    )  # fmt: skip
    facts = f["facts"]
    assert facts["side"] == "client" and facts["family"] == 6 and facts["mss"] == 1340
    assert facts["hosts"] == 6 and facts["networks"] == 6 and facts["network_prefix"] == 48
    assert facts["peer_mss"] == 1460
    assert "The SYNs of 6 clients" in f["summary"]
    assert all(ip_address(e["note"].split()[-1]).version == 6 for e in f["evidence"][:-1])
