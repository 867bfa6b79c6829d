"""capture_report: connection rows rendered from columns on demand, ids across files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import iter_chunks
from mtuscope.passive import analyse, finish
from mtuscope.report import capture
from mtuscope.report.capture import ConnectionRows, capture_report
from mtuscope.report.schema import validate_report

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_rows_of_several_captures_number_on_and_render_lazily() -> None:
    paths = [str(EXAMPLES / n) for n in ("clamp-client.pcap", "blackhole-server.pcap")]
    one = [capture_report([p]) for p in paths]
    both = capture_report(paths)
    rows = both.body["connections"]
    assert isinstance(rows, ConnectionRows)
    n0 = len(one[0].body["connections"])
    assert len(rows) == n0 + len(one[1].body["connections"]) and rows
    assert [r["id"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["capture"] for r in rows[:n0]] == [paths[0]] * n0
    assert rows[n0]["capture"] == paths[1] and rows[-1] == list(rows)[-1]
    assert rows[1:3] == list(rows)[1:3]
    later = [f.connection for f in both.findings if f.connection is not None]
    assert max(later) > n0  # the second capture's black hole, renumbered
    doc = both.to_dict()
    validate_report(doc)
    assert json.loads(json.dumps(doc))["connections"] == list(rows)


def test_batches_cover_every_row() -> None:
    report = capture_report([str(EXAMPLES / "clamp-client.pcap")])
    rows = report.body["connections"]
    whole = list(rows)
    rows.BATCH = 1
    assert list(rows) == whole and len(whole) == len(rows)


@pytest.mark.parametrize("ratio", [0, 1, 16, 1 << 30])
@pytest.mark.parametrize("held", [0, 1 << 19])
@pytest.mark.parametrize("name", ["blackhole-server.pcap", "clamp-client.pcap"])
def test_small_chunks_merge_to_the_whole_capture(
    name: str, held: int, ratio: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any fold ratio (0: a pure binary counter, huge: always straight into the first
    partial) and records bound gives the one-chunk analysis."""
    path = str(EXAMPLES / name)
    monkeypatch.setattr(capture, "MAX_HELD_RECORDS", held)
    monkeypatch.setattr(capture._Folder, "FOLD_RATIO", ratio)
    whole, _ = capture._run_chunks(path, iter_chunks(path), None, None, 2)
    parts, _ = capture._run_chunks(path, iter_chunks(path, capacity=3), None, None, 2)
    assert parts.frames == whole.frames > 6 and parts.at_start
    assert finish(parts) == finish(whole)


def test_folder_keeps_file_order_and_merges_everything() -> None:
    path = str(EXAMPLES / "clamp-client.pcap")
    parts = [
        analyse(
            decode_chunk(c.records, c.block, c.ts_ns, c.first_frame),
            capture=path,
            at_start=i == 0,
        )
        for i, c in enumerate(iter_chunks(path, capacity=2))
    ]
    assert len(parts) > 4
    folder = capture._Folder()
    assert folder.result() is None
    for p in parts:
        folder.add(p)
    merged = folder.result()
    assert merged is not None and merged.at_start and not folder.stack
    assert merged.frames == sum(p.frames for p in parts)
    whole, _ = capture._run_chunks(path, iter_chunks(path), None, None, 1)
    assert finish(merged) == finish(whole)
