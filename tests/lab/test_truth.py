"""Every scenario's declared truth, checked against the real kernel, both ways, IPv4 and IPv6.

One-way, not round trip: a ping's echo request is watched arriving (tcpdump on
the far host's link), so a reply lost or fragmented on the way back cannot
mislead. Too-big messages are captured at the sender and read with tshark
(sender address, MTU field, checksum). Each test builds its own lab and sends
only to lab addresses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from mtuscope.lab import SCENARIOS, DirectionTruth, Lab, ProbeKind
from mtuscope.lab.netns import list_namespaces
from mtuscope.lab.traffic import server_argv

_MISSING = [t for t in ("ip", "ping", "tcpdump", "tshark", "nft", "sysctl") if not shutil.which(t)]
pytestmark = [
    pytest.mark.raw_socket,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux namespaces"),
    pytest.mark.skipif(
        sys.platform.startswith("linux") and os.geteuid() != 0,
        reason="needs root (CAP_NET_ADMIN) to create network namespaces",
    ),
    pytest.mark.skipif(bool(_MISSING), reason=f"missing tools: {', '.join(_MISSING)}"),
]

ECHO_REQUEST = "(icmp and icmp[0] == 8) or (icmp6 and ip6[40] == 128)"
TOO_BIG = "(icmp and icmp[0] == 3 and icmp[1] == 4) or (icmp6 and ip6[40] == 2)"


def _ping(lab: Lab, src: str, dst: IPv4Address | IPv6Address, size: int) -> None:
    """One echo request of an IP packet of `size` bytes with DF set; the reply does not matter."""
    header = 28 if dst.version == 4 else 48
    argv = ["ping", f"-{dst.version}", "-n", "-c1", "-W0.3", "-M", "do", "-s", str(size - header)]
    lab.exec(src, [*argv, str(dst)], check=False, timeout=5)


def _tshark(path: Path, display_filter: str, *fields: str) -> list[tuple[str, ...]]:
    argv = ["tshark", "-n", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    for field in fields:
        argv += ["-e", field]
    out = subprocess.run(
        [*argv, "-E", "occurrence=f"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def _flush(lab: Lab, *nodes: str) -> None:
    for node in nodes:
        lab.flush_pmtu_cache(node)


def _check_direction(lab: Lab, truth: DirectionTruth, *, reverse: bool, tmp: Path) -> None:
    sc = lab.truth
    path = sc.path(reverse=reverse)
    src, dst = path[0], path[-1]
    arrived, back = tmp / f"arrived-{reverse}.pcap", tmp / f"back-{reverse}.pcap"
    want_too_big: list[tuple[str, str, str]] = []
    with (
        lab.capture(dst, lab.interface(dst, path[-2]), arrived, bpf=[ECHO_REQUEST]),
        lab.capture(src, lab.interface(src, path[1]), back, bpf=[TOO_BIG]),
    ):
        for family in (4, 6):
            target = lab.address(dst, family)
            pmtu = truth.pmtu(family)
            # Every probe starts from empty PMTU caches at both ends: an echo
            # reply's too-big (l2-mismatch) must not change the next probe.
            for size in (pmtu, pmtu + 1):
                _flush(lab, src, dst)
                _ping(lab, src, target, size)
            assert lab.cached_pmtu(src, target) == truth.learned(family), (family, "learned")
            if truth.too_big_sent:
                assert truth.too_big_from is not None
                source = sc.too_big_source(truth.too_big_from, family, reverse=reverse)
                want_too_big.append((str(family), str(source), str(truth.advertised_mtu())))
            for drop in truth.earlier_drops:
                _flush(lab, src, dst)
                _ping(lab, src, target, drop.mtu + 1)
                assert lab.cached_pmtu(src, target) == drop.mtu
                source = sc.too_big_source(drop.too_big_from, family, reverse=reverse)
                want_too_big.append((str(family), str(source), str(drop.mtu)))
    # Exactly the probes that fit reached the far host: one of pmtu bytes per family.
    rows = _tshark(arrived, "icmp.type == 8 || icmpv6.type == 128", "ip.len", "ipv6.plen")
    sizes = [int(v4) if v4 else int(v6) + 40 for v4, v6 in rows]
    assert sizes == [truth.pmtu(4), truth.pmtu(6)], ("arrived", sizes)
    # The too-big messages: from the declared routers, carrying the declared MTU, intact
    # (tshark checksum status 1 is "Good").
    fields = ("ip.src", "icmp.mtu", "icmp.checksum.status")
    rows = _tshark(
        back, "icmp || icmpv6", *fields, "ipv6.src", "icmpv6.mtu", "icmpv6.checksum.status"
    )
    got = [("4", *r[:3]) if r[0] else ("6", *r[3:]) for r in rows]
    assert [g[:3] for g in got] == want_too_big, (got, want_too_big)
    assert all(g[3] == "1" for g in got), got


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_path_mtu_drops_and_too_big_messages_both_ways(name: str, tmp_path: Path) -> None:
    with Lab.up(name) as lab:
        _check_direction(lab, lab.truth.forward, reverse=False, tmp=tmp_path)
        _check_direction(lab, lab.truth.reverse, reverse=True, tmp=tmp_path)
        namespaces = lab.namespaces
    assert not set(namespaces) & set(list_namespaces())


_PROBE = """
import socket, sys
addr, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
def answered(kind, port):
    s = socket.socket(fam, kind)
    s.settimeout(0.4)
    try:
        if kind == socket.SOCK_DGRAM:
            s.connect((addr, port)); s.send(b"mtuscope"); s.recv(64)
        else:
            s.connect((addr, port))
        return "1"
    except ConnectionRefusedError:  # port unreachable, or RST
        return "1"
    except TimeoutError:
        return "0"
    finally:
        s.close()
print(answered(socket.SOCK_DGRAM, 33434), *(answered(socket.SOCK_STREAM, p) for p in ports))
"""


@pytest.mark.parametrize("name", ["clean", "blackhole-filtered-dst"])
def test_server_answers_the_declared_probe_kinds(name: str) -> None:
    with Lab.up(name) as lab:
        sc = lab.truth
        ports = [8080, 9]
        for family in (4, 6):
            dst = str(lab.address("server", family))
            echo = lab.exec(
                "client", ["ping", f"-{family}", "-n", "-c1", "-W0.4", dst], check=False
            )
            out = lab.exec("client", [sys.executable, "-c", _PROBE, dst, *map(str, ports)])
            udp, *tcp = out.stdout.split()
            assert (echo.returncode == 0) is (ProbeKind.ECHO in sc.server_answers)
            assert (udp == "1") is (ProbeKind.UDP in sc.server_answers)
            for port, got in zip(ports, tcp, strict=True):
                open_port = sc.server_tcp_port in (None, port)
                want = ProbeKind.TCP_SYN in sc.server_answers and open_port
                assert (got == "1") is want, (family, port)


_SEND = """
import socket, sys
addr = sys.argv[1]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
with socket.create_connection((addr, 8080), timeout=3) as s:
    s.sendall(bytes(8192))
    s.shutdown(socket.SHUT_WR)
    while s.recv(65536):
        pass
print("done")
"""


@pytest.mark.parametrize("name", ["small-mss-server", "clean"])
def test_server_announces_the_declared_mss(name: str, tmp_path: Path) -> None:
    pcap = tmp_path / "c.pcap"
    with Lab.up(name) as lab, lab.capture("client", "c-r1", pcap, snaplen=128, bpf=["tcp"]):
        for family in (4, 6):
            addr = str(lab.address("server", family))
            with lab.popen(
                "server", server_argv(addr, 8080, nbytes=8192, timeout=3), stdout=subprocess.PIPE
            ) as server:
                try:
                    assert server.stdout is not None
                    assert b"listening" in server.stdout.readline()
                    sent = lab.exec("client", [sys.executable, "-c", _SEND, addr], timeout=10)
                    assert "done" in sent.stdout
                finally:
                    server.kill()
    sc = lab.truth
    syn_ack = "tcp.flags.syn == 1 && tcp.flags.ack == 1"
    assert _tshark(pcap, syn_ack, "tcp.options.mss_val") == [
        (str(sc.server_mss(4)),),
        (str(sc.server_mss(6)),),
    ]
    # ... and the client's kernel honours it: its largest segment per family, payload
    # plus TCP options (timestamps, RFC 9293 §3.7.1: the MSS counts both), is that MSS.
    for family, field in ((4, "ip.src"), (6, "ipv6.src")):
        client = str(sc.address("client", family))
        rows = _tshark(pcap, f"{field} == {client}", "tcp.len", "tcp.hdr_len")
        largest = max(int(n) + int(hdr) - 20 for n, hdr in rows)
        assert largest == sc.server_mss(family), family
