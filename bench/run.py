"""Side-by-side benchmark: mtuscope analyze against tshark, dpkt, scapy and cat.

Layer: bench tooling, outside the package. It generates the synthetic capture
if missing (bench/gen_capture.py, in /tmp by default, never in the repo),
warms the page cache, then times each tool once on the same cached file:

- ``cat PATH > /dev/null`` (the floor: reading the bytes);
- ``mtuscope analyze PATH --json > /dev/null``;
- tshark extracting the same fields with default preferences, and again with
  TCP sequence analysis, reassembly and IP defragmentation off;
- a dpkt loop extracting the same fields (bench/dpkt_loop.py);
- optionally scapy on the first 50,000 frames, extrapolated (``--with-scapy``).

Wall time comes from the clock around each child, peak RSS from
``os.wait4``'s rusage of that child. Start-up is the best of five
``mtuscope --help``. It prints a markdown table and the exact command lines,
and writes everything as JSON to bench/results/. It may not import mtuscope:
it measures the installed command as a user would run it.

Usage: ``python bench/run.py [--capture PATH] [--skip-generate] [--with-scapy]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_CAPTURE = Path("/tmp/mtuscope-bench.pcap")
SCAPY_FRAMES = 50_000

TSHARK_FIELDS = (
    "frame.number frame.time_epoch ip.src ip.dst ipv6.src ipv6.dst tcp.srcport tcp.dstport "
    "tcp.flags tcp.seq_raw tcp.len tcp.options.mss_val icmp.mtu icmpv6.mtu"
).split()
TSHARK_TUNED = (
    "-o tcp.analyze_sequence_numbers:FALSE -o tcp.desegment_tcp_streams:FALSE "
    "-o ip.defragment:FALSE -o ipv6.defragment:FALSE -o tcp.calculate_timestamps:FALSE"
).split()

GOALS = {
    "tshark (default prefs)": 50.0,
    "tshark (tuned)": 25.0,
    "dpkt loop": 15.0,
}
"""Minimum speed-up of mtuscope analyze over each tool (issue goals)."""
CAT_FACTOR = 3.0
PEAK_MB = 512.0
STARTUP_S = 0.3


@dataclass
class Measurement:
    """One timed child process."""

    tool: str
    command: str
    status: str = "ok"
    """"ok", "failed: <first stderr line>", "timeout" or "skipped: <why>"."""
    seconds: float | None = None
    peak_mb: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("Running as user"):
            return line[:200]
    return "(no stderr)"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no stderr)"


def measure(
    tool: str,
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    ok_codes: tuple[int, ...] = (0,),
    timeout: float = 900.0,
    keep_stdout: bool = False,
) -> Measurement:
    """Run `cmd` once with stdout to /dev/null; time it and read its peak RSS.

    Args:
        tool: the row name in the table.
        cmd: the argument vector.
        env: environment for the child; None inherits ours.
        ok_codes: exit codes that mean the tool ran to the end.
        timeout: seconds before the child is killed and recorded as "timeout".
        keep_stdout: capture stdout (small outputs only) into `extra["stdout"]`.

    Returns:
        The measurement; a failure is recorded in `status`, never raised.
    """
    shown = shlex.join(cmd) + (" > totals.json" if keep_stdout else " > /dev/null")
    if env is not None and env.get("PYTHONPATH"):
        shown = f"PYTHONPATH={env['PYTHONPATH']} {shown}"
    m = Measurement(tool=tool, command=shown)
    gnu_time = _gnu_time()
    with (
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryFile() as out,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        # GNU time forks a small process and execs the tool, so %M is the tool's own
        # peak; os.wait4 on our own child would also count the RSS of this Python
        # process, which the child inherits until its exec.
        argv = [gnu_time, "-f", "%M", "-o", rss.name, *cmd] if gnu_time else cmd
        try:
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                stdout=out if keep_stdout else subprocess.DEVNULL,
                stderr=err,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            m.status = f"failed: {exc}"
            return m
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        _, wstatus, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(wstatus)
        err.seek(0)
        err_text = err.read().decode(errors="replace")
        m.peak_mb = usage.ru_maxrss / 1024.0  # Linux reports kilobytes
        if gnu_time:
            lines = rss.read().split()
            m.peak_mb = int(lines[-1]) / 1024.0 if lines and lines[-1].isdigit() else None
        # An uncaught Python exception also exits with 1, which mtuscope uses for
        # "ran and found an error-severity finding": tell them apart by the traceback.
        crashed = "Traceback (most recent call last)" in err_text
        if proc.returncode in ok_codes and not crashed:
            m.seconds = elapsed
        elif crashed:
            m.status = f"failed (exit {proc.returncode}): {_last_line(err_text)}"
        elif elapsed >= timeout:
            m.status = f"timeout after {timeout:g} s"
        else:
            m.status = f"failed (exit {proc.returncode}): {_first_line(err_text)}"
        if keep_stdout:
            out.seek(0)
            m.extra["stdout"] = out.read().decode(errors="replace")
    return m


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended just before the timer fired


def _gnu_time() -> str | None:
    """Path of GNU time (Debian package `time`), or None when missing."""
    path = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if path is None:
        return None
    probe = subprocess.run([path, "--version"], capture_output=True, text=True)
    return path if "GNU" in probe.stdout + probe.stderr else None


def mtuscope_command() -> tuple[list[str], dict[str, str] | None]:
    """The installed `mtuscope` of the repo's venv, else `python -m mtuscope` on src/.

    Returns:
        The command prefix and the environment to run it with (None: inherit).
    """
    for candidate in (
        REPO / ".venv" / "bin" / "mtuscope",
        Path(sys.executable).parent / "mtuscope",
    ):
        if candidate.exists():
            return [str(candidate)], None
    found = shutil.which("mtuscope")
    if found:
        return [found], None
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src")
    return [sys.executable, "-m", "mtuscope"], env


def startup_seconds(prefix: list[str], env: dict[str, str] | None, runs: int = 5) -> float | None:
    """Best wall time of `mtuscope --help` over `runs` runs; None if it fails.

    Args:
        prefix: the mtuscope command prefix.
        env: its environment.
        runs: how many runs to take the best of.

    Returns:
        Seconds, or None when the command exits non-zero.
    """
    best: float | None = None
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(prefix + ["--help"], capture_output=True, env=env)
        took = time.perf_counter() - start
        if done.returncode != 0:
            return None
        best = took if best is None else min(best, took)
    return best


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    tshark = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout
    dpkt_version = subprocess.run(
        [sys.executable, "-c", "import dpkt; print(dpkt.__version__)"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "tshark": tshark.splitlines()[0] if tshark else "",
        "dpkt": dpkt_version,
        "loadavg_before": list(os.getloadavg()),
        "peak_rss_from": "GNU time %M"
        if _gnu_time()
        else "os.wait4 ru_maxrss (floor: this runner)",
    }


def _ratio(m: Measurement, base: Measurement | None) -> str:
    if m.seconds is None or base is None or base.seconds is None or base.seconds == 0:
        return "n/a"
    ratio = m.seconds / base.seconds
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.0f}x"


def render_table(results: list[Measurement], base: Measurement | None) -> str:
    """The markdown table: tool, seconds, ratio vs mtuscope, peak MB.

    Args:
        results: the measurements in table order.
        base: the mtuscope measurement the ratios divide by.

    Returns:
        The table as markdown text.
    """
    lines = [
        "| tool | seconds | ratio vs mtuscope | peak MB |",
        "|---|---:|---:|---:|",
    ]
    for m in results:
        secs = f"{m.seconds:.2f}" if m.seconds is not None else m.status
        if m.note:
            secs += f" ({m.note})"
        peak = f"{m.peak_mb:.0f}" if m.peak_mb is not None and m.seconds is not None else "-"
        lines.append(f"| {m.tool} | {secs} | {_ratio(m, base)} | {peak} |")
    return "\n".join(lines)


def goals(results: list[Measurement], startup: float | None) -> dict[str, Any]:
    """Check the issue's goals against the measurements.

    Args:
        results: all measurements, including "mtuscope analyze" and "cat".
        startup: `mtuscope --help` best wall time.

    Returns:
        Goal name -> {"target", "measured", "met"}; "met" is None when unmeasured.
    """
    by = {m.tool: m for m in results}
    mt = by.get("mtuscope analyze")
    ok = mt is not None and mt.seconds is not None
    out: dict[str, Any] = {}
    for tool, factor in GOALS.items():
        other = by.get(tool)
        measured = None
        if ok and other is not None and other.seconds is not None and mt and mt.seconds:
            measured = other.seconds / mt.seconds
        out[f"speed-up over {tool}"] = {
            "target": f">= {factor:g}x",
            "measured": None if measured is None else round(measured, 1),
            "met": None if measured is None else measured >= factor,
        }
    cat = by.get("cat")
    within = None
    if ok and mt and mt.seconds and cat is not None and cat.seconds:
        within = mt.seconds / cat.seconds
    out["time vs cat"] = {
        "target": f"<= {CAT_FACTOR:g}x",
        "measured": None if within is None else round(within, 2),
        "met": None if within is None else within <= CAT_FACTOR,
    }
    peak = mt.peak_mb if ok and mt else None
    out["peak memory"] = {
        "target": f"< {PEAK_MB:g} MB",
        "measured": None if peak is None else round(peak),
        "met": None if peak is None else peak < PEAK_MB,
    }
    out["start-up (--help)"] = {
        "target": f"< {STARTUP_S:g} s",
        "measured": None if startup is None else round(startup, 3),
        "met": None if startup is None else startup < STARTUP_S,
    }
    return out


def _check_dpkt(m: Measurement, truth: dict[str, Any] | None) -> None:
    """Compare the dpkt loop's totals with the ground truth (a sanity check of both)."""
    if truth is None or m.seconds is None:
        return
    try:
        seen = json.loads(m.extra.pop("stdout", "").strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        m.note = "no totals printed"
        return
    same = (
        seen["packets"] == truth["packets"]
        and seen["syn_mss"] == truth["syn_mss"]
        and seen["icmp_too_big"]["ipv4"] == truth["icmp_too_big"]["ipv4"]
        and seen["icmp_too_big"]["ipv6"] == truth["icmp_too_big"]["ipv6"]
    )
    m.extra["totals_match_truth"] = same
    if not same:
        m.note = "totals differ from truth"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark once and report it.

    Args:
        argv: arguments without the program name; None reads sys.argv.

    Returns:
        0 when the benchmark ran (whatever the figures), 2 on a usage problem.
    """
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE)
    p.add_argument("--packets", type=int, default=2_000_000, help="when generating")
    p.add_argument("--skip-generate", action="store_true", help="fail if the capture is missing")
    p.add_argument("--with-scapy", action="store_true", help="also time scapy (50k frames)")
    p.add_argument("--no-scapy", action="store_true", help="skip scapy (the default)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per tool")
    p.add_argument("--results", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    capture: Path = args.capture
    python = sys.executable
    if Path(python).is_relative_to(REPO):
        python = os.path.relpath(python, REPO)
    invocation = shlex.join([python, *sys.argv]) if argv is None else ""

    if not capture.exists():
        if args.skip_generate:
            print(f"run.py: {capture} does not exist (--skip-generate given)", file=sys.stderr)
            return 2
        if REPO in capture.resolve().parents:
            print("run.py: generate the capture outside the repository", file=sys.stderr)
            return 2
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "gen_capture.py"),
                "--out",
                str(capture),
                "--packets",
                str(args.packets),
            ],
            check=True,
        )
    truth_path = Path(f"{capture}.truth.json")
    truth = json.loads(truth_path.read_text()) if truth_path.exists() else None
    size = capture.stat().st_size
    print(f"capture: {capture} ({size / 1e9:.2f} GB)", file=sys.stderr)

    machine = _machine()
    for _ in range(2):  # warm the page cache
        subprocess.run(["cat", str(capture)], stdout=subprocess.DEVNULL, check=True)

    prefix, env = mtuscope_command()
    path = str(capture)
    tshark = ["tshark", "-n", "-r", path, "-T", "fields"]
    for name in TSHARK_FIELDS:
        tshark += ["-e", name]
    plan: list[tuple[str, list[str], dict[str, Any]]] = [
        ("cat", ["cat", path], {}),
        (
            "mtuscope analyze",
            [*prefix, "analyze", path, "--json"],
            {"env": env, "ok_codes": (0, 1)},
        ),
        ("dpkt loop", [sys.executable, str(BENCH / "dpkt_loop.py"), path], {"keep_stdout": True}),
        ("tshark (tuned)", tshark[:4] + TSHARK_TUNED + tshark[4:], {}),
        ("tshark (default prefs)", tshark, {}),
    ]
    results: list[Measurement] = []
    for tool, cmd, kw in plan:
        print(f"running {tool} ...", file=sys.stderr, flush=True)
        m = measure(tool, cmd, timeout=args.timeout, **kw)
        if tool == "dpkt loop":
            _check_dpkt(m, truth)
        print(f"  {m.status} {m.seconds if m.seconds is not None else ''}", file=sys.stderr)
        results.append(m)

    if args.with_scapy and not args.no_scapy:
        results.append(_scapy(path, truth, args.timeout))

    startup = startup_seconds(prefix, env)
    machine["loadavg_after"] = list(os.getloadavg())
    base = next((m for m in results if m.tool == "mtuscope analyze"), None)
    table = render_table(results, base)
    goal_report = goals(results, startup)

    print(table)
    print()
    print(
        "start-up (`mtuscope --help`, best of 5): " + (f"{startup:.3f} s" if startup else "failed")
    )
    for name, g in goal_report.items():
        met = {True: "met", False: "NOT met", None: "not measured"}[g["met"]]
        print(f"goal {name}: {g['target']}, measured {g['measured']} -> {met}")
    print()
    print("commands:")
    for m in results:
        print(f"  {m.tool}: {m.command}")
    if invocation:
        print(f"benchmark command: {invocation}")

    now = dt.datetime.now(dt.UTC)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / f"{now:%Y-%m-%dT%H%MZ}.json"
    record = {
        "date": now.isoformat(timespec="seconds"),
        "invocation": invocation,
        "machine": machine,
        "capture": {"path": path, "bytes": size, "truth": truth},
        "results": [{**asdict(m), "ratio_vs_mtuscope": _ratio(m, base)} for m in results],
        "startup_seconds": startup,
        "goals": goal_report,
        "table_markdown": table,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results written to {out}")
    return 0


def _scapy(path: str, truth: dict[str, Any] | None, timeout: float) -> Measurement:
    """Time scapy on the first SCAPY_FRAMES frames and extrapolate to the whole file."""
    probe = subprocess.run([sys.executable, "-c", "import scapy"], capture_output=True)
    name = f"scapy (first {SCAPY_FRAMES // 1000}k frames, extrapolated)"
    if probe.returncode != 0:
        return Measurement(tool=name, command="", status="skipped: scapy not installed")
    cmd = [sys.executable, str(BENCH / "scapy_loop.py"), path, str(SCAPY_FRAMES)]
    m = measure(name, cmd, timeout=timeout)
    total = truth["packets"] if truth else None
    if m.seconds is not None and total:
        m.extra["measured_seconds"] = m.seconds
        m.seconds = m.seconds * total / SCAPY_FRAMES
        m.note = "extrapolated"
    return m


if __name__ == "__main__":
    sys.exit(main())
