"""jobs/many.py: captures under directories, bad files among good ones, chunk ranges,
and the same report on one process, two processes and a real Dask cluster."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mtuscope.errors import CaptureError, UsageError
from mtuscope.jobs import captures, many
from mtuscope.jobs.analyze import AnalyzeOptions, CaptureResult, analyze
from mtuscope.passive import finish
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict, write_json

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GEN = ROOT / "bench" / "gen_capture.py"
CHUNK = 1024 * 512
"""chunk_bytes giving chunks of 1024 frames: a 20,000-packet capture makes 20 of them."""


def _gen(out: Path, packets: int, seed: int) -> Path:
    subprocess.run(
        [sys.executable, str(GEN), "--out", str(out), "--packets", str(packets)]
        + ["--seed", str(seed)],
        check=True,
        capture_output=True,
    )
    (out.parent / f"{out.name}.truth.json").unlink()
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of captures (pcap, gzip under a name that says nothing, nested) and
    files that are not captures."""
    top = tmp_path_factory.mktemp("captures")
    (top / "b" / "deeper").mkdir(parents=True)
    _gen(top / "big-1.pcap", 20_000, 1)
    _gen(top / "b" / "big-2.pcap", 12_000, 2)
    shutil.copy(EXAMPLES / "clamp-client.pcap", top / "b" / "deeper" / "clamp.pcap")
    data = (EXAMPLES / "blackhole-server.pcap").read_bytes()
    (top / "b" / "trace.dat").write_bytes(gzip.compress(data))
    (top / "README.txt").write_text("captures of the lab\n")
    (top / "b" / "empty.pcap").write_bytes(b"")
    (top / "b" / "notes.gz").write_bytes(gzip.compress(b"not a capture"))
    return top


CAPTURES = ("b/big-2.pcap", "b/deeper/clamp.pcap", "b/trace.dat", "big-1.pcap")


def test_a_directory_gives_its_captures_by_magic_and_says_what_it_skipped(tree: Path) -> None:
    found = many.find_captures([str(tree)])
    assert found.files == tuple(str(tree / p) for p in CAPTURES)
    (line,) = found.warnings
    assert line.startswith(f"{tree}: skipped 3 files that are not captures: ")
    assert "README.txt (not pcap or pcapng: starts with 63 61 70 74)" in line
    assert "b/empty.pcap (empty)" in line
    assert "b/notes.gz (not pcap or pcapng: gunzipped, starts with 6e 6f 74 20)" in line
    # A file named directly is the reader's to judge; '-' stays as it is.
    named = many.find_captures([str(tree / "README.txt"), "-"])
    assert named.files == (str(tree / "README.txt"), "-") and named.warnings == ()


def test_a_directory_without_captures_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UsageError, match=r"no pcap or pcapng capture .* \(1 other files skipped"):
        many.find_captures([str(tmp_path)])
    (tmp_path / "a.txt").unlink()
    with pytest.raises(UsageError, match="no pcap or pcapng capture under this directory$"):
        many.find_captures([str(tmp_path)])


def test_a_directory_is_one_report_whose_connections_name_their_capture(tree: Path) -> None:
    result = analyze(AnalyzeOptions(paths=(str(tree),), jobs=1))
    files = [str(tree / p) for p in CAPTURES]
    assert list(result.inputs) == files == [c.path for c in result.captures]
    doc = to_dict(result)
    validate_report(doc)
    assert {r["capture"] for r in doc["connections"]} == set(files)
    assert [r["id"] for r in doc["connections"]] == list(range(1, result.connection_count + 1))
    one = analyze(AnalyzeOptions(paths=(files[0],)))
    assert result.analyses[0] == one.analyses[0]
    assert any("skipped 3 files" in w for w in result.warnings)


def test_a_bad_file_among_good_ones_is_a_warning_and_all_bad_is_the_error(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"hello world")
    good = str(EXAMPLES / "clamp-client.pcap")
    for jobs in (1, 2):
        result = analyze(AnalyzeOptions(paths=(str(bad), good), jobs=jobs))
        assert [c.path for c in result.captures] == [good]
        assert f"{bad}, offset 0: not a pcap or pcapng file (starts with 68 65 6c 6c)" in (
            result.warnings
        )
        assert result.analyses[0].first_id == 1
    with pytest.raises(CaptureError) as one:
        analyze(AnalyzeOptions(paths=(str(bad),)))
    assert str(one.value) == f"{bad}, offset 0: not a pcap or pcapng file (starts with 68 65 6c 6c)"
    for jobs in (1, 2):
        with pytest.raises(CaptureError) as two:
            analyze(AnalyzeOptions(paths=(str(bad), str(tmp_path / "gone.pcap")), jobs=jobs))
        assert str(two.value).startswith(f"{bad}, offset 0: not a pcap or pcapng file")
        assert str(two.value).endswith("(and 1 more captures could not be read)")


def test_chunk_ranges_merge_into_the_whole_capture(tree: Path) -> None:
    path = str(tree / "big-1.pcap")
    size = os.path.getsize(path)
    units = many.plan(
        [path], host_filter=None, chunk_bytes=CHUNK, capacity=None, split_bytes=size // 5
    )
    assert len(units) == 5 and units[0].first == 0 and units[-1].stop is None
    assert [u.first for u in units[1:]] == [u.stop for u in units[:-1]]
    done = [many.run_unit(u) for u in reversed(units)]  # arrival order does not matter
    # 20 chunks of 1024 frames; the estimate of bytes per frame puts 4 in each range.
    assert [(u.first, u.stop) for u in units] == [(0, 4), (4, 8), (8, 12), (12, 16), (16, None)]
    assert all(d.read is not None and d.read.partial is not None for d in done)
    ((_, read),) = list(many.assemble([path], units, done))
    assert isinstance(read, captures.CaptureRead)
    whole = captures.read_capture(path, chunk_bytes=CHUNK)
    assert read.info == whole.info and read.issues == whole.issues
    assert finish(read.partial) == finish(whole.partial)
    # A range past the capture's end holds nothing, and merges as nothing.
    late = many.run_unit(
        many.Unit(
            index=0,
            path=path,
            first=999,
            stop=None,
            host_filter=None,
            chunk_bytes=CHUNK,
            capacity=None,
            size=0,
        )
    )
    assert late.read is not None and late.read.partial is None and late.error is None
    ((_, again),) = list(many.assemble([path], [*units, late.unit], [late, *done]))
    assert isinstance(again, captures.CaptureRead)
    assert finish(again.partial) == finish(whole.partial)


def test_partials_are_small_and_pickle(tree: Path) -> None:
    """What travels back from a worker: a row per connection direction, not per packet."""
    path = str(tree / "big-1.pcap")
    (unit,) = many.plan(
        [path], host_filter=None, chunk_bytes=CHUNK, capacity=None, split_bytes=1 << 40
    )
    done = many.run_unit(unit)
    blob = pickle.dumps(done)
    assert done.read is not None and done.read.partial is not None
    p = done.read.partial
    conns = p.directions.height // 2
    assert conns > 300 and p.frames > 19_000
    tables = ("directions", "sizes", "encaps", "syns", "ends", "records", "retrans", "icmp")
    rows = sum(getattr(p, t).height for t in (*tables, "fragments"))
    # measured: 6.3 rows a connection direction, 1.6 KB a connection (of 50 packets),
    # 1/25 of the file
    assert rows < 8 * p.directions.height and rows < p.frames / 3
    assert len(blob) < 2000 * conns and len(blob) < os.path.getsize(path) / 20
    back = pickle.loads(blob)
    assert finish(back.read.partial) == finish(p)


def _json(result: CaptureResult) -> str:
    out = io.StringIO()
    write_json(result, out)
    return out.getvalue()


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real Dask scheduler and two workers (separate processes) on loopback."""
    pytest.importorskip("distributed")
    dask = shutil.which("dask", path=str(Path(sys.executable).parent))
    assert dask is not None
    info = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0"]
            + ["--no-dashboard", "--scheduler-file", str(info)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            assert procs[0].poll() is None, "the Dask scheduler exited"
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written in one go, but give it a moment
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nworkers", "1", "--nthreads", "1"]
                    + ["--no-dashboard", "--host", "127.0.0.1"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
            )
        # Any: distributed's annotations are partial (untyped calls under --strict).
        distributed: Any = importlib.import_module("distributed")
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
            assert len(client.scheduler_info()["workers"]) == 2
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


def test_the_report_is_the_same_on_one_process_two_processes_and_dask(
    tree: Path, dask_cluster: str
) -> None:
    # Small chunks and ranges: each big capture is cut into several ranges.
    def run(jobs: int | None = None, scheduler: str | None = None) -> str:
        opts = AnalyzeOptions(
            paths=(str(tree),),
            chunk_bytes=CHUNK,
            split_bytes=3 << 20,
            jobs=jobs,
            scheduler=scheduler,
        )
        return _json(analyze(opts))

    one = run(jobs=1)
    units = many.plan(
        many.find_captures([str(tree)]).files,
        host_filter=None,
        chunk_bytes=CHUNK,
        capacity=None,
        split_bytes=3 << 20,
    )
    assert len(units) > 8  # the two big captures are in ranges
    two = run(jobs=2)
    on_dask = run(scheduler=dask_cluster)
    doc = json.loads(one)
    validate_report(doc)
    assert len(doc["connections"]) > 600 and len(doc["captures"]) == 4
    assert two == one
    assert on_dask == one
    # And through the command line, split the default way (files whole).
    cli = [sys.executable, "-m", "mtuscope", "analyze", "--json", str(tree)]
    runs = [
        subprocess.run(cli + extra, capture_output=True, text=True, timeout=300)
        for extra in (["--jobs", "1"], ["--jobs", "2"], ["--scheduler", dask_cluster])
    ]
    assert [r.returncode for r in runs] == [1, 1, 1]  # the black hole is an error finding
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout
    assert json.loads(runs[0].stdout)["connections"] == doc["connections"]
    assert all("skipped 3 files" in r.stderr for r in runs)


def test_a_scheduler_nobody_listens_on_is_exit_3_in_one_line() -> None:
    pytest.importorskip("distributed")
    run = subprocess.run(
        [sys.executable, "-m", "mtuscope", "analyze", str(EXAMPLES / "clamp-client.pcap")]
        + ["--scheduler", "tcp://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 3
    assert run.stderr.startswith("mtuscope analyze: --scheduler tcp://127.0.0.1:9: cannot reach")
    assert run.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "0"], "argument --jobs: '0' is not a number of processes (1 or more)"),
        (["--scheduler", "127.0.0.1:8786"], "expected tcp://HOST:PORT"),
        (["--scheduler", "tcp://127.0.0.1"], "--scheduler"),
        (["--jobs", "2", "--scheduler", "tcp://127.0.0.1:8786"], "one or the other"),
    ],
)
def test_bad_jobs_and_scheduler_are_usage_errors(args: list[str], message: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mtuscope", "analyze", str(EXAMPLES / "clamp-client.pcap"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1


def test_progress_on_processes_counts_units_up_to_the_total(tree: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    result = analyze(
        AnalyzeOptions(paths=(str(tree),), chunk_bytes=CHUNK, split_bytes=4 << 20, jobs=2),
        progress=lambda *a: seen.append(a),
    )
    assert len(result.captures) == 4
    sizes = sum(os.path.getsize(tree / p) for p in CAPTURES)
    assert len(seen) > 4 and {label for label, _, _ in seen} == {"4 captures"}
    done = [d for _, d, _ in seen]
    assert done == sorted(done) and {t for _, _, t in seen} == {done[-1]}
    assert sizes - 8 < done[-1] <= sizes  # each range stands for its share of the file


def test_a_capture_is_handed_on_as_soon_as_it_and_those_before_it_are_in() -> None:
    files = [str(EXAMPLES / n) for n in ("clamp-client.pcap", "blackhole-server.pcap")]
    units = many.plan(files, host_filter=None, chunk_bytes=CHUNK, capacity=None, split_bytes=1)
    assert len(units) == 2  # small files: one range each, whatever split_bytes
    done = {u.index: many.run_unit(u) for u in units}
    taken: list[int] = []

    def arriving() -> Iterator[many.UnitDone]:
        for index in (0, 1):
            taken.append(index)
            yield done[index]

    out = many.assemble(files, units, arriving())
    first = next(out)
    assert first[0] == files[0] and taken == [0]  # the second unit is still out there
    assert [p for p, _ in out] == [files[1]] and taken == [0, 1]
    late_first = list(many.assemble(files, units, iter([done[1], done[0]])))
    assert [p for p, _ in late_first] == files


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def test_an_interrupt_on_processes_reports_the_captures_finished(tree: Path) -> None:
    """SIGINT while the worker processes run: exit 130 with a report of the captures
    finished so far (a prefix of the inputs) and a warning saying how many."""
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs /proc to see the worker processes start (Linux)")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtuscope", "analyze", "--json", "--jobs", "2", str(tree)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _children(proc.pid):  # the pool is starting: the run is under way
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(2)  # SIGINT, to mtuscope only (its workers ignore it anyway)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    doc = json.loads(out)
    validate_report(doc)
    files = [str(tree / p) for p in CAPTURES]
    done = [c["path"] for c in doc["captures"]]
    assert doc["inputs"] == files and done == files[: len(done)] and len(done) < 4
    line = f"interrupted after {len(done)} of 4 captures; the others were not analysed"
    assert line in doc["warnings"] and f"mtuscope analyze: warning: {line}" in err
    assert "Traceback" not in err
