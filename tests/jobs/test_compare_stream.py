"""jobs/compare.py's lockstep streaming join: the same report as the whole-capture read,
and live state bounded by the connections open at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jobs.compare_whole import connections_of_file, whole
from mtuscope.errors import CaptureError
from mtuscope.jobs.compare import stream_compare
from mtuscope.passive.compare_stream import GRACE_NS

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CORPUS = Path(os.environ["MTUSCOPE_CORPUS"])  # set by tests/conftest.py


def _pairs() -> list[tuple[str, str]]:
    names = ["clamp", "blackhole", "pmtud-ok", "pmtud-ok-v6"]
    out = [(str(EXAMPLES / f"{n}-client.pcap"), str(EXAMPLES / f"{n}-server.pcap")) for n in names]
    out.append((out[0][1], out[0][0]))  # the other way round
    out.append((out[0][0], out[1][1]))  # two captures of different traffic
    return out


@pytest.mark.parametrize(("a", "b"), _pairs(), ids=lambda p: Path(p).stem)
def test_the_streaming_join_gives_the_whole_capture_report(a: str, b: str) -> None:
    expected = whole(a, b)
    got, warnings, _ = stream_compare(a, b)
    assert got == expected and warnings == ()
    # Tiny chunks and a first window of one connection: decided round by round.
    small, _, stats = stream_compare(a, b, chunk_bytes=2048, first_window=1)
    assert small == expected
    assert stats.rounds >= 1


def test_the_corpus_tcp_captures_against_themselves() -> None:
    caps = sorted((CORPUS / "pcaps").rglob("*.pcap"))[:40]
    if not caps:
        pytest.skip(f"no corpus captures under {CORPUS}")
    seen = 0
    for path in caps:
        p = str(path)
        try:
            expected = whole(p, p)
        except CaptureError:  # unreadable corpus captures: compare's exit 2, streaming too
            with pytest.raises(CaptureError):
                stream_compare(p, p)
            continue
        got, _, _ = stream_compare(p, p, chunk_bytes=4096, first_window=2)
        assert got == expected, p
        seen += 1
    assert seen >= 10


@pytest.fixture(scope="module")
def long_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated 5-minute capture: 2000 connections starting over 300 s."""
    out = tmp_path_factory.mktemp("long") / "long.pcap"
    subprocess.run(
        [sys.executable, str(REPO / "bench" / "gen_capture.py"), "--out", str(out),
         "--packets", "100000", "--seed", "3"],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


def test_live_state_stays_bounded_by_the_connections_open_at_once(long_capture: Path) -> None:
    p = str(long_capture)
    chunk = 1 << 20
    got, _, stats = stream_compare(p, p, chunk_bytes=chunk, first_window=50)
    assert got == whole(p, p, chunk_bytes=chunk)
    conns, _ = connections_of_file(p)
    first = conns.conns["first_ts"].to_numpy().astype(np.int64)
    last = conns.conns["last_ts"].to_numpy().astype(np.int64)
    total = len(first)
    assert total == 2000 and len(got.matches) == total
    # Open at once, with the slack the join may hold a connection for: the grace after
    # its last packet, the matching window on either side, and one chunk's span of time.
    chunk_span = int(np.ptp(first)) * chunk // long_capture.stat().st_size
    slack = GRACE_NS + 2 * 2_000_000_000 + 2 * chunk_span
    starts, ends = np.sort(first - slack), np.sort(last + slack)
    open_at_once = int(
        max(np.searchsorted(starts, t, side="right") - np.searchsorted(ends, t) for t in starts)
    )
    assert stats.peak_held <= 2 * open_at_once  # both captures
    assert stats.peak_held < total / 4
