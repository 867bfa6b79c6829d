"""Phase timings of `mtuscope analyze PATH`, one chunk at a time on one thread.

    python bench/phases.py PATH

Walk, decode, per-chunk analysis, merges, the last merges with finish, and
diagnose, each with its wall time (`time.perf_counter`) and the process's CPU
time (`time.process_time`, polars' threads included); the JSON is not timed.
Used for the profile in docs/benchmarks.md.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

from mtuscope.capture.decode import decode_chunk
from mtuscope.capture.reader import iter_chunks
from mtuscope.diagnose.capture import diagnose_capture
from mtuscope.jobs.captures import Folder
from mtuscope.passive import finish
from mtuscope.passive.chunk import analyse


def main(path: str) -> None:
    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    last = (time.perf_counter(), time.process_time())

    def lap(name: str) -> None:
        nonlocal last
        now = (time.perf_counter(), time.process_time())
        wall[name] += now[0] - last[0]
        cpu[name] += now[1] - last[1]
        last = now

    folder = Folder()
    n = 0
    for chunk in iter_chunks(path, chunk_bytes=32 << 20):
        lap("walk")
        table = decode_chunk(chunk.records, chunk.block, chunk.ts_ns, chunk.first_frame)
        lap("decode")
        part = analyse(table, capture=path, at_start=n == 0)
        lap("analyse")
        folder.add(part)
        lap("merge")
        n += 1
    whole = folder.result()
    assert whole is not None
    analysis = finish(whole)
    lap("merges left + finish")
    diagnose_capture(analysis)
    lap("diagnose")
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    print(f"{n} chunks; load average {load}")
    for name in wall:
        print(f"{name:22s} wall {wall[name]:6.2f}  cpu {cpu[name]:6.2f}")
    print(f"{'total':22s} wall {sum(wall.values()):6.2f}  cpu {sum(cpu.values()):6.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
