"""Reading speed of jaxbench.analysis on a generated tree of N records (default 50,000).

  PYTHONPATH=$PWD python benchmarks/analysis_read_speed.py [--runs=50000] [--root=/tmp/speed]

Records are shaped like the published quadratic_deep ones (100 epochs: 101 entries in each of
three loss lists, 200 minibatch losses; about 10 KB of JSON each), spread over 8 problems x 15
optimizers x budgets/schedules folders. Prints the time of read_tree (runs and epochs frames).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from jaxbench.analysis import read_tree


def generate(root: str, runs: int) -> None:
  rng = np.random.default_rng(0)
  epochs = np.arange(101)
  made = 0
  for index in range(runs):
    problem, optimizer = f"problem{index % 8}", f"opt{(index // 8) % 15}"
    setting = f"num_epochs__100__batch_size__128__learning_rate__{index // 120}"
    folder = os.path.join(root, "small_budget", "none", problem, optimizer, setting)
    if made == 0 or not os.path.isdir(folder):
      os.makedirs(folder, exist_ok=True)
    curve = (300 * np.exp(-epochs / rng.uniform(5, 50)) + 80).tolist()
    record = {"testproblem": problem, "batch_size": 128, "num_epochs": 100,
              "random_seed": 42 + index % 10, "l2_reg": None, "optimizer_name": optimizer,
              "optimizer_hyperparams": {"learning_rate": 0.01},
              "training_params": {"lr_sched_epochs": [], "lr_sched_factors": []},
              "train_losses": curve, "valid_losses": curve, "test_losses": curve,
              "minibatch_train_losses": np.repeat(curve[1:], 2).tolist()}
    with open(os.path.join(folder, f"random_seed__{42 + index % 10}__{index}.json"), "w") as f:
      json.dump(record, f)
    made += 1


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--runs", type=int, default=50_000)
  parser.add_argument("--root", default="/tmp/jaxbench_read_speed")
  args = parser.parse_args()
  if not os.path.isdir(args.root):
    start = time.perf_counter()
    generate(args.root, args.runs)
    print(f"generated {args.runs} records in {time.perf_counter() - start:.1f} s")
  start = time.perf_counter()
  tree = read_tree(args.root)
  seconds = time.perf_counter() - start
  print(f"read {len(tree.runs)} runs, {len(tree.epochs)} epoch rows in {seconds:.1f} s "
        f"({1e3 * seconds / len(tree.runs):.2f} ms per record)")


if __name__ == "__main__":
  main()
