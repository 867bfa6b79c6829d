"""How often the path MTU search is wrong under random loss, and what it costs in probes.

Layer: bench tooling, outside the package. Runs `PathMtuSearch` over the
in-memory paths of tests/active/fakepath.py (the real engine and driver on a
simulated clock) with a black hole at MTU M (the 1500-byte link in the middle
withholds its too-big messages) and every probe, or its answer, lost with
probability P, once per seed. A search is wrong when it reports a path MTU other
than M; it is never larger than M (only sizes that got through are reported),
so "wrong" means a loss was taken for the black hole's edge. With the timeout
adapted to the RTT (rtt.py) when the tree has it.

`--tree DIR` runs another checkout's engine and fake path (e.g. the previous
commit, unpacked with `git archive REV src tests | tar -x -C DIR`), for a
before/after table.

Usage: ``python bench/search_loss.py [--seeds N] [--loss 0.02,0.05,0.1]
[--mtus 1400,1404,1333,1500] [--tree DIR]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--loss", default="0.02,0.05,0.1")
    parser.add_argument("--mtus", default="1400,1404,1333,1500")
    parser.add_argument("--tree", default=str(ROOT), help="checkout whose src/ and tests/ run")
    args = parser.parse_args()
    tree = Path(args.tree).resolve()
    sys.path[:0] = [str(tree / "src"), str(tree)]
    from tests.active.fakepath import FakePath, run

    from mtuscope.active.path_mtu import PathMtuSearch

    estimator: Any = None
    try:
        from mtuscope.active.rtt import RttEstimator

        estimator = RttEstimator
    except ImportError:  # a tree from before the adaptive timeout
        pass
    print(f"tree {tree}, adaptive timeout: {'yes' if estimator else 'no'}, seeds {args.seeds}")
    print("| loss | MTU | wrong % | probes (mean) | seconds (mean, simulated) |")
    print("|---|---|---|---|---|")
    for loss in (float(x) for x in args.loss.split(",")):
        for mtu in (int(x) for x in args.mtus.split(",")):
            wrong = probes = 0
            seconds = 0.0
            for seed in range(args.seeds):
                hops = [1500, mtu, 1500] if mtu < 1500 else [1500, 1500, 1500]
                path = FakePath(hop_mtus=hops, icmp="blocked", loss=loss, seed=seed)
                extra = {"rtt": estimator()} if estimator else {}
                engine = PathMtuSearch(dst=path.dst, ceiling=1500, **extra)
                stats = run(engine, path)
                wrong += engine.result().path_mtu != mtu
                probes += stats.probes
                seconds += stats.seconds
            n = args.seeds
            print(
                f"| {loss} | {mtu} | {100 * wrong / n:.2f} | {probes / n:.1f} | {seconds / n:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
