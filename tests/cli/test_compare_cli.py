"""`mtuscope compare A B` end to end on real captures from the namespace lab."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from mtuscope.cli import compare
from mtuscope.errors import UsageError
from mtuscope.jobs.compare import CompareReport
from mtuscope.report.compare_text import compare_story
from mtuscope.report.schema import validate_report
from mtuscope.report.serialize import to_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*argv: str) -> CompareReport:
    parser = argparse.ArgumentParser()
    compare.add_parser(parser.add_subparsers())
    args = parser.parse_args(["compare", *argv])
    report: CompareReport = args.run(args)
    validate_report(to_dict(report))
    return report


def pair(name: str) -> tuple[str, str]:
    a, b = EXAMPLES / f"{name}-client.pcap", EXAMPLES / f"{name}-server.pcap"
    assert a.exists() and b.exists(), f"bundled examples missing: {a}, {b}"
    return str(a), str(b)


def test_clamp_pair_says_mss_rewritten_1460_to_1300() -> None:
    a, b = pair("clamp")
    rep = run(a, b, "--json")
    doc = to_dict(rep)
    assert doc["kind"] == "compare"
    (m,) = doc["matches"]
    got = {(c["direction"], c["a"], c["b"]) for c in m["changes"] if c["kind"] == "mss-rewritten"}
    # The router clamps the SYN (client->server) to 1300; the SYN/ACK leaves the
    # server with 1460 and reaches the client clamped to 1300 as well.
    assert got == {("client->server", 1460, 1300), ("server->client", 1300, 1460)}
    assert m["client_side"] == "a"
    finds = [f for f in rep.findings if f.kind == "mss-rewritten"]
    c2s = next(f for f in finds if f.facts["direction"] == "client->server")
    assert (c2s.facts["original_mss"], c2s.facts["mss"]) == (1460, 1300)
    s2c = next(f for f in finds if f.facts["direction"] == "server->client")
    assert (s2c.facts["original_mss"], s2c.facts["mss"]) == (1460, 1300)
    frames = {(e.capture, e.frame) for e in c2s.evidence}
    assert frames == {(a, 1), (b, 1)}
    assert not [f for f in rep.findings if f.kind == "lost-between-points"]
    assert abs(doc["clock_offset_s"]) < 0.01
    story = compare_story(rep)
    assert any("MSS client->server: 1460 at A, 1300 at B" in line for line in story)
    # The advice is the findings block's, printed once after the story.
    assert not any(line.startswith("What to do") for line in story)


def test_pmtud_pair_loses_big_segments_and_names_the_icmp() -> None:
    rep = run(*pair("pmtud-ok"))
    kinds = {f.kind for f in rep.findings}
    assert kinds == {"lost-between-points", "icmp-too-big"}
    lost = next(f for f in rep.findings if f.kind == "lost-between-points")
    assert lost.facts["direction"] == "server->client" and lost.facts["seen_at"] == "b"
    assert lost.facts["segment"] == 1448
    icmp = to_dict(rep)["icmp_too_big"]
    assert icmp and all(i["mtu"] == 1400 and i["point"] == "b" for i in icmp)


def test_json_through_main() -> None:
    from mtuscope.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["compare", *pair("clamp"), "--json"])
    assert code == 0
    validate_report(json.loads(out.getvalue()))


def test_bad_platform_and_window_are_usage_errors() -> None:
    a, b = pair("clamp")
    with pytest.raises(UsageError, match="platform"):
        run(a, b, "--platform", "nonesuch")
    with pytest.raises(UsageError, match="window"):
        run(a, b, "--window", "0")


def test_stdin_is_spooled_and_read_like_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    a, b = pair("pmtud-ok")
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(Path(a).read_bytes())))
    piped = to_dict(run("-", b))
    assert list(tmp_path.iterdir()) == []  # the spool file is gone
    direct = json.loads(json.dumps(to_dict(run(a, b))).replace(json.dumps(a), '"-"'))
    assert piped == direct
    assert piped["matches"][0]["lost"]["server->client"] > 0
