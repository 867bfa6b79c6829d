"""End to end: `mtuscope middlebox` and two capture points in the middlebox lab scenarios.

Each scenario of `mtuscope.lab.middlebox_scenarios` (an MSS clamp on the second
of three routers, a masquerading router, a TCP relay on a router) is brought up
once. For IPv4 and IPv6 the CLI runs as a separate process in the client
namespace; its JSON report is validated against the schema and compared with
the scenario's truth (which hop changed what, who answered the SYN, under 1 s).
Then a real connection goes from the client to the server while tcpdump
captures in both namespaces: the SYNs seen at the two points (read with dpkt,
an independent decoder) show what the box did — another MSS, another source
address, another initial sequence number — and `mtuscope compare` on the two
captures must name the same MSS rewrite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dpkt
import pytest

from e2e.lablib import SRC, why_not
from mtuscope.active.middlebox import SYN_PROBE_SIZE
from mtuscope.lab import Lab, Scenario
from mtuscope.lab.middlebox_scenarios import (
    MIDDLEBOX_SCENARIOS,
    MIDDLEBOX_TRUTH,
    MiddleboxTruth,
    relay_argv,
)
from mtuscope.lab.traffic import client_argv, server_argv
from mtuscope.report.schema import validate_report

pytestmark = pytest.mark.raw_socket

SENT_MSS = {4: 1460, 6: 1440}
"""What the probes announce (active/probe_packet.py SYN_MSS)."""
ENTRY = ["-m", "mtuscope"]


@dataclass(frozen=True)
class Syn:
    src: str
    seq: int
    mss: int | None
    sport: int = 0


def _syns(path: Path, port: int) -> list[Syn]:
    """SYNs (without ACK) to `port` in a pcap, read with dpkt."""
    out = []
    with path.open("rb") as fh:
        for _ts, buf in dpkt.pcap.Reader(fh):
            ip = dpkt.ethernet.Ethernet(buf).data
            if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
                continue
            tcp = ip.data
            if not isinstance(tcp, dpkt.tcp.TCP) or tcp.dport != port:
                continue
            if not tcp.flags & dpkt.tcp.TH_SYN or tcp.flags & dpkt.tcp.TH_ACK:
                continue
            mss = None
            for kind, data in dpkt.tcp.parse_opts(tcp.opts):
                if kind == dpkt.tcp.TCP_OPT_MSS:
                    mss = int.from_bytes(data, "big")
            family = 4 if isinstance(ip, dpkt.ip.IP) else 6
            addr = dpkt.utils.inet_to_str(ip.src) if family == 4 else _v6(ip.src)
            out.append(Syn(src=addr, seq=tcp.seq, mss=mss, sport=tcp.sport))
    return out


def _v6(raw: bytes) -> str:
    import ipaddress

    return str(ipaddress.IPv6Address(raw))


def addr_of(scenario: Scenario, family: int) -> str:
    return str(scenario.address("server", family))


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout) if done.stdout.strip() else None


def _run_family(lab: Lab, truth: MiddleboxTruth, family: int, tmp: Path) -> dict[str, Any]:
    addr = str(lab.address("server", family))
    port = truth.port
    env = {**os.environ, "PYTHONPATH": SRC}
    relay = responder = None
    if truth.proxy is not None:
        # Killed below once the family is done; 120 s outlives every run of it on a loaded
        # machine (30 s did not: the responder check found the relay gone).
        relay = lab.popen(truth.proxy, relay_argv(seconds=120), env=env, stdout=subprocess.PIPE,
                          text=True)  # fmt: skip
        assert relay.stdout is not None and "listening" in relay.stdout.readline()
    server = lab.popen("server", server_argv(addr, port, nbytes=20000, timeout=20),
                       stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        cmd = ["env", f"PYTHONPATH={SRC}", sys.executable, *ENTRY]
        started = time.monotonic()
        done = lab.exec(
            "client", [*cmd, "middlebox", addr, "--port", str(port), "--json"], check=False
        )
        wall = time.monotonic() - started
        # --src must be one of the client namespace's own addresses: the server's is not.
        spoofed = lab.exec(
            "client",
            [*cmd, "middlebox", addr, "--port", str(port), "--src", addr, "--json"],
            check=False,
        )
        pcaps = (tmp / f"client{family}.pcap", tmp / f"server{family}.pcap")
        with (
            lab.capture("client", "c-r1", pcaps[0], bpf=("tcp", "port", str(port))),
            lab.capture("server", "r3-s", pcaps[1], bpf=("tcp", "port", str(port))),
        ):
            fetched = lab.exec("client", client_argv(addr, port, timeout=10), check=False)
        compared = lab.exec(
            "client", [*cmd, "compare", str(pcaps[0]), str(pcaps[1]), "--json"], check=False
        )
        # probe and trace with TCP probes must tell a proxy's SYN/ACK from the server's
        # (after the fetch: the server takes one client; a closed port answers RST).
        path_runs = {
            verb: lab.exec("client", [*cmd, verb, addr, "--port", str(port), "--json"], check=False)
            for verb in ("probe", "trace")
        }
        # The two-ended check: `mtuscope responder` records the SYN as it arrived.
        server.kill()
        server.communicate(timeout=10)
        responder = lab.popen(
            "server",
            [*cmd, "responder", "--bind", addr, "--port", str(port), "--max-connections", "1",
             "--no-reverse"],
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert responder.stderr is not None and "listening" in responder.stderr.readline()
        target = f"[{addr}]:{port}" if family == 6 else f"{addr}:{port}"
        checked = lab.exec(
            "client", [*cmd, "responder-check", target, "--json", "--no-reverse"], check=False
        )
    finally:
        for proc in (server, relay, responder):
            if proc is not None and proc.returncode is None:
                proc.kill()
                proc.communicate(timeout=10)
    return {
        "code": done.returncode,
        "doc": _json(done),
        "stderr": done.stderr,
        "wall": wall,
        "spoofed": spoofed,
        "paths": {
            verb: (done.returncode, _json(done), done.stderr) for verb, done in path_runs.items()
        },
        "fetch": _json(fetched),
        "client_syns": _syns(pcaps[0], port),
        "server_syns": _syns(pcaps[1], port),
        "compare": _json(compared),
        "compare_stderr": compared.stderr,
        "responder": _json(checked),
        "responder_stderr": checked.stderr,
    }


@pytest.fixture(scope="module", params=[s.name for s in MIDDLEBOX_SCENARIOS])
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Scenario, MiddleboxTruth, dict[int, dict[str, Any]]]]:
    """One lab per scenario; every run of the module happens here, once."""
    why = why_not()
    if why is not None:
        pytest.skip(why)
    scenario = next(s for s in MIDDLEBOX_SCENARIOS if s.name == request.param)
    truth = MIDDLEBOX_TRUTH[scenario.name]
    tmp = tmp_path_factory.mktemp(scenario.name)
    with Lab.up(scenario) as lab:
        out = {family: _run_family(lab, truth, family, tmp) for family in truth.families}
    yield scenario, truth, out


@pytest.mark.parametrize("family", [4, 6])
def test_walk_matches_the_truth(
    runs: tuple[Scenario, MiddleboxTruth, dict[int, dict[str, Any]]], family: int
) -> None:
    scenario, truth, by_family = runs
    run = by_family[family]
    doc = run["doc"]
    assert run["code"] == 0 and doc is not None, run["stderr"]
    validate_report(doc)
    assert doc["kind"] == "middlebox" and doc["family"] == family
    assert doc["stop_reason"] == "reached"
    # Speed goal: a few hops in under a second (the probing itself, and the whole
    # process with interpreter start-up given some slack on a loaded machine).
    assert doc["probes"]["seconds"] < 1.0 and run["wall"] < 15.0
    routers = scenario.hops
    answered_at = scenario.hop_index(truth.proxy) if truth.proxy else len(routers) + 1
    expect_hops = [str(scenario.too_big_source(r, family)) for r in routers[: answered_at - 1]]
    assert [h["address"] for h in doc["hops"]] == expect_hops
    # Linux quotes the whole 60/80-byte SYN (up to 576 / 1280 bytes, RFC 1812, RFC 4443).
    size = SYN_PROBE_SIZE[family]
    assert all(not h["too_short"] and h["quote_bytes"] == size for h in doc["hops"])
    dest = doc["destination"]
    assert dest["reached"] and dest["syn_ack"] and dest["ttl"] == answered_at
    assert truth.syn_ack_mss is not None and dest["mss"] == truth.syn_ack_mss[family]
    changes = [(c["field"], c["before"], c["after"], c["from_hop"], c["to_hop"])
               for c in doc["changes"]]  # fmt: skip
    expected = [
        (
            e.field,
            SENT_MSS[family] if e.before is None else e.before,
            e.after,
            scenario.hop_index(e.from_node),
            scenario.hop_index(e.to_node),
        )
        for e in truth.changes
    ]
    assert changes == expected
    for change, e in zip(doc["changes"], truth.changes, strict=True):
        assert change["from_address"] == str(scenario.too_big_source(e.from_node, family))
        assert change["to_address"] == str(scenario.too_big_source(e.to_node, family))
    kinds = sorted(f["kind"] for f in doc["findings"])
    # A relay that answers for the server is a TCP proxy, not an ISN randomiser.
    want = ["mss-rewritten"] * len(truth.changes) + ["tcp-proxy"] * (truth.proxy is not None)
    assert kinds == sorted(want)
    assert not any("ISN randomisation" in f["advice"] for f in doc["findings"])
    # The destination's own echo reply (TTL 255) came back across every router.
    echo = doc["destination_echo"]
    assert echo["reply"] == "echo-reply" and echo["address"] == addr_of(scenario, family)
    if truth.proxy is not None:
        proxy = str(scenario.too_big_source(truth.proxy, family))
        assert doc["tcp_terminated_at"]["address"] == proxy
        assert doc["tcp_terminated_at"]["ttl"] == answered_at
        (finding,) = [f for f in doc["findings"] if f["kind"] == "tcp-proxy"]
        assert finding["severity"] == "warning"
        assert f"A TCP proxy at hop {answered_at} ({proxy}) answers for" in finding["summary"]
        # Linux starts at 64: the relay's SYN/ACK crossed the routers before it, the
        # server's echo reply every router.
        assert finding["facts"]["syn_ack_hops"] == answered_at - 1
        assert finding["facts"]["destination_hops"] == len(routers)
        ttl = "ip.ttl" if family == 4 else "ipv6.hlim"
        assert {e["field"] for e in finding["evidence"]} == {
            "icmp.type" if family == 4 else "icmpv6.type",
            ttl,
        }
    else:
        assert doc["tcp_terminated_at"] is None


@pytest.mark.parametrize("family", [4, 6])
def test_two_capture_points_show_what_the_box_did(
    runs: tuple[Scenario, MiddleboxTruth, dict[int, dict[str, Any]]], family: int
) -> None:
    scenario, truth, by_family = runs
    run = by_family[family]
    assert run["fetch"] is not None and run["fetch"]["received"] == 20000, run["fetch"]
    (client_syn,) = run["client_syns"]
    (server_syn,) = run["server_syns"]
    client_addr = str(scenario.address("client", family))
    assert client_syn.src == client_addr and client_syn.mss == SENT_MSS[family]
    assert server_syn.mss == (truth.upstream_mss or SENT_MSS[family])
    if truth.nat is not None:
        assert server_syn.src == str(scenario.link("r1-r2").address(truth.nat, family))
    elif truth.proxy is not None:
        assert server_syn.src == str(scenario.link("r2-r3").address(truth.proxy, family))
    else:
        assert server_syn.src == client_addr
    assert (server_syn.seq != client_syn.seq) == truth.new_isn
    # `compare` on the same two captures must name the MSS rewrite too.
    doc = run["compare"]
    assert doc is not None, run["compare_stderr"]
    validate_report(doc)
    kinds = {f["kind"] for f in doc["findings"]}
    assert ("mss-rewritten" in kinds) == (truth.upstream_mss is not None), doc["findings"]
    # The relay splits the connection in two: a TCP proxy, no ISN rewrite; the NAT is seen.
    assert ("tcp-proxy" in kinds) == (truth.proxy is not None), doc["findings"]
    assert "isn-rewritten" not in kinds, doc["findings"]
    assert ("address-translated" in kinds) == (truth.nat is not None), doc["findings"]
    if truth.nat is not None:
        # compare paired the translated connection with the original: one match, nothing
        # left over at either point, the client's address at A and the NAT's at B.
        assert (doc["only_a"], doc["only_b"]) == ([], []), doc
        (match,) = doc["matches"]
        assert "client address" in match["nat"], match
        a, b = match["handshake"]["a"], match["handshake"]["b"]
        assert (a["client"], a["client_port"]) == (client_addr, client_syn.sport)
        assert (b["client"], b["client_port"]) == (server_syn.src, server_syn.sport)
        assert a["server"] == b["server"] == str(scenario.address("server", family))
        assert a["server_port"] == b["server_port"] == truth.port
        (nat,) = [f for f in doc["findings"] if f["kind"] == "address-translated"]
        assert nat["facts"]["connections"] == 1, nat
        assert "client address" in nat["facts"]["translated"], nat
        flows = {(Path(e["capture"]).name, e["observed"].split(" -> ")[0]) for e in nat["evidence"]}
        assert (f"client{family}.pcap", f"{client_addr}:{client_syn.sport}") in flows, nat
        assert (f"server{family}.pcap", f"{server_syn.src}:{server_syn.sport}") in flows, nat


@pytest.mark.parametrize("family", [4, 6])
def test_responder_sees_the_same_box(
    runs: tuple[Scenario, MiddleboxTruth, dict[int, dict[str, Any]]], family: int
) -> None:
    scenario, truth, by_family = runs
    run = by_family[family]
    doc = run["responder"]
    assert doc is not None, run["responder_stderr"]
    validate_report(doc)
    kinds = {f["kind"] for f in doc["findings"]}
    assert ("mss-rewritten" in kinds) == (truth.upstream_mss is not None), doc["findings"]
    # The relay's new connection is a TCP proxy; its ISN is its own, no ISN rewrite.
    assert ("tcp-proxy" in kinds) == (truth.proxy is not None), doc["findings"]
    assert "isn-rewritten" not in kinds, doc["findings"]
    # The NAT is invisible in the quotes (Linux translates them back), not to the responder.
    assert ("address-translated" in kinds) == (truth.nat is not None), doc["findings"]
    if truth.nat is not None:
        (nat,) = [f for f in doc["findings"] if f["kind"] == "address-translated"]
        seen_as = str(scenario.link("r1-r2").address(truth.nat, family))
        assert nat["facts"]["address"] == seen_as
        assert nat["facts"]["original_address"] == str(scenario.address("client", family))
    translated = doc["two_ended"]["translated"]
    box = truth.nat or truth.proxy
    if box is None:
        assert "client.address" not in translated
    else:
        link = "r1-r2" if truth.nat else "r2-r3"
        seen = str(scenario.link(link).address(box, family))
        assert translated["client.address"] == [str(scenario.address("client", family)), seen]


@pytest.mark.parametrize("family", [4, 6])
def test_src_of_another_host_is_refused(
    runs: tuple[Scenario, MiddleboxTruth, dict[int, dict[str, Any]]], family: int
) -> None:
    _, _, by_family = runs
    done = by_family[family]["spoofed"]
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "not an address of this host" in line


@pytest.mark.parametrize("verb", ["probe", "trace"])
@pytest.mark.parametrize("family", [4, 6])
def test_probe_and_trace_tell_a_proxy_from_the_server(
    runs: tuple[Scenario, MiddleboxTruth, dict[int, dict[str, Any]]], family: int, verb: str
) -> None:
    scenario, truth, by_family = runs
    code, doc, stderr = by_family[family]["paths"][verb]
    assert doc is not None, stderr
    validate_report(doc)
    assert code in (0, 1), doc["findings"]
    proxies = [f for f in doc["findings"] if f["kind"] == "tcp-proxy"]
    if truth.proxy is None:
        assert proxies == []
        return
    # The relay's SYN/ACK at hop 2 looks like the destination in the hop list; the
    # finding says who really answered, and why.
    at = scenario.hop_index(truth.proxy)
    assert doc["hops"][-1]["ttl"] == at
    (finding,) = proxies
    proxy = str(scenario.too_big_source(truth.proxy, family))
    assert finding["severity"] == "warning"
    assert (
        f"A TCP proxy at hop {at} ({proxy}) answers for {addr_of(scenario, family)}"
        in (finding["summary"])
    )
    assert finding["facts"]["syn_ack_hops"] == at - 1
    assert finding["facts"]["destination_hops"] == len(scenario.hops)
