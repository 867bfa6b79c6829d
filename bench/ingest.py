"""Benchmark of the server's ingest: accepted results per second, SQLite and PostgreSQL.

Layer: bench tooling, outside the package. For each database it starts a real
`mtuscope serve` (its own process, uvicorn on loopback; `--workers` server
processes) on a fresh SQLite file, or on Debian's PostgreSQL in a temporary
cluster run as the postgres user (tests/store/postgres.py; needs root). It
enrolls `--agents` agents and `--targets` targets (every agent tests every
target, `--flows` flows each) through the admin API and registers one webhook
(a sink on loopback, so every event is also queued for delivery). Then
`--clients` processes post results as agents do (agent/client.py: `POST
/api/v1/results` with the agent's token, `--batch` results a post, each agent's
results in time order), for `--seconds` or until `--max-results` are accepted,
whichever comes first.

The reports are the recorded lab reports of tests/data/monitoring (real
`mtuscope probe --json` output: clean, MTU drop, black hole, clamp, VXLAN,
two-ended clamp), addressed to their target, with new ids, the round's time
and jittered probe seconds. Every path keeps its scenario for a while and
switches to another one now and then (`--change-every` rounds on average), so
the debounce ("X of Y rounds") confirms real changes and raises events.

Counted: results the server answered as accepted (not duplicates) within the
timed run, divided by its wall time; the store's row count is checked against
it afterwards. Printed as a table; the record goes to
bench/results/ingest-<UTC time>.json with the load average before and after.

Usage: ``python bench/ingest.py [--db sqlite,postgresql] [--workers 1] [--clients 4]
[--batch 100] [--seconds 20] [--max-results 200000] [--agents 20] [--targets 50]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from mtuscope.store.database import engine_for  # noqa: E402
from store.postgres import temporary_cluster, why_not  # noqa: E402

DATA = ROOT / "tests" / "data" / "monitoring"
SCENARIOS = ("clean", "mtu-drop", "blackhole", "clamp", "vxlan-responder", "clamp-responder")
WEIGHTS = (6, 2, 1, 1, 1, 1)
"""Most paths are clean most of the time."""
ROUND_MS = 60_000
VARIANTS = 8
"""Serialised variants of each report (their probe seconds differ)."""


def _reports() -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {}
    rng = random.Random(1)
    for name in SCENARIOS:
        doc = json.loads((DATA / f"path-{name}.json").read_text())
        variants = []
        for _ in range(VARIANTS):
            doc["probes"]["seconds"] = round(rng.uniform(0.05, 4.0), 3)
            variants.append(orjson.dumps(doc))
        out[name] = variants
    return out


def _addressed(report: bytes, host: str) -> bytes:
    """The report as if it had been sent to `host` (the lab's was 203.0.113.2)."""
    return report.replace(b'"203.0.113.2"', b'"' + host.encode() + b'"')


@dataclass(frozen=True)
class Plan:
    url: str
    agents: list[tuple[str, str]]
    """(name, token) of the agents this client posts for."""
    targets: list[tuple[int, str]]
    """(id, host) of every target."""
    flows: int
    batch: int
    seconds: float
    max_results: int
    change_every: int
    start_ms: int
    seed: int
    warmup_posts: int


def _results(plan: Plan, reports: dict[str, list[bytes]]) -> Iterator[bytes]:
    """One agent's results in time order, serialised: round after round, every target and flow."""
    rng = random.Random(plan.seed)
    by_host = {
        host: {name: [_addressed(v, host) for v in vs] for name, vs in reports.items()}
        for _tid, host in plan.targets
    }
    scenario = {
        (tid, flow): rng.choices(SCENARIOS, WEIGHTS)[0]
        for tid, _host in plan.targets
        for flow in range(plan.flows)
    }
    n = 0
    while True:
        at = plan.start_ms + n * ROUND_MS
        for tid, host in plan.targets:
            for flow in range(plan.flows):
                if rng.randrange(plan.change_every) == 0:
                    scenario[tid, flow] = rng.choices(SCENARIOS, WEIGHTS)[0]
                report = rng.choice(by_host[host][scenario[tid, flow]])
                stamp = datetime.fromtimestamp(
                    (at + rng.randrange(ROUND_MS // 2)) / 1000, UTC
                ).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                yield (
                    b'{"id":"%s","target":%d,"at":"%s","flow":%d,"report":%s}'
                    % (str(uuid.uuid4()).encode(), tid, stamp.encode(), flow, report)
                )
        n += 1


def _client(plan: Plan, ready: Any, go: Any, out: Any) -> None:
    """One client process: its agents' batches, one post at a time, round-robin."""
    reports = _reports()
    streams = [
        (token, _results(Plan(**{**plan.__dict__, "seed": plan.seed * 1000 + i}), reports))
        for i, (_name, token) in enumerate(plan.agents)
    ]
    accepted = duplicates = posts = 0
    errors: list[str] = []
    latencies: list[float] = []
    json_type = {"Content-Type": "application/json"}
    with httpx.Client(base_url=plan.url, timeout=60.0) as client:
        # Warm-up, not timed: every path's first rounds (their first values are confirmed,
        # and the problems present from the start raised), as a fleet that has been running.
        for token, stream in streams:
            for _ in range(plan.warmup_posts):
                body = b'{"results":[' + b",".join(next(stream) for _ in range(plan.batch)) + b"]}"
                r = client.post(
                    "/api/v1/results",
                    content=body,
                    headers={"Authorization": f"Bearer {token}", **json_type},
                )
                r.raise_for_status()
        ready.wait()
        go.wait()
        deadline = time.monotonic() + plan.seconds
        i = 0
        while time.monotonic() < deadline and accepted < plan.max_results:
            token, stream = streams[i % len(streams)]
            i += 1
            body = b'{"results":[' + b",".join(next(stream) for _ in range(plan.batch)) + b"]}"
            t0 = time.perf_counter()
            r = client.post(
                "/api/v1/results",
                content=body,
                headers={"Authorization": f"Bearer {token}", **json_type},
            )
            latencies.append(time.perf_counter() - t0)
            posts += 1
            if r.status_code != 200:
                errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                if len(errors) > 20:
                    break
                continue
            got = r.json()
            accepted += len(got["accepted"])
            duplicates += len(got["duplicates"])
    out.put(
        {
            "accepted": accepted,
            "duplicates": duplicates,
            "posts": posts,
            "errors": errors,
            "latencies": latencies,
            "ended": time.monotonic(),
        }
    )


class _Sink(BaseHTTPRequestHandler):
    """The webhook's receiver: reads the event, answers 204 (keeping the connection)."""

    protocol_version = "HTTP/1.1"
    received = 0

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).received += 1
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        return


@contextmanager
def _serve(db_url: str, workers: int, log: Path) -> Iterator[tuple[str, dict[str, str], int]]:
    with _free_socket() as port:
        pass
    token = secrets.token_urlsafe(16)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MTUSCOPE_ADMIN_TOKEN": token}
    argv = [sys.executable, "-m", "mtuscope", "serve", "--db", db_url]
    argv += ["--listen", f"127.0.0.1:{port}", "--workers", str(workers)]
    url = f"http://127.0.0.1:{port}"
    with log.open("a") as err:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"mtuscope serve exited {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{url}/metrics", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("mtuscope serve did not answer within 60 s")
            time.sleep(0.2)
        yield url, {"Authorization": f"Bearer {token}"}, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def _free_socket() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def _enroll(
    url: str, admin: dict[str, str], args: argparse.Namespace, hook: str
) -> tuple[list[tuple[str, str]], list[tuple[int, str]]]:
    agents = []
    with httpx.Client(base_url=url, headers=admin, timeout=30.0) as c:
        for i in range(args.agents):
            r = c.post("/api/v1/agents", json={"name": f"bench-{i}"})
            r.raise_for_status()
            agents.append((f"bench-{i}", r.json()["token"]))
        names = [n for n, _ in agents]
        targets = []
        for i in range(args.targets):
            host = f"198.51.{100 + i // 250}.{1 + i % 250}"
            body = {"host": host, "port": 443, "interval_s": 60, "flows": args.flows}
            r = c.post("/api/v1/targets", json={**body, "agents": names})
            r.raise_for_status()
            targets.append((int(r.json()["id"]), host))
        if not args.no_webhook:
            c.post("/api/v1/webhooks", json={"url": hook}).raise_for_status()
    return agents, targets


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children still running (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    total = 0.0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _counts(url: str) -> tuple[int, int, int]:
    """Results, events and webhook deliveries in the store."""
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                for table in ("results", "events", "deliveries")
            )
    finally:
        engine.dispose()


def _drain(url: str, *, timeout: float) -> None:
    """Wait until the server has delivered the webhooks the warm-up queued (bounded)."""
    engine = engine_for(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                left = conn.exec_driver_sql(
                    "SELECT count(*) FROM deliveries WHERE NOT done"
                ).scalar_one()
            if left == 0:
                return
            time.sleep(0.5)
    finally:
        engine.dispose()


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_one(db: str, args: argparse.Namespace, top: Path) -> dict[str, Any]:
    """One database: serve, enroll, post, count."""

    @contextmanager
    def database() -> Iterator[str]:
        if db == "sqlite":
            yield f"sqlite:///{top / 'ingest.db'}"
            return
        why = why_not()
        if why is not None:
            raise SystemExit(f"postgresql: {why}")
        with temporary_cluster() as pg:
            yield pg

    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{sink.server_address[1]}/hook"
    try:
        with database() as url, _serve(url, args.workers, top / f"{db}.log") as (base, admin, pid):
            agents, targets = _enroll(base, admin, args, hook)
            ctx = mp.get_context("fork")
            ready, go = ctx.Barrier(args.clients + 1), ctx.Barrier(args.clients + 1)
            out = ctx.Queue()
            start_ms = int(time.time() * 1000) - 6 * 3_600_000
            procs = []
            for c in range(args.clients):
                plan = Plan(
                    url=base,
                    agents=agents[c :: args.clients],
                    targets=targets,
                    flows=args.flows,
                    batch=args.batch,
                    seconds=args.seconds,
                    max_results=args.max_results // args.clients,
                    change_every=args.change_every,
                    start_ms=start_ms,
                    seed=c + 1,
                    warmup_posts=-(-args.warmup_rounds * args.targets * args.flows // args.batch),
                )
                p = ctx.Process(target=_client, args=(plan, ready, go, out))
                p.start()
                procs.append(p)
            ready.wait(timeout=600)
            _drain(url, timeout=60.0)
            load_before = _loadavg()
            counts0 = _counts(url)
            cpu0 = _cpu_seconds(pid)
            received0 = _Sink.received
            go.wait(timeout=60)
            t0 = time.monotonic()
            parts = [out.get(timeout=args.seconds + 300) for _ in procs]
            wall = max(p["ended"] for p in parts) - t0
            cpu = _cpu_seconds(pid) - cpu0
            for p in procs:
                p.join(timeout=30)
            load_after = _loadavg()
            time.sleep(3)  # the background pass delivers what the run queued
            stored, events, queued = (a - b for a, b in zip(_counts(url), counts0, strict=True))
    finally:
        sink.shutdown()
    accepted = sum(p["accepted"] for p in parts)
    latencies = sorted(x for p in parts for x in p["latencies"])
    errors = [e for p in parts for e in p["errors"]]
    return {
        "db": db,
        "workers": args.workers,
        "clients": args.clients,
        "batch": args.batch,
        "agents": args.agents,
        "targets": args.targets,
        "flows": args.flows,
        "accepted": accepted,
        "duplicates": sum(p["duplicates"] for p in parts),
        "stored": stored,
        "posts": sum(p["posts"] for p in parts),
        "errors": errors[:10],
        "seconds": round(wall, 2),
        "results_per_s": round(accepted / wall, 1),
        "server_cpu_s": round(cpu, 2),
        "results_per_server_cpu_s": round(accepted / cpu, 1) if cpu > 0 else None,
        "post_p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "post_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1)
        if latencies
        else None,
        "events": events,
        "deliveries_queued": queued,
        "webhook_posts_received": _Sink.received - received0,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--db",
        default="sqlite,postgresql",
        help="sqlite, postgresql, or both as sqlite,postgresql (the default)",
    )
    ap.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent posting processes")
    ap.add_argument("--batch", type=int, default=100, help="results per POST (agents: <= 500)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the timed run")
    ap.add_argument("--max-results", type=int, default=200_000, help="stop after this many")
    ap.add_argument("--agents", type=int, default=10)
    ap.add_argument("--targets", type=int, default=20, help="each tested by every agent")
    ap.add_argument("--flows", type=int, default=3)
    ap.add_argument("--change-every", type=int, default=100, help="rounds a scenario lasts (mean)")
    ap.add_argument(
        "--warmup-rounds", type=int, default=4, help="untimed rounds of every path first"
    )
    ap.add_argument(
        "--no-webhook", action="store_true", help="register no webhook (events only logged)"
    )
    ap.add_argument("--out", type=Path, default=None, help="record (bench/results/ingest-*.json)")
    args = ap.parse_args()
    if not 1 <= args.batch <= 1000 or args.clients < 1 or args.seconds <= 0:
        ap.error("--batch 1..1000, --clients >= 1, --seconds > 0")
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    if any(d not in ("sqlite", "postgresql") for d in dbs):
        ap.error(f"--db {args.db}: sqlite, postgresql, or sqlite,postgresql")
    rows = []
    with tempfile.TemporaryDirectory(prefix="mtuscope-bench-ingest-") as tmp:
        for db in dbs:
            top = Path(tmp) / db
            top.mkdir()
            rows.append(run_one(db, args, top))
    print(
        f"\n{'db':<11}{'workers':>8}{'clients':>8}{'batch':>6}{'accepted':>10}{'seconds':>9}"
        f"{'results/s':>11}{'per CPU-s':>10}{'p50 ms':>8}{'p95 ms':>8}{'events':>8}  errors"
    )
    for r in rows:
        print(
            f"{r['db']:<11}{r['workers']:>8}{r['clients']:>8}{r['batch']:>6}{r['accepted']:>10}"
            f"{r['seconds']:>9}{r['results_per_s']:>11}{r['results_per_server_cpu_s']:>10}"
            f"{r['post_p50_ms']:>8}"
            f"{r['post_p95_ms']:>8}{r['events']:>8}  {len(r['errors'])}"
        )
        if r["stored"] != r["accepted"]:
            print(f"  !! {r['db']}: {r['stored']} rows stored, {r['accepted']} accepted")
        for e in r["errors"][:3]:
            print(f"  !! {e}")
    print(f"load average before/after: {[(r['loadavg_before'], r['loadavg_after']) for r in rows]}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%MZ")
    out = args.out or ROOT / "bench" / "results" / f"ingest-{stamp}.json"
    record = {
        "command": " ".join(["python", "bench/ingest.py", *sys.argv[1:]]),
        "when": stamp,
        "cpus": os.cpu_count(),
        "runs": rows,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"record: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    ok = all(not r["errors"] and r["stored"] == r["accepted"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
