"""`read_capture` of one capture with one and two pool threads, alternated.

    python bench/threads.py PATH [PAIRS]

Prints wall time, the process's CPU time and its peak RSS so far after each
run, with the load average: what the second pool thread buys (docs/benchmarks.md).
"""

from __future__ import annotations

import resource
import sys
import time

from mtuscope.jobs.captures import read_capture


def main(path: str, pairs: int) -> None:
    for _ in range(pairs):
        for workers in (1, 2):
            t0, c0 = time.perf_counter(), time.process_time()
            read = read_capture(path, workers=workers)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            del read
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            print(f"workers={workers} wall={wall:.2f}s cpu={cpu:.2f}s peak={peak}MB load={load}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
