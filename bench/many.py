"""Many-captures benchmark: `mtuscope analyze DIR` on 1 process, 2 processes and Dask.

Layer: bench tooling, outside the package. It generates a directory of synthetic
captures if missing (bench/gen_capture.py: by default 8 files of 250,000 packets
in /tmp/mtuscope-many, never in the repo), warms the page cache, then times once
each:

- ``mtuscope analyze DIR --json --jobs 1`` (in one process: two threads over each
  capture's chunks, one capture after the other);
- ``mtuscope analyze DIR --json --jobs 2`` (two local processes, a capture each);
- ``mtuscope analyze DIR --json --scheduler tcp://127.0.0.1:PORT`` against a Dask
  scheduler and two single-threaded workers it starts on loopback (and stops).

Wall time comes from the clock around each child, peak RSS from ``os.wait4``'s
rusage of that child (the driver: local worker processes are its children and
count in `ru_maxrss` only as the largest one; Dask workers are not its children
and are not counted). The three JSON reports must be byte-for-byte the same: the
benchmark fails otherwise. It also measures what one unit of work sends back (the
pickled partial of one capture), one worker's throughput (the units run one
after the other on one thread) and the driver's serial part (unpickling, merge,
finish, diagnosis, JSON). It prints a markdown table and writes JSON to
bench/results/many-<time>.json. It does not import mtuscope itself: the
profile runs in a child.

Usage: ``python bench/many.py [--dir DIR] [--files N] [--packets N]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
DEFAULT_DIR = Path("/tmp/mtuscope-many")

PROFILE = """
import io, json, pickle, sys, time
from mtuscope.diagnose.capture import diagnose_capture
from mtuscope.jobs import many
from mtuscope.jobs.analyze import CaptureFile, CaptureResult
from mtuscope.passive import finish
from mtuscope.report.serialize import write_json

files = sys.argv[1:]
units = many.plan(files, host_filter=None, chunk_bytes=32 << 20, capacity=None,
                  split_bytes=1 << 50)
t = time.perf_counter()
done = [many.run_unit(u) for u in units]   # one worker's work: one thread, no pool
work = time.perf_counter() - t
blobs = [pickle.dumps(d) for d in done]
t = time.perf_counter()
back = [pickle.loads(b) for b in blobs]
unpickle = time.perf_counter() - t
t = time.perf_counter()
reads = list(many.assemble(files, units, back))
analyses, findings, next_id = [], [], 1
for path, read in reads:
    a = finish(read.partial, first_id=next_id)
    next_id += a.connection_count
    analyses.append(a)
    findings.extend(diagnose_capture(a, platform=None))
finishing = time.perf_counter() - t
result = CaptureResult(kind="capture", inputs=tuple(files), findings=tuple(findings),
    captures=tuple(CaptureFile(path=p, info=r.info, host_filter=None) for p, r in reads),
    analyses=tuple(analyses))
t = time.perf_counter()
out = io.StringIO()
write_json(result, out)
writing = time.perf_counter() - t
p = back[0].read.partial
tables = ("directions", "sizes", "encaps", "syns", "ends", "records", "retrans", "icmp",
          "fragments")
print(json.dumps({
    "worker_seconds": work, "unpickle_seconds": unpickle, "finish_seconds": finishing,
    "json_seconds": writing, "json_bytes": len(out.getvalue()),
    "pickled_bytes": [len(b) for b in blobs], "frames": p.frames,
    "connections": p.directions.height // 2,
    "rows": sum(getattr(p, t).height for t in tables),
}))
"""


def generate(top: Path, files: int, packets: int) -> list[Path]:
    top.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(files):
        path = top / f"tap-{i:02d}.pcap"
        if not path.exists():
            subprocess.run(
                [sys.executable, str(BENCH / "gen_capture.py"), "--out", str(path)]
                + ["--packets", str(packets), "--seed", str(100 + i)],
                check=True,
            )
        truth = top / f"{path.name}.truth.json"
        if truth.exists():  # keep the directory to captures only (it would be skipped anyway)
            truth.unlink()
        out.append(path)
    return out


def warm(paths: list[Path]) -> None:
    for p in paths:
        with open(p, "rb") as f:
            while f.read(16 << 20):
                pass


def timed(argv: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        digest = hashlib.sha256(out.read()).hexdigest()
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
    return {
        "argv": argv,
        "seconds": round(seconds, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "exit": proc.returncode,
        "json_sha256": digest,
        "stderr_tail": tail,
    }


class Cluster:
    """A Dask scheduler and `workers` single-threaded workers on loopback."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="mtuscope-dask-"))

    def __enter__(self) -> str:
        dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
        info = self.tmp / "scheduler.json"
        self.procs.append(
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
                + ["--scheduler-file", str(info)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise SystemExit("the Dask scheduler did not start")
            time.sleep(0.2)
        time.sleep(0.2)
        address: str = json.loads(info.read_text())["address"]
        for _ in range(self.workers):
            self.procs.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--no-dashboard"]
                    + ["--host", "127.0.0.1"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        wait = (
            "import sys, distributed; c = distributed.Client(sys.argv[1], timeout=30); "
            f"c.wait_for_workers({self.workers}, timeout=120); c.close()"
        )
        subprocess.run([sys.executable, "-c", wait, address], check=True)
        return address

    def __exit__(self, *exc: object) -> None:
        for p in reversed(self.procs):
            p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--packets", type=int, default=250_000)
    args = ap.parse_args()
    paths = generate(args.dir, args.files, args.packets)
    total_bytes = sum(p.stat().st_size for p in paths)
    warm(paths)
    mtuscope = [sys.executable, "-m", "mtuscope", "analyze", "--json", "--no-progress"]
    runs: dict[str, dict[str, Any]] = {}
    runs["1 process"] = timed([*mtuscope, str(args.dir), "--jobs", "1"])
    runs["2 processes"] = timed([*mtuscope, str(args.dir), "--jobs", "2"])
    with Cluster(2) as address:
        warm(paths)
        runs["Dask, 2 workers"] = timed([*mtuscope, str(args.dir), "--scheduler", address])
    prof = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROFILE, *map(str, paths)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    blob = prof["pickled_bytes"][0]
    frames, conns, rows = prof["frames"], prof["connections"], prof["rows"]
    packets = args.files * args.packets
    print(f"\n{args.files} captures x {args.packets:,} packets = {total_bytes / 1e9:.2f} GB "
          f"in {args.dir} (page-cached), on {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print("| run | seconds | packets/s | MB/s | driver peak RSS (MB) | exit |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r in runs.items():
        s = r["seconds"]
        print(f"| {name} | {s:.2f} | {packets / s:,.0f} | {total_bytes / 1e6 / s:,.0f} | "
              f"{r['peak_rss_mb']:.0f} | {r['exit']} |")  # fmt: skip
    same = len({r["json_sha256"] for r in runs.values()}) == 1
    print(f"\nthe three JSON reports are {'byte-for-byte the same' if same else 'DIFFERENT'}")
    print(f"one capture's partial (what a worker sends back): {blob / 1e6:.2f} MB pickled for "
          f"{frames:,} packets, {conns:,} connections, {rows:,} rows "
          f"({blob / conns:,.0f} bytes a connection)")  # fmt: skip
    w = prof["worker_seconds"]
    print(f"one worker (one thread, no pool) on all {args.files} captures: {w:.2f} s = "
          f"{packets / w:,.0f} packets/s, {total_bytes / 1e6 / w:,.0f} MB/s")  # fmt: skip
    print(f"the driver's serial part: unpickle {prof['unpickle_seconds']:.2f} s, merge + "
          f"finish + diagnose {prof['finish_seconds']:.2f} s, JSON {prof['json_seconds']:.2f} s "
          f"({prof['json_bytes'] / 1e6:.1f} MB)")  # fmt: skip
    for name, r in runs.items():
        print(f"{name}: {' '.join(r['argv'])}")
    record = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg(),
        },  # fmt: skip
        "files": args.files,
        "packets_per_file": args.packets,
        "bytes": total_bytes,
        "runs": runs,
        "same_report": same,
        "profile": prof,
    }
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%MZ")
    (results / f"many-{stamp}.json").write_text(json.dumps(record, indent=2) + "\n")
    return 0 if same and all(r["exit"] in (0, 1) for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
