"""Live tests of the lab: real namespaces, checked against the real kernel's behaviour.

Each test builds its own lab (unique `mtus-<id>-` names), sends only to lab
addresses, and checks that its namespaces are gone afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from mtuscope.errors import LabError, UsageError
from mtuscope.lab import Lab, Node, Role, Scenario, down_all, get_scenario, lab_namespaces
from mtuscope.lab.netns import delete_namespace, list_namespaces
from mtuscope.lab.traffic import client_argv, server_argv

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

SRC = Path(__file__).resolve().parents[2] / "src"


def _ping(lab: Lab, dst: IPv4Address | IPv6Address, size: int) -> subprocess.CompletedProcess[str]:
    """One ping of an IP packet of `size` bytes with DF set (IPv6 never fragments in transit)."""
    header = 28 if dst.version == 4 else 48  # IP header + ICMP echo header
    argv = ["ping", f"-{dst.version}", "-n", "-c1", "-W0.5", "-M", "do", "-s", str(size - header)]
    return lab.exec("client", [*argv, str(dst)], check=False, timeout=5)


def _tshark(path: Path, display_filter: str, field: str) -> list[str]:
    out = subprocess.run(
        [
            "tshark",
            "-n",
            "-r",
            str(path),
            "-Y",
            display_filter,
            "-T",
            "fields",
            "-e",
            field,
            "-E",
            "occurrence=f",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line]


TOO_BIG = "(icmp[0] == 3 and icmp[1] == 4) or (icmp6 and ip6[40] == 2)"
"""BPF: ICMP frag-needed or ICMPv6 packet-too-big (first header after a plain IPv6 header)."""


@pytest.mark.parametrize("name", ["mtu-drop", "blackhole", "clean"])
def test_ping_finds_the_declared_path_mtu(name: str, tmp_path: Path) -> None:
    pcap = tmp_path / "client.pcap"
    with Lab.up(name) as lab:
        truth = lab.truth.forward
        seen_by_client = lab.capture("client", "c-r1", pcap, bpf=[TOO_BIG])
        with seen_by_client:
            for family in (4, 6):
                dst = lab.address("server", family)
                fits = _ping(lab, dst, truth.path_mtu)
                assert fits.returncode == 0, fits.stdout + fits.stderr
                too_big = _ping(lab, dst, truth.path_mtu + 1)
                assert too_big.returncode != 0
                text = too_big.stdout + too_big.stderr
                cached = lab.cached_pmtu("client", dst)
                if truth.drop_link is None:
                    # The first link itself is the limit: ping refuses locally.
                    assert "too long" in text, text
                    assert cached is None
                elif truth.icmp_withheld:
                    assert "Frag needed" not in text and "too big" not in text, text
                    assert cached is None
                else:
                    expected = f"mtu = {truth.path_mtu}" if family == 4 else "Packet too big"
                    assert expected in text, text
                    assert cached == truth.path_mtu
                    # Once learned, the kernel refuses big packets locally ...
                    again = _ping(lab, dst, truth.path_mtu + 1)
                    assert "too long" in again.stdout + again.stderr
                    # ... until the cache is flushed.
                    lab.flush_pmtu_cache("client")
                    assert lab.cached_pmtu("client", dst) is None
        namespaces = lab.namespaces
    assert not set(namespaces) & set(list_namespaces())
    frag_needed, too_big6 = "icmp.type == 3 && icmp.code == 4", "icmpv6.type == 2"
    senders4 = _tshark(pcap, frag_needed, "ip.src")
    senders6 = _tshark(pcap, too_big6, "ipv6.src")
    if truth.drop_link is None or truth.icmp_withheld:
        assert senders4 == [] and senders6 == [], "no too-big message may reach the client"
    else:
        # One frag-needed and one packet-too-big, each from the declared router's
        # address on the client's link, each with the declared MTU.
        sender = truth.too_big_from or ""
        first = get_scenario(name).link("c-r1")
        assert senders4 == [str(first.address(sender, 4))]
        assert senders6 == [str(first.address(sender, 6))]
        assert _tshark(pcap, frag_needed, "icmp.mtu") == [str(truth.path_mtu)]
        assert _tshark(pcap, too_big6, "icmpv6.mtu") == [str(truth.path_mtu)]


def test_clamp_rewrites_the_syn_mss(tmp_path: Path) -> None:
    at_client, at_server = tmp_path / "c.pcap", tmp_path / "s.pcap"
    with Lab.up("clamp") as lab:
        assert lab.truth.clamp is not None
        syn = ["(tcp[tcpflags] & tcp-syn != 0) or (ip6[6] == 6 and ip6[53] & 2 != 0)"]
        with (
            lab.capture("client", "c-r1", at_client, bpf=syn),
            lab.capture("server", "r2-s", at_server, bpf=syn),
        ):
            for family in (4, 6):
                # No listener: the server's kernel answers the SYN with a RST,
                # which is enough to see the SYN at both ends.
                dst = str(lab.address("server", family))
                fetched = lab.exec("client", client_argv(dst, 9, timeout=2), check=False)
                assert '"received": 0' in fetched.stdout
    syn_only = "tcp.flags.syn == 1 && tcp.flags.ack == 0"
    assert _tshark(at_client, syn_only, "tcp.options.mss_val") == ["1460", "1440"]
    clamped = str(lab.truth.clamp.mss)
    assert _tshark(at_server, syn_only, "tcp.options.mss_val") == [clamped, clamped]


@pytest.mark.parametrize(("name", "complete"), [("mtu-drop", True), ("blackhole", False)])
def test_tcp_transfer_survives_pmtud_and_stalls_in_the_black_hole(
    name: str, complete: bool
) -> None:
    with Lab.up(name) as lab:
        addr = str(lab.address("server", 4))
        with lab.popen(
            "server",
            server_argv(addr, 8080, nbytes=32768, timeout=3),
            stdout=subprocess.PIPE,
            text=True,
        ) as server:
            try:
                assert server.stdout is not None
                assert "listening" in server.stdout.readline()
                fetched = lab.exec("client", client_argv(addr, 8080, timeout=2), check=False)
            finally:
                server.kill()
        assert (fetched.returncode == 0) is complete, fetched.stdout
        assert ('"received": 32768' in fetched.stdout) is complete


def test_teardown_when_the_body_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), Lab.up("clean") as lab:
        namespaces = lab.namespaces
        assert set(namespaces) <= set(lab_namespaces())
        # A process left running in the lab does not keep it alive.
        left = lab.popen("server", ["sleep", "30"])
        raise RuntimeError("boom")
    assert not set(namespaces) & set(list_namespaces())
    assert left.wait(timeout=5) == -9
    with pytest.raises(LabError, match="not up"):
        lab.exec("client", ["true"])


def test_half_built_lab_is_removed() -> None:
    base = get_scenario("clean")
    broken = Scenario(
        name="broken-nft",
        description="r1's ruleset does not parse",
        nodes=(
            *base.nodes[:1],
            Node(name="r1", role=Role.ROUTER, nft="this is not nft"),
            *base.nodes[2:],
        ),  # fmt: skip
        links=base.links,
        client=base.client,
        server=base.server,
        forward=base.forward,
        reverse=base.reverse,
    )
    with pytest.raises(LabError, match="nft"):
        Lab.up(broken, run_id="t0broken")
    assert lab_namespaces("mtus-t0broken-") == ()


def test_atexit_removes_a_lab_that_was_never_brought_down() -> None:
    code = "from mtuscope.lab import Lab\nlab = Lab.up('clean')\nprint(lab.run_id, flush=True)\n"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=30
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert run_id
    assert lab_namespaces(f"mtus-{run_id}-") == ()


def test_down_all_removes_only_lab_namespaces() -> None:
    lab = Lab.up("clean", run_id="t0downal")
    try:
        assert len(lab_namespaces("mtus-t0downal-")) == 4
        # A narrower prefix, so a run of this test cannot remove other labs in use.
        removed = down_all("mtus-t0downal-")
        assert sorted(removed) == sorted(lab.namespaces)
        assert lab_namespaces("mtus-t0downal-") == ()
    finally:
        lab.down()
    with pytest.raises(UsageError):
        down_all("not-ours-")
    with pytest.raises(UsageError):
        delete_namespace("default")


def _largest_tcp_packet_at_server(lab: Lab, pcap: Path) -> int:
    addr = str(lab.address("server", 4))
    with (
        lab.capture("server", "r2-s", pcap, snaplen=96, bpf=["tcp"]),
        lab.popen(
            "server",
            server_argv(addr, 8080, nbytes=65536, timeout=3),
            stdout=subprocess.PIPE,
            text=True,
        ) as server,
    ):
        try:
            assert server.stdout is not None
            assert "listening" in server.stdout.readline()
            fetched = lab.exec("client", client_argv(addr, 8080, timeout=3), check=False)
            assert fetched.returncode == 0, fetched.stdout
        finally:
            server.kill()
    return max(int(x) for x in _tshark(pcap, "tcp", "ip.len"))


@pytest.mark.parametrize(
    "use_ethtool",
    [
        pytest.param(
            True,
            marks=pytest.mark.skipif(not shutil.which("ethtool"), reason="ethtool not installed"),
        ),
        False,
    ],
)
def test_captures_on_the_sender_show_wire_sized_segments(use_ethtool: bool, tmp_path: Path) -> None:
    with Lab.up("clean", use_ethtool=use_ethtool) as lab:
        assert lab.offloads_disabled is use_ethtool
        # With TSO/GSO on, tcpdump on the sending veth would see 64 KiB super-segments.
        assert _largest_tcp_packet_at_server(lab, tmp_path / "s.pcap") == 1500


@pytest.mark.skipif(not shutil.which("tracepath"), reason="tracepath not installed")
@pytest.mark.parametrize("name", ["clean", "mtu-drop", "vxlan", "two-drops"])
def test_tracepath_agrees_with_the_truth_both_ways(name: str) -> None:
    """An independent tool (iputils tracepath) finds the declared path MTU and hop count."""
    with Lab.up(name) as lab:
        sc = lab.truth
        for src, dst, truth in (
            (sc.client, sc.server, sc.forward),
            (sc.server, sc.client, sc.reverse),
        ):
            for family in (4, 6):
                target = str(lab.address(dst, family))
                argv = ["tracepath", f"-{family}", "-n", "-m", "6", target]
                out = lab.exec(src, argv, timeout=15).stdout
                hops = len(sc.hops) + 1
                assert f"Resume: pmtu {truth.path_mtu} hops {hops} back {hops}" in out, out
