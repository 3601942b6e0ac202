"""`jaxbench.bench` with the performance proposals for other owners' files patched in.

Why: the proposals in notes/performance.md touch files this helper does not own
(jaxbench/problems/nets.py's max-pool); this measures what they would give through the real
engine, before the lead applies them. Proposals (each switchable):
  --pool: nets._max_pool = benchmarks/max_pool_ab.strided_max_pool (same values and gradients).

  python benchmarks/bench_with_proposals.py --pool -- --problems=fmnist_2c2d --num_seeds=1 --torch
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
  argv = sys.argv[1:]
  split = argv.index("--") if "--" in argv else len(argv)
  own, rest = argv[:split], argv[split + 1:]
  from jaxbench import bench  # applies the XLA flags before jax starts
  if "--pool" in own:
    import max_pool_ab
    from jaxbench.problems import nets
    nets._max_pool = max_pool_ab.strided_max_pool  # pylint: disable=protected-access
    print("patched: jaxbench.problems.nets._max_pool = strided_max_pool")
  bench.main(rest)


if __name__ == "__main__":
  main()
