"""Mutation fuzzing of `analyze` and `compare` through the CLI: exit 0, 1 or 2, never a crash.

Seeds are the example captures (and, when the shared corpus is there, its small
captures). Each case mutates one seed with a seeded `random.Random` (bytes set to
edge values, flipped, truncated, a span duplicated or zeroed, IPv6 addresses given
their top bit), runs the verb in-process with `--json`, and requires exit 0, 1 or 2
with one line on stderr for 2. Anything raised is a crash, reported with the case
seed so that `MTUSCOPE_FUZZ_SEED=<seed> MTUSCOPE_FUZZ_CASES=1` replays it.

Bounded: `MTUSCOPE_FUZZ_SECONDS` per verb (default 3, as `make test` runs it);
an offline run sets it higher, e.g.
``MTUSCOPE_FUZZ_SECONDS=600 .venv/bin/pytest -q tests/jobs/test_fuzz.py``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import time
from pathlib import Path

import pytest

from mtuscope.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CORPUS = Path(os.environ["MTUSCOPE_CORPUS"]) / "pcaps"
SECONDS = float(os.environ.get("MTUSCOPE_FUZZ_SECONDS", "3"))
FIRST_SEED = int(os.environ.get("MTUSCOPE_FUZZ_SEED", "1"))
MAX_CASES = int(os.environ.get("MTUSCOPE_FUZZ_CASES", "1000000"))
PAIRS = [("clamp-client.pcap", "clamp-server.pcap"),
         ("blackhole-client.pcap", "blackhole-server.pcap"),
         ("pmtud-ok-client.pcap", "pmtud-ok-server.pcap"),
         ("pmtud-ok-v6-client.pcap", "pmtud-ok-v6-server.pcap")]  # fmt: skip
EDGE = (0x00, 0xFF, 0x80, 0x7F, 0x01, 0x05, 0x0F, 0x40, 0xFE)


def seeds() -> list[bytes]:
    files = sorted(EXAMPLES.glob("*.pcap"))
    if CORPUS.is_dir():
        files += sorted(p for p in CORPUS.rglob("*.pcap*") if p.stat().st_size <= 16384)[:40]
    return [p.read_bytes() for p in files]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1-8 mutations of `data`, past its first 24 bytes (the file header) most of the time."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if len(b) < 2:
            break
        lo = 0 if rng.random() < 0.05 else min(24, len(b) - 1)
        i = rng.randrange(lo, len(b))
        op = rng.randrange(7)
        if op == 0:
            b[i] = rng.choice(EDGE)
        elif op == 1:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 2:
            b[i] = rng.randrange(256)
        elif op == 3:  # cut the file
            del b[i:]
        elif op == 4:  # duplicate a span (a record or part of one, again)
            j = min(len(b), i + rng.randint(1, 128))
            b[i:i] = b[i:j]
        elif op == 5:  # zero a span
            j = min(len(b), i + rng.randint(1, 16))
            b[i:j] = bytes(j - i)
        else:  # the top bit of an IPv6 address (ULA fd00::/8): halves of 2^63 and above
            at = bytes(b).find(b"\x20\x01\x0d\xb8", i)
            if at >= 0:
                b[at] = 0xFD
    return bytes(b)


def run_verb(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def check(argv: list[str], what: str) -> None:
    try:
        code, out, err = run_verb(argv)
    except BaseException as exc:  # the point: nothing may escape
        raise AssertionError(f"{what}: {type(exc).__name__}: {exc}") from exc
    assert code in (0, 1, 2), (what, code, err)
    if code == 2:
        assert err.strip() and len(err.strip().splitlines()) == 1, (what, err)
    else:
        json.loads(out)


def fuzz(tmp: Path, verb: str) -> int:
    pool = seeds()
    pairs = [((EXAMPLES / a).read_bytes(), (EXAMPLES / b).read_bytes()) for a, b in PAIRS]
    deadline = time.monotonic() + SECONDS
    case = FIRST_SEED
    tried = 0
    while time.monotonic() < deadline and tried < MAX_CASES:
        rng = random.Random(case)
        a, b = tmp / "a.pcap", tmp / "b.pcap"
        what = f"{verb} case MTUSCOPE_FUZZ_SEED={case}"
        if verb == "analyze":
            a.write_bytes(mutate(rng.choice(pool), rng))
            check(["analyze", "--json", str(a)], what)
        else:
            da, db = rng.choice(pairs)
            a.write_bytes(mutate(da, rng))
            # the same traffic at B: mutated alike (same seed) or left whole
            b.write_bytes(mutate(db, random.Random(case)) if rng.random() < 0.5 else db)
            check(["compare", "--json", str(a), str(b)], what)
        case += 1
        tried += 1
    return tried


@pytest.mark.parametrize("verb", ["analyze", "compare"])
def test_mutated_captures_never_crash(tmp_path: Path, verb: str) -> None:
    tried = fuzz(tmp_path, verb)
    assert tried >= 1
    print(f"{verb}: {tried} mutated captures, no crash")


def test_compare_of_addresses_with_the_top_bit_set(tmp_path: Path) -> None:
    # the crash the fuzzer found: address halves of 2^63 and above cast to Int64
    from passive.pcaps import SYN, SYN_ACK, eth, tcp_ip, write_pcap

    c, s = "fd00::1", "fe80::2"
    frames = [
        eth(0x86DD, tcp_ip(c, s, 40000, 443, seq=1, flags=SYN, mss=1440)),
        eth(0x86DD, tcp_ip(s, c, 443, 40000, seq=9, ack=2, flags=SYN_ACK, mss=1400)),
    ]
    a = write_pcap(tmp_path / "a.pcap", frames)
    b = write_pcap(tmp_path / "b.pcap", frames)
    code, out, _ = run_verb(["compare", "--json", a, b])
    assert code in (0, 1)
    doc = json.loads(out)
    assert len(doc["matches"]) == 1
