"""Benchmark of the dashboard: the overview and a target's 7-day history on a full store.

Layer: bench tooling, outside the package. It fills a SQLite store (migrated by
`mtuscope.store.open_store`, then bulk-inserted through the same sqlite3
connection) with `--targets` targets, each tested by `--agents` agents, and
`--results` results spread evenly over the last 7 days (the raw retention):
each a realistic `path` report (most paths clean, about one in five with an MTU
drop and its findings and advice, as `probe --json --platform linux` writes
them), their indexed figures, one `path_state` row per path pointing at its
newest result, the `hourly` rollups of the week, and the events of the paths
that changed. Then it starts `mtuscope serve` on that store (its own process,
uvicorn on loopback), logs in through the form, and times the two pages over
HTTP: `--rounds` requests each after one warm-up, median and worst printed, and
the figures written as JSON to bench/results/dashboard.json. Besides the two
pages of the goal it times the 48-hour history (raw results, not `hourly`) and
the path view.

The fill is done once: a store that exists with the asked-for shape is reused
(`--refill` to build it again).

Usage: ``python bench/dashboard.py [--db /tmp/mtuscope-dashboard.db] [--targets 1000]
[--agents 10] [--results 5000000] [--rounds 20] [--refill]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mtuscope.store.database import open_store  # noqa: E402
from mtuscope.store.figures import figures  # noqa: E402

WEEK_MS = 7 * 86_400_000
HOUR_MS = 3_600_000
DATA = ROOT / "tests" / "data" / "monitoring"
BATCH = 20_000


def _reports() -> dict[str, dict[str, Any]]:
    """The recorded lab reports the fill starts from (see tests/data/README.md)."""
    names = ("clean", "mtu-drop", "blackhole", "vxlan-responder", "clamp")
    docs: dict[str, dict[str, Any]] = {
        name: json.loads((DATA / f"path-{name}.json").read_text()) for name in names
    }
    return docs


def _addressed(doc: dict[str, Any], target: int, agent: int) -> dict[str, Any]:
    """A copy of a lab report with this path's own addresses (documentation prefixes)."""
    out: dict[str, Any] = json.loads(json.dumps(doc))
    dst = f"203.0.{113 if target < 256 else 112}.{target % 256}"
    out["target"]["address"] = dst
    out["inputs"] = [dst]
    for h in out["hops"]:
        ttl = h["ttl"]
        h["address"] = dst if ttl == len(out["hops"]) else f"198.51.100.{(agent * 16 + ttl) % 256}"
    if out.get("mtu_drop"):
        out["mtu_drop"]["address"] = out["hops"][0]["address"]
        out["mtu_drop"]["at_address"] = out["hops"][1]["address"]
    return out


def _shape(args: argparse.Namespace) -> str:
    return f"{args.targets}x{args.agents}x{args.results}"


def fill(db: Path, args: argparse.Namespace) -> None:
    """Build the store (see the module docstring)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = open_store(f"sqlite:///{db}")
    store.close()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-1500000")  # 1.5 GB: the random UUID index stays in memory
    rng = random.Random(1)
    now = int(time.time() * 1000)
    start = now - WEEK_MS + 60_000
    reports = _reports()
    con.executemany(
        "INSERT INTO agents (id, name, token_hash, created_ms, last_contact_ms, silent) "
        "VALUES (?, ?, ?, ?, ?, 0)",
        [
            (a, f"agent-{a:02d}", secrets.token_hex(32), start, now)
            for a in range(1, args.agents + 1)
        ],
    )
    paths = []
    for t in range(1, args.targets + 1):
        con.execute(
            "INSERT INTO targets (id, host, port, family, kind, interval_s, flows, created_ms, "
            "enabled) VALUES (?, ?, 443, 4, 'tcp', ?, 1, ?, 1)",
            (t, f"203.0.{113 if t < 256 else 112}.{t % 256}", 600, start),
        )
        for a in range(1, args.agents + 1):
            con.execute("INSERT INTO target_agents (target_id, agent_id) VALUES (?, ?)", (t, a))
            # Four paths in five are clean; the others drop the MTU (one in three of those
            # silently), and change once during the week (an event).
            r = rng.random()
            kind = "clean" if r < 0.8 else rng.choice(["mtu-drop", "blackhole", "vxlan-responder"])
            docs = [_addressed(reports[kind], t, a)]
            docs.append(_addressed(reports["clean" if kind != "clean" else "clamp"], t, a))
            paths.append((t, a, [(json.dumps(d, separators=(",", ":")), figures(d)) for d in docs]))
    con.commit()
    per_path = max(1, args.results // len(paths))
    step = (now - start) // per_path
    print(
        f"filling {len(paths)} paths x {per_path} results (every {step / 60000:.1f} min)",
        file=sys.stderr,
    )
    columns = (
        "id, agent_id, target_id, at_ms, received_ms, report, capture_report, flow, family, "
        "exact, pmtu, pmtu_lo, pmtu_hi, pmtu_reverse, mss_announced, mss_effective, "
        "mss_combined, drop_address, drop_ttl, drop_from_mtu, drop_to_mtu, drop_encapsulation, "
        "clamp_hop, finding_kinds, worst, probes_sent, seconds, stop_reason"
    )
    insert = f"INSERT INTO results ({columns}) VALUES ({', '.join('?' * 28)})"
    change_at = {(t, a): rng.randrange(per_path) for t, a, _ in paths}
    latest: dict[tuple[int, int], tuple[str, int]] = {}
    hourly: dict[tuple[int, int, int], list[Any]] = {}
    events: list[tuple[Any, ...]] = []
    started = time.monotonic()
    done = 0
    rows: list[tuple[Any, ...]] = []
    for i in range(per_path):
        at_base = start + i * step
        for t, a, variants in paths:
            at = at_base + (t * 7919 + a * 104729) % step  # paths are not all in step
            text, fig = variants[0] if i < change_at[t, a] else variants[1]
            rid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            c = fig.columns()
            rows.append(
                (rid, a, t, at, at + 150, text, None, 0, c["family"], c["exact"], c["pmtu"],
                 c["pmtu_lo"], c["pmtu_hi"], c["pmtu_reverse"], c["mss_announced"],
                 c["mss_effective"], c["mss_combined"], c["drop_address"], c["drop_ttl"],
                 c["drop_from_mtu"], c["drop_to_mtu"], c["drop_encapsulation"], c["clamp_hop"],
                 c["finding_kinds"], c["worst"], c["probes_sent"], c["seconds"],
                 c["stop_reason"])
            )  # fmt: skip
            latest[t, a] = (rid, at)
            hour = at - at % HOUR_MS
            mss = fig.mss_announced if fig.mss_announced is not None else fig.mss_effective
            h = hourly.setdefault((t, a, hour), [0, 0, None, None, None, None, None, None])
            h[0] = (h[0] or 0) + 1
            h[1] = (h[1] or 0) + (fig.worst == "error")
            for j, v in ((2, fig.pmtu), (5, mss)):
                if v is not None:
                    h[j] = v if h[j] is None else min(h[j], v)
                    h[j + 1] = v if h[j + 1] is None else max(h[j + 1], v)
                    h[j + 2] = v
            if i == change_at[t, a] and i > 0:
                before, after = variants[0][1], variants[1][1]
                if before.pmtu != after.pmtu:
                    events.append((at, a, t, "pmtu-changed", before.pmtu, after.pmtu))
                for kind in sorted(set(before.finding_kinds) - set(after.finding_kinds)):
                    events.append((at, a, t, "finding-cleared", kind, None))
            if len(rows) >= BATCH:
                con.executemany(insert, rows)
                con.commit()
                done += len(rows)
                rows = []
                if done % 500_000 < BATCH:
                    rate = done / (time.monotonic() - started)
                    print(f"  {done} results, {rate:.0f}/s", file=sys.stderr)
    if rows:
        con.executemany(insert, rows)
    con.executemany(
        "INSERT INTO path_state (target_id, agent_id, flow, confirmed, window, last_at_ms, "
        "latest_id) VALUES (?, ?, 0, ?, ?, ?, ?)",
        [
            (t, a, '{"pmtu": 1500, "mss": 1460}', "[]", at, rid)
            for (t, a), (rid, at) in latest.items()
        ],
    )
    con.executemany(
        "INSERT INTO hourly (target_id, agent_id, hour_ms, rounds, errors, pmtu_min, pmtu_max, "
        "pmtu_last, mss_min, mss_max, mss_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(t, a, hour, *h) for (t, a, hour), h in hourly.items()],
    )
    con.executemany(
        "INSERT INTO events (at_ms, agent_id, target_id, kind, before, after, summary) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (at, a, t, kind, json.dumps(b), json.dumps(x), f"agent-{a:02d} -> target {t}: {kind}")
            for at, a, t, kind, b, x in events
        ],
    )
    con.execute(
        "INSERT OR REPLACE INTO settings (key, value) VALUES ('bench_shape', ?)", (_shape(args),)
    )
    con.commit()
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(
        f"filled in {time.monotonic() - started:.0f} s: {done + len(rows)} results, "
        f"{len(hourly)} hourly rows, {len(events)} events",
        file=sys.stderr,
    )


def _shape_of(db: Path) -> str | None:
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db) as con:
            row = con.execute("SELECT value FROM settings WHERE key = 'bench_shape'").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


@contextmanager
def _serve(db: Path, token: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "MTUSCOPE_ADMIN_TOKEN": token}
    argv = [sys.executable, "-m", "mtuscope", "serve", "--db", f"sqlite:///{db}"]
    proc = subprocess.Popen(
        [*argv, "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def time_pages(db: Path, rounds: int) -> dict[str, Any]:
    """Serve the store and time the two pages over HTTP."""
    token = secrets.token_urlsafe(16)
    port = _free_port()
    out: dict[str, Any] = {}
    with _serve(db, token, port) as proc:
        assert proc.poll() is None, "mtuscope serve did not start"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            login = client.get("/login").text
            nonce = re.search(r'name="csrf" value="([^"]+)"', login)
            assert nonce is not None
            r = client.post("/login", data={"token": token, "csrf": nonce.group(1), "next": "/"})
            assert r.status_code in (200, 303), r.status_code
            with sqlite3.connect(db) as con:
                busiest = con.execute("SELECT MIN(id) FROM targets").fetchone()[0]
            pages = (
                ("overview", "/"),
                ("history_7d", f"/targets/{busiest}/history"),
                ("history_48h", f"/targets/{busiest}/history?range=48h"),
                ("path_view", f"/targets/{busiest}"),
            )
            for name, path in pages:
                client.get(path)  # warm-up: caches, the first template compile
                times = []
                size = 0
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    page = client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert page.status_code == 200, (path, page.status_code)
                    size = len(page.content)
                out[name] = {
                    "path": path,
                    "median_ms": round(statistics.median(times), 1),
                    "worst_ms": round(max(times), 1),
                    "bytes": size,
                }
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", type=Path, default=Path("/tmp/mtuscope-dashboard.db"))
    p.add_argument("--targets", type=int, default=1000)
    p.add_argument("--agents", type=int, default=10)
    p.add_argument("--results", type=int, default=5_000_000)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--refill", action="store_true")
    args = p.parse_args()
    if args.refill or _shape_of(args.db) != _shape(args):
        fill(args.db, args)
    else:
        print(f"reusing {args.db} ({_shape(args)})", file=sys.stderr)
    with sqlite3.connect(args.db) as con:
        counts = {
            t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
            for t in ("targets", "agents", "path_state", "results", "hourly", "events")
        }
    figures_ = time_pages(args.db, args.rounds)
    doc = {
        "store": counts,
        "db_bytes": args.db.stat().st_size,
        "pages": figures_,
        "when": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(doc, indent=1))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "dashboard.json").write_text(json.dumps(doc, indent=1) + "\n")
    print("\n| page | median | worst | bytes |\n|---|---|---|---|")
    for name, f in figures_.items():
        print(f"| {name} `{f['path']}` | {f['median_ms']} ms | {f['worst_ms']} ms | {f['bytes']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
