"""`mtuscope analyze --annotate OUT.pcapng` and the Wireshark filter of every finding.

tshark is the oracle, on the examples and on corpus captures (pcap and pcapng,
and gzip-compressed copies):

- `tshark -r OUT -Y frame.comment` lists exactly the evidence frames, each with
  "mtuscope: <kind>: <summary>" of every finding citing it (joined by newlines,
  which tshark prints as \\n), and every frame of OUT is the input's frame
  (hash, time, lengths);
- `tshark -r IN -Y <wireshark_filter>` selects exactly the finding's evidence frames;
- compare reports carry one filter per capture, each selecting that capture's frames.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mtuscope.cli import main
from mtuscope.report.schema import validate_report

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(
    p
    for p in (ROOT / "examples").glob("*.pcap")
    # the golden lists findings (besides its entry pinning the connections' facts)
    if any("kind" in entry for entry in json.loads(p.with_suffix(".findings.json").read_text()))
)
CORPUS = Path(os.environ["MTUSCOPE_CORPUS"]) / "pcaps"  # set by tests/conftest.py
CORPUS_CAPTURES = [
    # pcap: ICMP too-big and an MSS too big for it; the same in a 6in4 tunnel; Linux SLL;
    # ICMPv6 too-big; a clamp seen across servers; IPv4 fragments; a segment over the MSS
    "zeek/zeek__smtp.pcap",
    "ndpi/ndpi__6in4tunnel.pcap",
    "entrada/entrada__sidnlabs-test-icmp-frag-needed.pcap",
    "zeek/zeek__icmp__icmp6-toobig.pcap",
    "ndpi/ndpi__weibo.pcap",
    "zeek/zeek__ipv4__fragmented-1.pcap",
    "entrada/entrada__sidnlabs-test-tcp-all-malformed-packets.dups.pcap",
    # pcapng: many findings; a clamp; VLAN tags; fragments
    "ndpi/ndpi__sites.pcapng",
    "ndpi/ndpi__zoom.pcap",
    "zeek/zeek__vlan-pcp-dei.pcapng",
    "ndpi/ndpi__fuzz-2020-02-16-11740.pcap",
]
GZIPPED = ["zeek/zeek__smtp.pcap", "zeek/zeek__vlan-pcp-dei.pcapng"]

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def _tshark(path: Path, *args: str) -> str:
    run = subprocess.run(
        ["tshark", "-o", "frame.generate_md5_hash:TRUE", "-r", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def _selected(path: Path, display_filter: str) -> set[int]:
    out = _tshark(path, "-Y", display_filter, "-T", "fields", "-e", "frame.number")
    return {int(n) for n in out.split()}


def _comments(path: Path) -> dict[int, str]:
    out = _tshark(
        path, "-Y", "frame.comment", "-T", "fields", "-e", "frame.number", "-e", "frame.comment"
    )
    return {int(n): c for n, _, c in (line.partition("\t") for line in out.splitlines())}


def _frames(path: Path) -> list[str]:
    fields = ["frame.md5_hash", "frame.time_epoch", "frame.len", "frame.cap_len"]
    return _tshark(path, "-T", "fields", *[a for f in fields for a in ("-e", f)]).splitlines()


def _evidence_frames(finding: dict[str, Any], capture: str) -> set[int]:
    return {e["frame"] for e in finding["evidence"] if e.get("frame") and e["capture"] == capture}


def _expected_comments(doc: dict[str, Any], capture: str) -> dict[int, str]:
    lines: dict[int, list[str]] = {}
    for f in doc["findings"]:
        for frame in sorted(_evidence_frames(f, capture)):
            lines.setdefault(frame, []).append(f"mtuscope: {f['kind']}: {f['summary']}")
    return {frame: "\\n".join(texts) for frame, texts in lines.items()}


def _analyze(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["analyze", "--json", *argv])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    doc: dict[str, Any] = json.loads(out)
    validate_report(doc)
    return code, doc


def _check(capsys: pytest.CaptureFixture[str], capture: Path, out: Path) -> dict[str, Any]:
    """Annotate `capture` into `out` and check comments, frames and filters with tshark."""
    _, doc = _analyze(capsys, str(capture), "--annotate", str(out))
    assert doc["findings"], "a capture chosen for its findings has none"
    original = _comments(capture)  # comments the input already had stay (none here)
    got = _comments(out)
    want = _expected_comments(doc, str(capture))
    assert got == {**original, **want}
    assert _frames(out) == _frames(capture)
    assert doc["annotated"] == {
        "path": str(out),
        "frames": len(_frames(capture)),
        "commented_frames": len(want),
        "complete": True,
    }
    for f in doc["findings"]:
        frames = _evidence_frames(f, str(capture))
        assert f["wireshark_filter"] is not None, f["kind"]
        selected = _selected(capture, f["wireshark_filter"])
        assert selected == frames, (f["kind"], f["wireshark_filter"])
    return doc


@pytest.mark.parametrize("capture", EXAMPLES, ids=lambda p: p.stem)
def test_examples(capsys: pytest.CaptureFixture[str], tmp_path: Path, capture: Path) -> None:
    _check(capsys, capture, tmp_path / "out.pcapng")


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("name", CORPUS_CAPTURES, ids=lambda n: n.split("/")[-1])
def test_corpus(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    _check(capsys, CORPUS / name, tmp_path / "out.pcapng")


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"corpus not found at {CORPUS}")
@pytest.mark.parametrize("name", GZIPPED, ids=lambda n: n.split("/")[-1])
def test_gzip_input(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    plain = CORPUS / name
    packed = tmp_path / (plain.name + ".gz")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    _, doc = _analyze(capsys, str(packed), "--annotate", str(tmp_path / "out.pcapng"))
    out = tmp_path / "out.pcapng"
    assert _frames(out) == _frames(plain)
    assert _comments(out) == _expected_comments(doc, str(packed))
    for f in doc["findings"]:
        assert _selected(plain, f["wireshark_filter"]) == _evidence_frames(f, str(packed))


def test_text_report_has_a_filter_line_under_each_finding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    capture = ROOT / "examples" / "pmtud-ok-server.pcap"
    out = tmp_path / "out.pcapng"
    main(["analyze", str(capture), "--annotate", str(out)])
    text = capsys.readouterr().out
    _, doc = _analyze(capsys, str(capture))
    lines = [line.strip() for line in text.splitlines()]
    filters = [line.removeprefix("wireshark: ") for line in lines if line.startswith("wireshark: ")]
    assert filters == [f["wireshark_filter"] for f in doc["findings"]]  # same order here
    assert f"Annotated copy: {out}" in text


def test_refuses_to_overwrite_the_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    capture = tmp_path / "in.pcap"
    shutil.copy(ROOT / "examples" / "blackhole-server.pcap", capture)
    before = capture.read_bytes()
    link = tmp_path / "link.pcapng"
    link.symlink_to(capture)
    hard = tmp_path / "hard.pcapng"
    os.link(capture, hard)
    for out in (capture, link, hard, tmp_path / "." / "in.pcap"):
        code = main(["analyze", str(capture), "--annotate", str(out)])
        _, err = capsys.readouterr()
        assert code == 2 and "input" in err and len(err.strip().splitlines()) == 1
    assert capture.read_bytes() == before


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["-"], "standard input"),
        (["A", "A"], "one capture"),
        (["examples"], "captures found under"),
        (["A", "--annotate", "/nonexistent-dir/out.pcapng"], "no such directory"),
    ],
)
def test_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    a = str(ROOT / "examples" / "clamp-client.pcap")
    args = [a if x == "A" else str(ROOT / x) if x == "examples" else x for x in argv]
    if "--annotate" not in args:
        args += ["--annotate", "/tmp/never-written.pcapng"]
    code = main(["analyze", *args])
    _, err = capsys.readouterr()
    assert code == 2 and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_compare_gives_one_filter_per_capture(capsys: pytest.CaptureFixture[str]) -> None:
    for a, b in (("clamp-client", "clamp-server"), ("pmtud-ok-client", "pmtud-ok-server")):
        pa, pb = ROOT / "examples" / f"{a}.pcap", ROOT / "examples" / f"{b}.pcap"
        main(["compare", "--json", str(pa), str(pb)])
        doc = json.loads(capsys.readouterr().out)
        validate_report(doc)
        assert doc["findings"]
        for f in doc["findings"]:
            cited = {e["capture"] for e in f["evidence"] if e.get("frame")}
            assert set(f["wireshark_filter"]) == cited
            for capture, text in f["wireshark_filter"].items():
                assert _selected(Path(capture), text) == _evidence_frames(f, capture)


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        what = rng.randrange(4)
        at = rng.randrange(len(data))
        if what == 0:
            data[at] = rng.choice((0, 1, 0x7F, 0x80, 0xFF))
        elif what == 1:
            data[at] ^= 1 << rng.randrange(8)
        elif what == 2:
            del data[at:]
            if len(data) < 32:
                data = bytearray(raw[:32])
        else:
            span = bytes(data[at : at + rng.randint(1, 64)])
            data[at:at] = span
    return bytes(data)


@pytest.mark.parametrize("seed", ["blackhole-server.pcap", "pmtud-ok-v6-server.pcap", "png"])
def test_damaged_inputs_give_a_readable_copy_or_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed: str
) -> None:
    """Mutated captures (pcap, and pcapng written by --annotate itself): exit 0/1 with a
    pcapng holding the input's frames up to where it is damaged, readable by tshark when
    the input is, or exit 2 with one line; never a traceback, nor a file left on exit 2."""
    rng = random.Random(seed)
    if seed == "png":
        base = tmp_path / "base.pcapng"
        assert main(["analyze", str(EXAMPLES[0]), "--annotate", str(base)]) in (0, 1)
        capsys.readouterr()
        raw = base.read_bytes()
    else:
        raw = (ROOT / "examples" / seed).read_bytes()
    for case in range(8):
        src = tmp_path / f"case{case}.cap"
        src.write_bytes(_mutate(raw, rng))
        out = tmp_path / f"case{case}.pcapng"
        code = main(["analyze", "--json", str(src), "--annotate", str(out)])
        stdout, err = capsys.readouterr()
        assert "Traceback" not in err
        if code == 2:
            assert len(err.strip().splitlines()) == 1 and not out.exists()
            continue
        assert code in (0, 1), err
        doc = json.loads(stdout)
        n = doc["annotated"]["frames"]
        assert _frames_until(out, n) == _frames_until(src, n)
        # as readable as the input: what tshark reads in, it reads out (a damaged block
        # is copied as it was, not repaired)
        reads = [
            subprocess.run(["tshark", "-r", str(p)], capture_output=True, timeout=60).returncode
            for p in (src, out)
        ]
        assert reads[1] == 0 or reads[0] != 0, (case, reads)


def _frames_until(path: Path, n: int) -> list[str]:
    """MD5 of the first `n` frames' bytes, read by a plain parser of the file format (tshark
    guesses other pcap flavours on a damaged file, so it is no oracle for the input; and
    a damaged block copied as it was can stop it on the output)."""
    raw = path.read_bytes()
    out: list[str] = []
    if raw[:4] == b"\xd4\xc3\xb2\xa1":
        pos = 24
        while len(out) < n and pos + 16 <= len(raw):
            caplen = struct.unpack_from("<I", raw, pos + 8)[0]
            out.append(hashlib.md5(raw[pos + 16 : pos + 16 + caplen]).hexdigest())
            pos += 16 + caplen
        return out
    pos = 0
    while len(out) < n and pos + 12 <= len(raw):  # little endian, as --annotate writes
        btype, btl = struct.unpack_from("<II", raw, pos)
        if btl < 12:
            break
        if btype in (2, 6):
            caplen = struct.unpack_from("<I", raw, pos + 20)[0]
            out.append(hashlib.md5(raw[pos + 28 : pos + 28 + caplen]).hexdigest())
        pos += btl
    return out
