"""Record `mtuscope analyze --json` of many captures, or diff two such records.

    python bench/analyze_outputs.py record OUTDIR [CAPTURE_OR_DIR ...]
    python bench/analyze_outputs.py diff OLD_DIR NEW_DIR

`record` runs the CLI in this process (`mtuscope.cli.main`) on every capture
(default: examples/*.pcap and every file under the shared corpus's pcaps/) and
writes, per capture, its exit code, standard output and standard error to
OUTDIR/<n>.txt (n: the capture's position in the sorted list) plus OUTDIR/index.tsv.
`diff` compares two such records file by file: byte for byte, else the standard
output parsed as JSON (same values, other spacing) with the same exit code and
standard error; it prints every capture whose output differs and the counts, and
exits 1 if any differs.
Used to show that a change to the analysis leaves every report as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("MTUSCOPE_CORPUS", str(ROOT.parents[0] / "shared" / "corpus")))


def default_captures() -> list[Path]:
    """examples/*.pcap and the corpus captures, sorted."""
    found = sorted(ROOT.glob("examples/*.pcap"))
    if (CORPUS / "pcaps").is_dir():
        found += sorted(p for p in (CORPUS / "pcaps").rglob("*") if p.is_file())
    return found


def expand(args: list[str]) -> list[Path]:
    """Files as given; directories walked (sorted)."""
    out: list[Path] = []
    for a in args:
        p = Path(a)
        out += sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    return out


def record(outdir: Path, captures: list[Path]) -> int:
    """Run `analyze --json` on each capture; write its code and streams."""
    from mtuscope.cli import main

    outdir.mkdir(parents=True, exist_ok=True)
    index = []
    for n, path in enumerate(captures):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["analyze", str(path), "--json"])
            except SystemExit as exc:  # argparse
                code = int(exc.code or 0)
        (outdir / f"{n}.txt").write_text(
            f"exit {code}\n--stdout\n{out.getvalue()}--stderr\n{err.getvalue()}"
        )
        index.append(f"{n}\t{path}\n")
    (outdir / "index.tsv").write_text("".join(index))
    print(f"recorded {len(captures)} captures into {outdir}")
    return 0


def diff(old: Path, new: Path) -> int:
    """Compare two records; 1 if any capture's output differs."""
    a = (old / "index.tsv").read_text().splitlines()
    b = (new / "index.tsv").read_text().splitlines()
    if a != b:
        print("the two records are of different capture lists")
        return 1
    differ = same_values = 0
    for line in a:
        n, path = line.split("\t")
        x, y = (old / f"{n}.txt").read_text(), (new / f"{n}.txt").read_text()
        if x == y:
            continue
        if _values(x) == _values(y):
            same_values += 1
            continue
        differ += 1
        print(f"differs: {path}")
    same = len(a) - differ - same_values
    print(f"{len(a)} captures: {same} byte-identical, {same_values} with the same JSON values "
          f"(other spacing), {differ} different")  # fmt: skip
    return 1 if differ else 0


def _values(text: str) -> tuple[str, object, str]:
    """(exit line, standard output parsed as JSON (or as is), standard error)."""
    head, rest = text.split("\n--stdout\n", 1)
    out, err = rest.rsplit("--stderr\n", 1)
    try:
        doc: object = json.loads(out)
    except ValueError:
        doc = out
    return head, doc, err


def main(argv: list[str]) -> int:
    """Entry point."""
    if len(argv) >= 2 and argv[0] == "record":
        return record(Path(argv[1]), expand(argv[2:]) if argv[2:] else default_captures())
    if len(argv) == 3 and argv[0] == "diff":
        return diff(Path(argv[1]), Path(argv[2]))
    print(__doc__.strip().splitlines()[2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
