"""Benchmark: target tests per minute of one `mtuscope agent` against lab targets.

Layer: bench tooling, outside the package (root: it builds a lab). It brings up
the `mtu-drop` lab (client - r1 - r2 - server, the r1-r2 link at 1400), gives
the server node `--targets` extra addresses in 203.0.113.0/24 with one HTTP
listener on port 8080 for all of them, and runs inside the client namespace a
real `mtuscope serve` (SQLite) and one real `mtuscope agent`. Each address is
one TCP target tested every 10 s with `--flows` flow ids: the schedule offers
targets x flows x 6 tests a minute. The agent keeps its own limits (one test
at a time per destination address, each test paced by the probing core), so
the figure is what it delivers under them: the results stored with an `at`
inside a one-minute window after a warm-up, counted in the server's file.

Usage: ``python bench/agent.py [--targets 60] [--flows 3] [--seconds 60] [--workers 32]``
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from agent.netns import NetnsHttp  # noqa: E402  (tests/agent/netns.py)
from mtuscope.lab import Lab  # noqa: E402

PORT = 8080
API_PORT = 18078
INTERVAL_S = 10
WARMUP_S = 15.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=60)
    ap.add_argument("--flows", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=32)
    args = ap.parse_args()
    if not 1 <= args.targets <= 200:
        ap.error("--targets: 1..200")
    top = Path(tempfile.mkdtemp(prefix="mtuscope-bench-agent-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with Lab.up("mtu-drop") as lab:
        iface = lab.interface("server", "r2")
        addresses = [f"203.0.113.{10 + i}" for i in range(args.targets)]
        for a in addresses:
            lab.exec("server", ["ip", "addr", "add", f"{a}/24", "dev", iface])
        listener = lab.popen(
            "server",
            [sys.executable, "-m", "http.server", "--bind", "0.0.0.0", str(PORT)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        http = NetnsHttp(lab.namespace("client"))
        token = secrets.token_urlsafe(16)
        admin = {"Authorization": f"Bearer {token}"}
        url = f"http://127.0.0.1:{API_PORT}"
        db = top / "store.db"
        serve_log = (top / "serve.log").open("w")
        serve = lab.popen(
            "client",
            [sys.executable, "-m", "mtuscope", "serve", "--db", f"sqlite:///{db}",
             "--listen", f"127.0.0.1:{API_PORT}"],
            env={**env, "MTUSCOPE_ADMIN_TOKEN": token}, stdout=serve_log, stderr=serve_log,
        )  # fmt: skip
        agent: subprocess.Popen[bytes] | None = None
        try:
            deadline = time.monotonic() + 40
            while True:
                try:
                    if http.get(f"{url}/metrics", timeout=1.0).status_code == 200:
                        break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            made = http.post(f"{url}/api/v1/agents", json={"name": "bench"}, headers=admin).json()
            for a in addresses:
                body = {"host": a, "port": PORT, "interval_s": INTERVAL_S, "flows": args.flows,
                        "agents": ["bench"]}  # fmt: skip
                r = http.post(f"{url}/api/v1/targets", json=body, headers=admin)
                assert r.status_code == 201, r.text
            agent_log = (top / "agent.log").open("w")
            agent = lab.popen(
                "client",
                [sys.executable, "-m", "mtuscope", "agent", "--server", url, "--spool",
                 str(top / "agent.spool"), "--workers", str(args.workers), "--no-capture",
                 "--max-seconds", str(WARMUP_S + args.seconds + 20)],
                env={**env, "MTUSCOPE_AGENT_TOKEN": made["token"]},
                stdout=agent_log, stderr=agent_log,
            )  # fmt: skip
            time.sleep(WARMUP_S)
            t0, cpu0 = time.time(), _cpu_seconds(agent.pid)
            time.sleep(args.seconds)
            t1, cpu1 = time.time(), _cpu_seconds(agent.pid)
            time.sleep(8)  # the last results of the window reach the server
            with sqlite3.connect(db) as con:
                rows = con.execute(
                    "SELECT target_id, seconds, exact, pmtu FROM results"
                    " WHERE at_ms >= ? AND at_ms < ?",
                    (int(t0 * 1000), int(t1 * 1000)),
                ).fetchall()
        finally:
            if agent is not None and agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
                agent.wait(timeout=60)
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
            http.close()
            listener.kill()
            listener.wait(timeout=10)
    minutes = (t1 - t0) / 60.0
    per_minute = len(rows) / minutes
    offered = args.targets * args.flows * 60 / INTERVAL_S
    seconds = [r[1] for r in rows if r[1] is not None]
    figures: dict[str, Any] = {
        "tests_per_minute": round(per_minute),
        "offered_per_minute": round(offered),
        "targets": args.targets,
        "flows": args.flows,
        "workers": args.workers,
        "window_s": round(t1 - t0, 1),
        "exact": sum(1 for r in rows if r[2]),
        "pmtu_1400": sum(1 for r in rows if r[3] == 1400),
        "results": len(rows),
        "test_seconds_median": round(statistics.median(seconds), 3) if seconds else None,
        "agent_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0)),
        "destinations": len({r[0] for r in rows}),
        "logs": str(top),
    }
    print(json.dumps(figures, indent=2))
    print(
        f"agent throughput: {per_minute:.0f} target tests/min "
        f"({args.targets} targets x {args.flows} flows every {INTERVAL_S} s offered "
        f"{offered:.0f}/min; one test at a time per destination; {args.workers} workers; "
        f"agent CPU {figures['agent_cpu_percent']}%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
