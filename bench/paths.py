"""Side-by-side benchmark: `mtuscope probe` against tracepath and scamper on every lab scenario.

Layer: bench tooling, outside the package (it uses the lab to build the
scenarios, and runs mtuscope as a separate process, as a user would). For each
scenario of `mtuscope.lab.SCENARIOS` and each family it brings the lab up once
and runs, inside the client namespace, one after the other, with the kernel's
path MTU cache flushed before each:

- ``python -m mtuscope probe ADDR --json`` (with ``--port P`` and a listener
  when the server answers only TCP);
- ``tracepath -n [-6] ADDR``;
- ``scamper -O text -c "trace -M" -i ADDR`` (scamper's PMTUD with defaults).

Each tool gets at most 120 s. A tcpdump on the client's link counts the
packets each tool sent to the server (the same count for all three: probes,
plus mtuscope's TCP handshake when it measures the MSS). The tools' outputs
are parsed for the path MTU and the router that reports (or should report)
the drop, and compared with the scenario's truth. Prints a markdown table and
writes JSON to bench/results/paths.json.

mtuscope runs from the source tree with its bytecode cached (compiled once before
the first run, as an installed package would be), so its wall time is Python's
start-up and the probing, not the compiling of every module.

Usage: ``python bench/paths.py [--scenarios a,b] [--families 4,6] [--tools t,u]
[--jobs N] [--repeat N]``
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mtuscope.lab import SCENARIOS, Lab, ProbeKind, Scenario  # noqa: E402
from mtuscope.lab.traffic import server_argv  # noqa: E402

TOOL_TIMEOUT = 120.0
PORT = 5001
"""The listener's port when the scenario declares none."""
TOOLS = ("mtuscope", "tracepath", "scamper")


def _truth(sc: Scenario, family: int) -> dict[str, Any]:
    fwd = sc.forward
    out: dict[str, Any] = {"pmtu": fwd.pmtu(family), "reporter": None, "blackhole": False}
    if fwd.drop_link is not None:
        path = sc.path()
        near = min(sc.link(fwd.drop_link).ends(), key=path.index)
        out["reporter"] = str(sc.too_big_source(near, family))
        out["after_hop"] = path.index(near)
        out["blackhole"] = not fwd.too_big_sent
    return out


def _port(sc: Scenario) -> int | None:
    """The TCP port mtuscope is given: where only TCP answers, or where the MSS is the point."""
    if ProbeKind.ECHO not in sc.server_answers and sc.server_tcp_port:
        return sc.server_tcp_port
    if sc.clamp is not None or sc.node(sc.server).advmss is not None:
        return PORT
    return None


def _mss_truth(sc: Scenario, family: int) -> int | None:
    if sc.clamp is not None:
        return sc.clamp.mss
    return sc.node(sc.server).advmss


PYCACHE = Path(tempfile.gettempdir()) / "mtuscope-bench-pycache"
"""Where mtuscope's bytecode is cached for the bench (`warm_bytecode`): an installed
package has its .pyc files, so the wall time should not include compiling every module
again, as it would under PYTHONDONTWRITEBYTECODE."""


def _python_env() -> list[str]:
    """`env` arguments for mtuscope's process: the source tree, the bytecode cache."""
    return [
        "env",
        "-u",
        "PYTHONDONTWRITEBYTECODE",
        f"PYTHONPYCACHEPREFIX={PYCACHE}",
        f"PYTHONPATH={ROOT / 'src'}",
    ]


def warm_bytecode() -> None:
    """Compile mtuscope's modules into `PYCACHE` once, before any run is timed."""
    subprocess.run(
        [*_python_env(), sys.executable, "-m", "compileall", "-q", str(ROOT / "src")],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _argv(tool: str, sc: Scenario, addr: str, family: int) -> list[str]:
    if tool == "mtuscope":
        argv = [sys.executable, "-m", "mtuscope", "probe", addr, "--json"]
        port = _port(sc)
        if port is not None:
            argv += ["--port", str(port)]
        return [*_python_env(), *argv]
    if tool == "tracepath":
        return ["tracepath", "-n", *(["-6"] if family == 6 else []), addr]
    return ["scamper", "-O", "text", "-c", "trace -M", "-i", addr]


_TP_DROP = re.compile(r"^\s*\d+:\s+(\S+)\s.*\bpmtu (\d+)", re.M)
_TP_RESUME = re.compile(r"Resume: pmtu (\d+)")
_SC_HOP = re.compile(r"^\s*(\d+)\s+(\S+)\s.*\[\*?mtu: (\d+)\]", re.M)


def parse(tool: str, out: str) -> dict[str, Any]:
    """The path MTU, the router reported at the drop, and black hole, from a tool's output."""
    if tool == "mtuscope":
        doc = json.loads(out)
        drop = doc["mtu_drop"]
        kinds = {f["kind"] for f in doc["findings"]}
        return {
            "pmtu": doc["pmtu"],
            "reporter": drop["address"] if drop else None,
            "blackhole": "pmtud-blackhole" in kinds,
            "mss": doc["mss"]["server_announced"],
            "own": f"{doc['search']['sent']} / {doc['search']['seconds']}",
            "run": f"{doc['probes']['sent']} / {doc['probes']['seconds']}",
        }
    if tool == "tracepath":
        resume = _TP_RESUME.search(out)
        drops = [(a, int(m)) for a, m in _TP_DROP.findall(out) if a != "[LOCALHOST]"]
        return {
            "pmtu": int(resume.group(1)) if resume else None,
            "reporter": drops[-1][0] if drops else None,
            "blackhole": False,  # tracepath has no notion of one
        }
    hops = [(int(t), a, int(m)) for t, a, m in _SC_HOP.findall(out)]
    reporter = None
    for (_, addr, mtu), (_, _, nxt) in zip(hops, hops[1:], strict=False):
        if nxt < mtu:
            reporter = addr
    return {
        "pmtu": hops[-1][2] if hops else None,
        "reporter": reporter,
        "blackhole": "*mtu" in out,
    }


def _run_tool(lab: Lab, tool: str, family: int, tmp: Path) -> dict[str, Any]:
    sc = lab.truth
    addr = str(lab.address("server", family))
    client = str(lab.address("client", family))
    lab.flush_pmtu_cache()
    server = None
    port = _port(sc)
    if tool == "mtuscope" and port is not None:
        server = lab.popen(
            "server", server_argv(addr, port, timeout=60), stdout=subprocess.PIPE, text=True
        )
        assert server.stdout is not None
        server.stdout.readline()
    pcap = tmp / f"{sc.name}-{tool}-{family}.pcap"
    iface = lab.interface("client", "r1")
    bpf = ("src", "host", client, "and", "dst", "host", addr)
    argv = _argv(tool, sc, addr, family)
    try:
        with lab.capture("client", iface, pcap, snaplen=96, bpf=bpf) as cap:
            started = time.monotonic()
            done = lab.exec("client", argv, check=False, timeout=TOOL_TIMEOUT + 5)
            wall = time.monotonic() - started
            time.sleep(0.2)  # let tcpdump write the last packets
        packets = cap.stats.captured if cap.stats is not None else None
    finally:
        if server is not None:
            server.kill()
            server.communicate(timeout=10)
    row: dict[str, Any] = {
        "tool": tool,
        "argv": argv,
        "seconds": round(wall, 2),
        "packets": packets,
        "exit": done.returncode,
    }
    try:
        row.update(parse(tool, done.stdout))
    except (ValueError, KeyError) as exc:
        row.update({"pmtu": None, "reporter": None, "blackhole": False, "error": str(exc)})
    return row


def _judge(row: dict[str, Any], truth: dict[str, Any]) -> dict[str, Any]:
    row["right_mss"] = None if truth["mss"] is None else row.get("mss") == truth["mss"]
    row["right_mtu"] = row["pmtu"] == truth["pmtu"]
    row["right_link"] = row["reporter"] == truth["reporter"]
    if truth["blackhole"]:
        row["blackhole_located"] = bool(row["blackhole"] and row["right_mtu"] and row["right_link"])
    else:
        row["blackhole_located"] = None
    return row


def bench_scenario(
    name: str, families: list[int], tools: tuple[str, ...] = TOOLS
) -> list[dict[str, Any]]:
    """Every tool of `tools`, every family, in one lab of scenario `name`."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="mtus-bench-") as tmp, Lab.up(name) as lab:
        for family in families:
            truth = _truth(lab.truth, family)
            truth["mss"] = _mss_truth(lab.truth, family)
            for tool in tools:
                row = _run_tool(lab, tool, family, Path(tmp))
                row.update({"scenario": name, "family": family, "truth": truth})
                rows.append(_judge(row, truth))
                print(
                    f"{name} IPv{family} {tool}: pmtu {row['pmtu']} reporter {row['reporter']} "
                    f"{row['seconds']} s {row['packets']} packets",
                    file=sys.stderr,
                )
    return rows


def _mark(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "**no**")


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of all rows."""
    lines = [
        "| scenario | IP | tool | path MTU (truth) | right MTU? | right link? "
        "| black hole located? | MSS clamp / small MSS seen? | packets sent | wall time s "
        "| mtuscope search: probes / s | mtuscope search + trace: probes / s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scenario']} | {r['family']} | {r['tool']} | {r['pmtu']} ({r['truth']['pmtu']}) "
            f"| {_mark(r['right_mtu'])} | {_mark(r['right_link'])} "
            f"| {_mark(r['blackhole_located'])} | {_mark(r['right_mss'])} | {r['packets']} "
            f"| {r['seconds']} | {r.get('own', '')} | {r.get('run', '')} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated names")
    parser.add_argument("--families", default="4,6")
    parser.add_argument("--jobs", type=int, default=1, help="scenarios run at once (labs)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated tools")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "paths.json"))
    args = parser.parse_args()
    names = [n for n in args.scenarios.split(",") if n]
    families = [int(f) for f in args.families.split(",")]
    tools = tuple(t for t in args.tools.split(",") if t)
    unknown = sorted(set(tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tools {', '.join(unknown)} (known: {', '.join(TOOLS)})")
    warm_bytecode()
    runs = [n for n in names for _ in range(max(1, args.repeat))]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(lambda n: bench_scenario(n, families, tools), runs))
    rows = [r for rs in results for r in rs]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
