"""Sweep execution strategies through the real engine (jaxbench.bench.bench_one), one process.

Why: choose() in jaxbench/train/strategy.py must pick, per problem and backend, the fastest of
vmap/loop, steps fused per dispatch and unroll; this measures them side by side, repeated and
interleaved (rows print as they finish; medians at the end).

  python benchmarks/strategy_sweep.py --problems=quadratic_deep,mnist_logreg --num_seeds=1,10 \
      --strategies=loop:1:1,vmap:1:1,vmap:10:1,vmap:10:10 --seconds=2 --repeats=2
"""
from __future__ import annotations

import argparse
import json
import statistics

from jaxbench import bench
from jaxbench.train.strategy import Strategy


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--problems", default="quadratic_deep")
  ap.add_argument("--num_seeds", default="1,10")
  ap.add_argument("--strategies", default="loop:1:1,vmap:1:1,vmap:10:1,vmap:10:10")
  ap.add_argument("--seconds", type=float, default=2.0)
  ap.add_argument("--repeats", type=int, default=2)
  ap.add_argument("--optimizer", default="adam")
  ap.add_argument("--json", default=None)
  args = ap.parse_args()
  peak = bench.matmul_peak_flops()
  results: dict = {}
  for rep in range(args.repeats):
    for name in args.problems.split(","):
      for n in (int(v) for v in args.num_seeds.split(",")):
        for spec in args.strategies.split(","):
          runs, k, u = spec.split(":")
          cfg = bench.BenchConfig(problem=name, num_seeds=n, seconds=args.seconds,
                                  optimizer=args.optimizer,
                                  strategy=Strategy(runs=runs, steps_per_dispatch=int(k),
                                                    unroll=int(u)))
          row, _ = bench.bench_one(cfg, peak)
          results.setdefault((name, n, spec), []).append(row)
          print(f"rep{rep} {name:18s} runs={n:3d} {spec:12s} seed_steps/s="
                f"{row['seed_steps_per_sec']:10.2f} compile={row['compile_seconds']:.1f}s",
                flush=True)
  print("\nMEDIANS seed_steps/s")
  out = []
  for (name, n, spec), rows in results.items():
    vals = [r["seed_steps_per_sec"] for r in rows]
    comp = max(r["compile_seconds"] for r in rows)
    print(f"{name:18s} runs={n:3d} {spec:12s} {statistics.median(vals):10.2f} "
          f"{['%.1f' % v for v in vals]} compile<= {comp:.1f}s")
    out.append({"problem": name, "num_seeds": n, "strategy": spec,
                "median_seed_steps_per_sec": statistics.median(vals), "all": vals,
                "max_compile_seconds": comp})
  if args.json:
    with open(args.json, "w") as f:
      json.dump(out, f, indent=1)


if __name__ == "__main__":
  main()
