"""The plain PyTorch training loop (the baseline of issue 5), timed on synthetic batches.

Why: DeepOBS-PyTorch and most users train with zero_grad / forward / backward / step, one run
after another, logging the mini-batch loss every `train_log_interval` (10) steps with `.item()`.
This is that loop, with the data already in memory (8 synthetic batches of the true shapes,
cycled), so the baseline is the loop's compute and nothing else — a conservative (fast) baseline.

  python -m jaxbench.benchmarking.torch_loop --problems=fmnist_2c2d,quadratic_deep --seconds=5 --num_runs=1,10
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Optional

import numpy as np
import torch

from jaxbench.benchmarking import torch_models

OPTIMIZERS = ("sgd", "momentum", "adam")


def _optimizer(name: str, params) -> torch.optim.Optimizer:
  if name == "sgd":
    return torch.optim.SGD(params, lr=1e-2)
  if name == "momentum":
    return torch.optim.SGD(params, lr=1e-2, momentum=0.99)
  if name == "adam":
    return torch.optim.Adam(params, lr=1e-3, eps=1e-8)
  raise ValueError(f"unknown optimizer {name!r}; valid choices: {', '.join(OPTIMIZERS)}")


def _run(name: str, optimizer: str, seed: int, seconds: float, warmup_steps: int = 3) -> tuple:
  """One run for about `seconds` after warm-up; returns (steps, elapsed seconds)."""
  torch.manual_seed(seed)
  prob = torch_models.make(name)
  rng = np.random.RandomState(seed)
  batches = [prob.make_batch(rng) for _ in range(8)]
  opt = _optimizer(optimizer, prob.model.parameters())
  prob.model.train()

  def step(i: int) -> torch.Tensor:
    x, y = batches[i % len(batches)]
    opt.zero_grad()
    loss = prob.loss(x, y)
    loss.backward()
    opt.step()
    return loss

  for i in range(warmup_steps):
    step(i)
  steps, t0 = 0, time.perf_counter()
  while time.perf_counter() - t0 < seconds:
    loss = step(steps)
    if steps % 10 == 0:
      loss.item()  # DeepOBS logs the mini-batch loss every train_log_interval steps
    steps += 1
  return steps, time.perf_counter() - t0


def measure(name: str, *, seconds: float = 5.0, num_runs: int = 1,
            optimizer: str = "adam", threads: Optional[int] = None) -> dict:
  """steps/sec of one run, or of `num_runs` runs one after another (seconds split between them).

  seed_steps_per_sec counts the steps of all runs over the total time, i.e. what running the
  seeds sequentially achieves; steps_per_sec is then the same number (one run advances at a time).
  threads: torch intra-op threads for this measurement (None: PyTorch's default, one per core).
  """
  default_threads = torch.get_num_threads()
  torch.set_num_threads(threads or default_threads)
  try:
    total_steps, total_time = 0, 0.0
    for r in range(num_runs):
      s, t = _run(name, optimizer, 42 + r, seconds / num_runs)
      total_steps += s
      total_time += t
    used = torch.get_num_threads()
  finally:
    torch.set_num_threads(default_threads)
  rate = total_steps / total_time
  batch = torch_models.make(name).batch_size
  return {"problem": name, "num_seeds": num_runs, "steps_per_sec": rate,
          "seed_steps_per_sec": rate, "examples_per_sec": rate * batch,
          "torch_threads": used, "optimizer": optimizer}


def measure_best(name: str, *, seconds: float = 5.0, num_runs: int = 1,
                 optimizer: str = "adam") -> dict:
  """The faster of PyTorch's default threading and one thread (half the time each).

  Why: on a shared 2-core machine PyTorch's OpenMP threads spin-wait for each other whenever a
  neighbour's process takes a core, which made small models up to 10x slower with the default
  two threads than with one (BUILD_NOTES.md). Comparing against the better of the two keeps
  the baseline honest (never a handicapped PyTorch).
  """
  rows = [measure(name, seconds=seconds / 2, num_runs=num_runs, optimizer=optimizer,
                  threads=t) for t in (None, 1)]
  best = max(rows, key=lambda r: r["seed_steps_per_sec"])
  return dict(best, per_threads={r["torch_threads"]: r["seed_steps_per_sec"] for r in rows})


def main(argv=None) -> None:
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--problems", default="fmnist_2c2d")
  ap.add_argument("--num_runs", default="1")
  ap.add_argument("--seconds", type=float, default=5.0)
  ap.add_argument("--optimizer", default="adam", choices=OPTIMIZERS)
  ap.add_argument("--threads", type=int, default=None,
                  help="torch threads (default: best of PyTorch's default and 1)")
  ap.add_argument("--json", default=None)
  args = ap.parse_args(argv)
  rows = []
  for name in args.problems.split(","):
    for n in (int(v) for v in args.num_runs.split(",")):
      if args.threads:
        row = measure(name, seconds=args.seconds, num_runs=n, optimizer=args.optimizer,
                      threads=args.threads)
      else:
        row = measure_best(name, seconds=args.seconds, num_runs=n, optimizer=args.optimizer)
      rows.append(row)
      print(f"{name:20s} runs={n:3d} steps/s={row['steps_per_sec']:9.2f} "
            f"threads={row['torch_threads']} {row.get('per_threads', '')}", flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=1)


if __name__ == "__main__":
  main()
