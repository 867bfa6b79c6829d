"""jobs/analyze.py and jobs/captures.py: options checked once, chunks folded, ids across files."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

import pytest

from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import iter_chunks
from mtuscope.errors import UsageError
from mtuscope.jobs import captures
from mtuscope.jobs.analyze import AnalyzeOptions, CaptureResult, analyze
from mtuscope.passive import analyse, finish
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_ids_run_on_over_several_captures_and_findings_keep_them() -> None:
    paths = tuple(str(EXAMPLES / n) for n in ("clamp-client.pcap", "blackhole-server.pcap"))
    one = [analyze(AnalyzeOptions(paths=(p,))) for p in paths]
    both = analyze(AnalyzeOptions(paths=paths))
    assert isinstance(both, CaptureResult) and both.kind == "capture"
    n0 = one[0].connection_count
    assert both.connection_count == n0 + one[1].connection_count
    second = both.analyses[1]
    assert second.first_id == n0 + 1
    assert [c.id for c in second.connections] == list(range(n0 + 1, both.connection_count + 1))
    assert [m.connection for m in second.icmp_too_big if m.connection is not None] == [
        m.connection + n0 for m in one[1].analyses[0].icmp_too_big if m.connection is not None
    ]
    later = [f.connection for f in both.findings if f.connection is not None]
    assert max(later) > n0  # the second capture's black hole, numbered on
    doc = to_dict(both)
    validate_report(doc)
    assert [r["id"] for r in doc["connections"]] == list(range(1, both.connection_count + 1))
    assert {r["capture"] for r in doc["connections"]} == set(paths)


def test_filter_and_platform_are_checked_once() -> None:
    opts = AnalyzeOptions(paths=("x.pcap",), filter="[2001:db8::1]:443", platform="cisco")
    assert opts.host_filter is not None
    assert (opts.host_filter.address, opts.host_filter.port) == (ip_address("2001:db8::1"), 443)
    assert opts.platform == "cisco-ios"
    bare = AnalyzeOptions(paths=("x.pcap",), filter="2001:db8::1").host_filter
    assert bare is not None and bare.port is None
    for bad in ("example.com", "192.0.2.1:0", "192.0.2.1:x", "[::1"):
        with pytest.raises(UsageError, match="--filter"):
            AnalyzeOptions(paths=("x.pcap",), filter=bad)
    with pytest.raises(UsageError, match="platform"):
        AnalyzeOptions(paths=("x.pcap",), platform="nonesuch")
    with pytest.raises(UsageError):
        AnalyzeOptions(paths=())
    assert AnalyzeOptions(paths=["a.pcap"]).paths == ("a.pcap",)  # type: ignore[arg-type]


def test_filter_keeps_one_host() -> None:
    path = str(EXAMPLES / "clamp-client.pcap")
    kept = analyze(AnalyzeOptions(paths=(path,), filter="203.0.113.2:8080"))
    gone = analyze(AnalyzeOptions(paths=(path,), filter="198.51.100.10:8080"))
    assert kept.connection_count == 1 and gone.connection_count == 0
    assert to_dict(gone)["captures"][0]["filter"] == "198.51.100.10:8080"


def test_progress_is_called_per_chunk() -> None:
    path = str(EXAMPLES / "clamp-client.pcap")
    seen: list[tuple[str, int, int]] = []
    captures.read_capture(path, progress=lambda *a: seen.append(a), capacity=10)
    size = Path(path).stat().st_size
    assert len(seen) > 4 and all(p == path and total == size for p, _, total in seen)
    assert [done for _, done, _ in seen] == sorted(done for _, done, _ in seen)


@pytest.mark.parametrize("ratio", [0, 1, 16, 1 << 30])
@pytest.mark.parametrize("held", [0, 1 << 19])
@pytest.mark.parametrize("name", ["blackhole-server.pcap", "clamp-client.pcap"])
def test_small_chunks_merge_to_the_whole_capture(
    name: str, held: int, ratio: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any fold ratio (0: a pure binary counter, huge: always straight into the first
    partial) and records bound gives the one-chunk analysis."""
    path = str(EXAMPLES / name)
    monkeypatch.setattr(captures, "MAX_HELD_RECORDS", held)
    monkeypatch.setattr(captures.Folder, "FOLD_RATIO", ratio)
    whole = captures.read_capture(path, workers=2).partial
    parts = captures.read_capture(path, capacity=3, workers=2).partial
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
    folder = captures.Folder()
    assert folder.result() is None
    for p in parts:
        folder.add(p)
    merged = folder.result()
    assert merged is not None and merged.at_start and not folder.stack
    assert merged.frames == sum(p.frames for p in parts)
    whole = captures.read_capture(path, workers=1).partial
    assert finish(merged) == finish(whole)


def test_fold_is_a_balanced_merge_in_file_order() -> None:
    assert captures.fold([], lambda x, y: x + y) is None
    for n in range(1, 12):
        words = [str(i) for i in range(n)]
        assert captures.fold(words, lambda x, y: x + y) == "".join(words)


def test_an_empty_capture_gives_an_empty_analysis(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    result = analyze(AnalyzeOptions(paths=(str(path),)))
    assert result.connection_count == 0 and result.findings == ()
    assert to_dict(result)["captures"][0]["packets"] == 0


def test_decode_warning_names_the_first_issue() -> None:
    from mtuscope.capture.table import DecodeIssue

    assert captures.decode_warning("x", []) is None
    line = captures.decode_warning("x", [DecodeIssue(frame=3, offset=40, error="bad")] * 2)
    assert line == "x: 2 frames did not decode fully (first: frame 3, offset 40: bad)"
