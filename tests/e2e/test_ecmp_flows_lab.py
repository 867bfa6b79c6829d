"""End to end: flow ids follow ECMP branches with different MTUs (the trippy 873 ask).

The `mtu-drop` lab gets a second link between r1 and r2 at 1300 bytes beside
the 1400 one, and r1 a two-way multipath route to the server's prefix, hashed
on the 5-tuple (`fib_multipath_hash_policy=1`). A probe run with a flow id
(`PathOptions.flow`) sends every probe from that flow's one source port, so
the whole run takes one branch: each flow's path MTU is exact (1400 or 1300),
the same run after run, and across the flows both branches show up. The
kernel's hash decides which flow takes which branch (its seed is random per
namespace), so the test asks for 12 flows: the chance that all take one branch
is 2 in 4096.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from e2e.lablib import SRC, why_not
from mtuscope.lab import Lab

pytestmark = pytest.mark.raw_socket

SERVER = "203.0.113.2"
PORT = 8080
FLOWS = 12
SCRIPT = """
import json, sys
from mtuscope.jobs.path import probe_kind
from mtuscope.jobs.probe import ProbeOptions, probe
from mtuscope.report.serialize import to_dict
for run in (0, 1):
    for flow in range(int(sys.argv[2])):
        doc = to_dict(probe(ProbeOptions(host=sys.argv[1], port=8080, kind=probe_kind("tcp"),
                                         flow=flow, max_seconds=20)))
        drop = doc["mtu_drop"] or {}
        print(json.dumps({"run": run, "flow": flow, "pmtu": doc["pmtu"],
                          "stop": doc["stop_reason"], "to_mtu": drop.get("to_mtu")}), flush=True)
"""


def _ecmp(lab: Lab) -> None:
    """A second r1-r2 link at 1300 and a multipath route over both, hashed on L4."""
    r2 = lab.namespace("r2")
    lab.exec("r1", ["ip", "link", "add", "r1-r2b", "mtu", "1300", "type", "veth",
                    "peer", "name", "r1-r2b", "netns", r2])  # fmt: skip
    for node in ("r1", "r2"):
        lab.exec(node, ["ip", "link", "set", "dev", "r1-r2b", "up"])
    # r2 owns no address on the new link: it answers ARP for 198.51.100.2 there (a Linux
    # host answers for any of its addresses) and must not drop what arrives on it.
    for key in ("all", "r1-r2b"):
        lab.exec("r2", ["sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0"])
    lab.exec("r1", ["sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"])
    lab.exec("r1", ["ip", "route", "replace", "203.0.113.0/24",
                    "nexthop", "via", "198.51.100.2", "dev", lab.interface("r1", "r2"),
                    "nexthop", "via", "198.51.100.2", "dev", "r1-r2b", "onlink"])  # fmt: skip


def test_each_flow_follows_one_branch_and_both_branches_show() -> None:
    why = why_not()
    if why is not None:
        pytest.skip(why)
    with Lab.up("mtu-drop") as lab:
        _ecmp(lab)
        listener = lab.popen(
            "server",
            [sys.executable, "-m", "http.server", "--bind", SERVER, str(PORT)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            done = lab.exec(
                "client",
                ["env", f"PYTHONPATH={SRC}", sys.executable, "-c", SCRIPT, SERVER, str(FLOWS)],
                check=False,
                timeout=240,
            )
        finally:
            listener.kill()
            listener.wait(timeout=10)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 2 * FLOWS
    assert {r["stop"] for r in rows} == {"converged"}
    by_flow: dict[int, set[int]] = {}
    for r in rows:
        assert r["pmtu"] in (1300, 1400) and r["to_mtu"] == r["pmtu"], r
        by_flow.setdefault(r["flow"], set()).add(r["pmtu"])
    # One branch per flow, run after run (Paris traceroute's point) ...
    assert all(len(seen) == 1 for seen in by_flow.values()), by_flow
    # ... and the flows together see both branches.
    assert set().union(*by_flow.values()) == {1300, 1400}, by_flow
