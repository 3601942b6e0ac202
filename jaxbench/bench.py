"""`jaxbench bench`: training throughput of the engine's real step, per problem and run count.

Why: jaxbench's promise is speed (many seeds of one problem in one compiled program); this
command makes it measurable. For each problem and each run-batch size it builds the engine's
`Trainer` on synthetic data of the problem's true shapes (default batch size), compiles, then
times `Trainer.train_steps` — the same code path as `jaxbench run`, evaluation excluded — in
chunks of up to one epoch, blocking on the result before each clock read. Compilation and data
generation are outside the clock. Each call computes the epoch's data order (a sort per run,
which a real run does once per epoch); where a chunk is shorter than an epoch, the measured
per-call order time is replaced by its per-epoch share.

  python -m jaxbench.bench --problems=quadratic_deep,fmnist_2c2d --num_seeds=1,10 --seconds=8 \
      [--optimizer=adam] [--json=PATH] [--torch] [--windows=3]

Row keys (the JSON is a list of rows with exactly these keys; with --torch two more,
`torch_seed_steps_per_sec` and `ratio_vs_torch`):
  problem, num_seeds, device, strategy (Trainer.strategy),
  steps_per_sec        batched training steps per second (all runs advance one step),
  seed_steps_per_sec   steps_per_sec * num_seeds,
  examples_per_sec     seed_steps_per_sec * batch size,
  compile_seconds      Trainer.compile_seconds after the first training dispatch and evaluation,
  eval_seconds_per_epoch  one Trainer.evaluate (train_eval, valid, test) for all runs, scaled
                       linearly to the official split sizes for image datasets (synthetic splits
                       are small); generated data (quadratic, two_d) is evaluated at true size;
                       the char-RNN at the synthetic text's size,
  peak_memory          bytes: the device's peak_bytes_in_use where memory_stats() exists (GPU/
                       TPU), else the process's maximum resident set size (CPU; monotone over
                       one invocation, so it covers the problems measured so far),
  model_flops_per_step XLA cost analysis of the compiled one-step training program, for all
                       runs of the batch (oneDNN convolutions counted as XLA's, a recurrent
                       model's time scan counted per time step: `step_cost`),
  flops_fraction_of_peak  model_flops_per_step * steps_per_sec / the device's dense float32
                       matmul FLOP/s, measured in the same invocation (`matmul_peak_flops`),
  model_bytes_per_step XLA cost analysis' "bytes accessed" of the same program (all runs),
  bytes_fraction_of_bandwidth  model_bytes_per_step * steps_per_sec / the device's memory
                       bandwidth, measured in the same invocation (`memory_bandwidth`).
A step is bound by whichever fraction is nearer 1: that is the problem's physical limit.
"""
from __future__ import annotations

if __name__ == "__main__":  # the allocator is chosen before anything large is imported
  from jaxbench.train import allocator  # pylint: disable=ungrouped-imports
  allocator.reexec_with_tcmalloc()

import argparse
import dataclasses
import functools
import glob
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxbench import data, optimizers, problems
from jaxbench.data import generated, loader
from jaxbench.data import text as text_lib
from jaxbench.problems import nets
from jaxbench.train import allocator
from jaxbench.train import engine
from jaxbench.train import strategy as strategy_lib
from jaxbench.train import xla_flags

ROW_KEYS = ("problem", "num_seeds", "device", "strategy", "steps_per_sec", "seed_steps_per_sec",
            "examples_per_sec", "compile_seconds", "eval_seconds_per_epoch", "peak_memory",
            "model_flops_per_step", "flops_fraction_of_peak", "model_bytes_per_step",
            "bytes_fraction_of_bandwidth", "allocator")
TORCH_KEYS = ("torch_seed_steps_per_sec", "ratio_vs_torch", "torch_allocator")
TORCH_ALLOCATORS = ("same", "default")


def matmul_peak_flops(size: int = 2048, repeats: int = 5) -> float:
  """Dense float32 matmul FLOP/s of the default device (best of `repeats` timed products).

  Best rather than median: the peak is what the hardware can do, and on a shared machine the
  slower samples measure the neighbours.
  """
  a = jnp.asarray(np.random.RandomState(0).uniform(-1, 1, (size, size)).astype(np.float32))
  dot = jax.jit(lambda x, y: jnp.dot(x, y, precision=jax.lax.Precision.HIGHEST))
  jax.block_until_ready(dot(a, a))
  best = float("inf")
  for _ in range(repeats):
    started = time.perf_counter()
    jax.block_until_ready(dot(a, a))
    best = min(best, time.perf_counter() - started)
  return 2.0 * size ** 3 / best


def memory_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
  """Bytes/s of a streaming read + write (x = 2 x over `megabytes` of float32; best of repeats).

  The buffer is donated, so each call writes into the memory it reads: a fresh 256 MB output
  per call would measure the kernel's page faults (~1 GB/s here), not the memory.
  """
  x = jnp.ones((megabytes * 2**20 // 4,), jnp.float32)
  scale = jax.jit(lambda a: a * 2.0, donate_argnums=0)
  x = jax.block_until_ready(scale(x))
  best = float("inf")
  for _ in range(repeats):
    started = time.perf_counter()
    x = jax.block_until_ready(scale(x))
    best = min(best, time.perf_counter() - started)
  return 2.0 * x.nbytes / best


def device_description() -> str:
  dev = jax.devices()[0]
  return f"{dev.platform}:{dev.device_kind} x{jax.device_count()}"


def peak_memory_bytes() -> tuple[int, str]:
  """(bytes, what it is): device peak where the backend reports it, else process max RSS."""
  stats = None
  try:
    stats = jax.devices()[0].memory_stats()
  except Exception:  # pylint: disable=broad-except  # backends without memory stats raise
    stats = None
  if stats and "peak_bytes_in_use" in stats:
    return int(stats["peak_bytes_in_use"]), "device peak_bytes_in_use"
  rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
  return int(rss_kib) * 1024, "process max RSS"


def _true_eval_examples(dataset_name: str, measured: int) -> int:
  """Examples one evaluation covers at the official sizes (image data), else `measured`."""
  if dataset_name in loader.IMAGE_DATASETS:
    valid = loader.VALID_SIZES[dataset_name]
    test = loader.OFFICIAL_SIZES[dataset_name][1]
    return valid + valid + test  # train_eval and valid have the validation size (SPEC 1)
  return measured


def _order_seconds(trainer, state, repeats: int = 3) -> float:
  """Seconds to compute one epoch's data order for every run (the engine's own function)."""
  fn = jax.jit(jax.vmap(trainer.epoch_order, in_axes=(0, None)))
  jax.block_until_ready(fn(state.data_key, np.int32(0)))
  best = float("inf")
  for _ in range(repeats):
    started = time.perf_counter()
    jax.block_until_ready(fn(state.data_key, np.int32(0)))
    best = min(best, time.perf_counter() - started)
  return best


@dataclasses.dataclass(frozen=True)
class BenchConfig:
  problem: str
  num_seeds: int
  seconds: float = 8.0
  optimizer: str = "adam"
  synthetic_size: Optional[int] = None
  strategy: Optional[object] = None  # a jaxbench.train.strategy.Strategy, or None: choose()
  windows: int = 1  # timed windows (alternating with the baseline); the median is reported


def _smallest_divisor(n: int) -> int:
  return next(d for d in range(2, n + 1) if n % d == 0)


def step_cost(trainer: engine.Trainer, state, batch: engine.RunBatch, dataset) -> dict:
  """XLA's cost analysis (flops, bytes accessed) of one training step of every run, counted as
  XLA computes it:
  - oneDNN convolutions and LSTMs (conv_impl / rnn_impl 'onednn') are custom calls XLA cannot
    see into: the same step with XLA's (same arithmetic, same tensors) is counted instead;
  - a recurrent model's time scan is a while loop whose body XLA counts once: with the scan
    unrolled u times (u the smallest divisor of the sequence length T) it counts u bodies, so
    cost = c_1 + (T - 1) (c_u - c_1) / (u - 1). (Bytes so counted are an estimate: the unrolled
    body may fuse differently.)
  """
  chosen = trainer.strategy

  def counted(**options) -> dict:
    if (chosen.get("conv_impl", "xla") == "xla" and chosen.get("rnn_impl", "xla") == "xla"
        and not options):
      return trainer.step_cost(state)
    counter = engine.Trainer(
        dataclasses.replace(batch, problem_options={**batch.problem_options, **options}),
        dataset, strategy=strategy_lib.Strategy(
            runs=chosen["runs"], steps_per_dispatch=chosen["steps_per_dispatch"],
            unroll=chosen["unroll"], conv_impl="xla"))
    return counter.step_cost(counter.init())

  once = counted()
  if trainer.problem.family != "rnn":
    return once
  steps = int(trainer.problem.input_shape[0])
  unroll = _smallest_divisor(steps)
  more = counted(rnn_unroll=unroll)
  return {key: value + (steps - 1) * (more.get(key, value) - value) / (unroll - 1)
          for key, value in once.items()}


def bench_one(cfg: BenchConfig, peak_flops: float, bandwidth: float,
              between: Optional[Callable[[float], float]] = None) -> dict:
  """Measures one (problem, num_seeds) row; see the module docstring for the keys."""

  problem = problems.get(cfg.problem)
  dataset = data.load(problem.dataset, batch_size=problem.batch_size, source="synthetic",
                      synthetic_size=cfg.synthetic_size)
  seeds = np.arange(42, 42 + cfg.num_seeds, dtype=np.int32)
  batch = engine.RunBatch(problem=cfg.problem, optimizer=cfg.optimizer, seeds=seeds,
                          schedule="constant")
  trainer = engine.Trainer(batch, dataset, strategy=cfg.strategy)
  k = int(trainer.strategy["steps_per_dispatch"])

  state = trainer.init()
  state, buffer = trainer.train_steps(state, 0, k)  # compiles the training program
  jax.block_until_ready((state, buffer))
  started = time.perf_counter()
  jax.block_until_ready(trainer.evaluate(state))  # compiles the evaluation programs
  first_eval = time.perf_counter() - started
  compile_seconds = trainer.compile_seconds

  # Untimed warm-up doubles the chunk (a multiple of k) until it covers a whole epoch, as
  # `run_epoch` does (one train_steps call per epoch), or one call takes >= 0.2 s and at least
  # 5x the per-call data-order time that is corrected for below.
  order = _order_seconds(trainer, state)
  epoch_chunk = max(k, trainer.steps_per_epoch // k * k)
  chunk = k
  while True:
    started = time.perf_counter()
    state, buffer = trainer.train_steps(state, 0, chunk)
    jax.block_until_ready((state, buffer))
    took = time.perf_counter() - started
    if chunk >= epoch_chunk or took >= max(min(0.2, cfg.seconds / 4), 5 * order):
      break
    chunk = min(2 * chunk, epoch_chunk)

  position = 0

  def window(seconds: float) -> float:
    """Steps/s over one timed window of about `seconds`."""
    nonlocal state, buffer, position
    steps, calls, timed = 0, 0, 0.0
    while timed < seconds or steps == 0:
      started = time.perf_counter()
      state, buffer = trainer.train_steps(state, 0, chunk, start=position)
      jax.block_until_ready((state, buffer))
      timed += time.perf_counter() - started
      steps += chunk
      calls += 1
      position = (position + chunk) % trainer.steps_per_epoch
    # Every train_steps call computes the epoch's data order (a sort of the training split per
    # run), which a real run does once per epoch: replace the per-call cost by its epoch share.
    timed = max(timed + order * (steps / trainer.steps_per_epoch - calls), 0.05 * timed)
    return steps / timed

  # Windows alternate with `between` (the PyTorch baseline) so both see the same machine load;
  # medians over the windows.
  rates, others = [], []
  for _ in range(cfg.windows):
    rates.append(window(cfg.seconds / cfg.windows))
    if between is not None:
      others.append(between(cfg.seconds / cfg.windows))
  steps_per_sec = statistics.median(rates)

  started = time.perf_counter()
  jax.block_until_ready(trainer.evaluate(state))
  eval_seconds = min(time.perf_counter() - started, first_eval)
  measured = dataset.train_eval.size + dataset.valid.size + dataset.test.size
  eval_seconds *= _true_eval_examples(problem.dataset, measured) / measured

  cost = step_cost(trainer, state, batch, dataset)
  flops, moved = cost.get("flops", 0.0), cost.get("bytes accessed", 0.0)
  memory, _ = peak_memory_bytes()
  return {
    "problem": cfg.problem, "num_seeds": cfg.num_seeds, "device": device_description(),
    "allocator": allocator.describe(),
    "strategy": trainer.strategy, "steps_per_sec": steps_per_sec,
    "seed_steps_per_sec": steps_per_sec * cfg.num_seeds,
    "examples_per_sec": steps_per_sec * cfg.num_seeds * trainer.batch_size,
    "compile_seconds": compile_seconds, "eval_seconds_per_epoch": eval_seconds,
    "peak_memory": memory, "model_flops_per_step": flops,
    "flops_fraction_of_peak": flops * steps_per_sec / peak_flops,
    "model_bytes_per_step": moved, "bytes_fraction_of_bandwidth": moved * steps_per_sec / bandwidth,
  }, (statistics.median(others) if others else None)


def _torch_loop():
  """jaxbench.benchmarking.torch_loop, the optional PyTorch baseline (needs the torch extra).

  Imported here, not at the top: PyTorch is optional and only `--torch` needs it.
  """
  try:
    return importlib.import_module("jaxbench.benchmarking.torch_loop")
  except ModuleNotFoundError as e:
    raise SystemExit(f"--torch needs PyTorch: pip install 'jaxbench[torch]' ({e})") from None


def _torch_rate(torch_loop, name: str, num_runs: int, optimizer: str, seconds: float) -> float:
  """PyTorch seed-steps/s of `num_runs` runs one after another (best of its thread settings),
  in this process: PyTorch runs with jaxbench's allocator (tcmalloc when loaded)."""
  return torch_loop.measure_best(name, seconds=seconds, num_runs=num_runs,
                                 optimizer=optimizer)["seed_steps_per_sec"]


def _torch_rate_default_allocator(name: str, num_runs: int, optimizer: str,
                                  seconds: float) -> float:
  """The same measurement in a child process with the environment the shell gave (the commands
  put LD_PRELOAD back after choosing tcmalloc): PyTorch with its out-of-the-box allocator, as a
  user's own script runs. Start-up and warm-up happen before the timed loop, outside `seconds`."""
  with tempfile.TemporaryDirectory() as folder:
    out = os.path.join(folder, "torch.json")
    result = subprocess.run(
        [sys.executable, "-m", "jaxbench.benchmarking.torch_loop", f"--problems={name}",
         f"--num_runs={num_runs}", f"--seconds={seconds}", f"--optimizer={optimizer}",
         f"--json={out}"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
      raise SystemExit(f"the PyTorch baseline failed for {name}: {result.stderr.strip()[-500:]}")
    with open(out, encoding="utf-8") as f:
      return float(json.load(f)[0]["seed_steps_per_sec"])


def format_table(rows: Sequence[dict], memory_kind: str) -> str:
  head = (f"{'problem':18s} {'runs':>4s} {'strategy':>12s} {'steps/s':>9s} {'seed-st/s':>10s} "
          f"{'ex/s':>9s} {'compile':>8s} {'eval/ep':>8s} {'mem MiB':>8s} {'GFLOP/st':>9s} "
          f"{'%peak':>6s} {'MB/st':>8s} {'%bw':>6s}")
  if rows and "ratio_vs_torch" in rows[0]:
    head += f" {'torch':>9s} {'x torch':>8s}"
  lines = [f"(mem = {memory_kind})", head]
  for r in rows:
    s = r["strategy"]
    strat = f"{s['runs']}/k{s['steps_per_dispatch']}/u{s['unroll']}"
    if s.get("conv_impl", "xla") != "xla":
      strat += f"/{s['conv_impl']}"
    if s.get("rnn_impl", "xla") != "xla":
      strat += f"/{s['rnn_impl']}"
    line = (f"{r['problem']:18s} {r['num_seeds']:4d} {strat:>12s} {r['steps_per_sec']:9.2f} "
            f"{r['seed_steps_per_sec']:10.2f} {r['examples_per_sec']:9.0f} "
            f"{r['compile_seconds']:8.2f} {r['eval_seconds_per_epoch']:8.2f} "
            f"{r['peak_memory'] / 2**20:8.0f} {r['model_flops_per_step'] / 1e9:9.3f} "
            f"{100 * r['flops_fraction_of_peak']:6.2f} {r['model_bytes_per_step'] / 1e6:8.1f} "
            f"{100 * r['bytes_fraction_of_bandwidth']:6.2f}")
    if "ratio_vs_torch" in r:
      line += f" {r['torch_seed_steps_per_sec']:9.2f} {r['ratio_vs_torch']:8.2f}"
    lines.append(line)
  return "\n".join(lines)


# The whole study (SPEC 5): 15 optimizers x 4 schedules x 112 runs on each of the eight problems.
PAPER_PROBLEMS = ("quadratic_deep", "mnist_vae", "fmnist_2c2d", "cifar10_3c3d", "fmnist_vae",
                  "cifar100_allcnnc", "svhn_wrn164", "tolstoi_char_rnn")
STUDY_RUNS_PER_PROBLEM = 15 * 4 * 112  # 6,720; x 8 problems = 53,760 runs


def study_steps_per_epoch(name: str) -> int:
  """Training steps of one epoch at the official data sizes (SPEC 1 splits, remainder dropped)."""
  problem = problems.get(name)
  if problem.dataset in loader.OFFICIAL_SIZES:
    train = loader.OFFICIAL_SIZES[problem.dataset][0] - loader.VALID_SIZES[problem.dataset]
    return train // problem.batch_size
  if problem.dataset == "tolstoi":
    # The loader's own split of DeepOBS's text (train = ceil(0.8 N) less our validation block),
    # laid out as char_rnn_batches does: (train - 1) // (batch_size * SEQ_LENGTH) batches.
    train_chars = len(text_lib.split_ids(np.arange(loader.TOLSTOI_FULL_CHARS))["train"])
    return (train_chars - 1) // (problem.batch_size * text_lib.SEQ_LENGTH)
  # generated data: quadratic_deep 1,000 examples, two_d 10,000 (SPEC 1)
  return {"quadratic_deep": generated.QUADRATIC_SIZE,
          "two_d": generated.TWO_D_SIZE}[problem.dataset] // problem.batch_size


def study_cost(rows: Sequence[dict]) -> list[dict]:
  """Per problem: per-run memory and the whole study's device-hours, from its measured rows.

  Uses the row with the most runs R (the throughput the sweep would get): one batch of R runs
  takes epochs * steps_per_epoch / steps_per_sec seconds of training plus (epochs + 1)
  evaluations; the study runs STUDY_RUNS_PER_PROBLEM / R such batches. Per-run memory is the
  growth of peak memory between the two largest run counts, divided by the runs added (the
  fixed part — programs, data — cancels); None with a single row.
  """
  out = []
  for name in dict.fromkeys(r["problem"] for r in rows):
    mine = sorted((r for r in rows if r["problem"] == name), key=lambda r: r["num_seeds"])
    top = mine[-1]
    problem = problems.get(name)
    epochs, steps = problem.num_epochs, study_steps_per_epoch(name)
    batch_seconds = (epochs * steps / top["steps_per_sec"]
                     + (epochs + 1) * top["eval_seconds_per_epoch"])
    hours = STUDY_RUNS_PER_PROBLEM / top["num_seeds"] * batch_seconds / 3600
    per_run = None
    if len(mine) >= 2 and mine[-1]["num_seeds"] > mine[-2]["num_seeds"]:
      per_run = max(mine[-1]["peak_memory"] - mine[-2]["peak_memory"], 0) / (
          mine[-1]["num_seeds"] - mine[-2]["num_seeds"])
    out.append({"problem": name, "num_seeds": top["num_seeds"], "num_epochs": epochs,
                "steps_per_epoch": steps, "seconds_per_run": batch_seconds / top["num_seeds"],
                "per_run_memory": per_run, "study_runs": STUDY_RUNS_PER_PROBLEM,
                "device_hours": hours})
  return out


def format_study_cost(costs: Sequence[dict], device: str) -> str:
  lines = [f"whole-study cost on {device} ({STUDY_RUNS_PER_PROBLEM} runs per problem, "
           f"from the row with the most runs)",
           f"{'problem':18s} {'runs':>4s} {'epochs':>6s} {'steps/ep':>8s} {'s/run':>9s} "
           f"{'MiB/run':>8s} {'hours':>9s}"]
  for c in costs:
    memory = "-" if c["per_run_memory"] is None else f"{c['per_run_memory'] / 2**20:8.1f}"
    lines.append(f"{c['problem']:18s} {c['num_seeds']:4d} {c['num_epochs']:6d} "
                 f"{c['steps_per_epoch']:8d} {c['seconds_per_run']:9.2f} {memory:>8s} "
                 f"{c['device_hours']:9.2f}")
  total = sum(c["device_hours"] for c in costs)
  lines.append(f"{'total':18s} {'':4s} {'':6s} {'':8s} {'':9s} {'':8s} {total:9.2f}")
  return "\n".join(lines)


def _parse_ints(text: str, flag: str) -> list[int]:
  try:
    values = [int(v) for v in text.split(",") if v]
  except ValueError:
    raise SystemExit(f"--{flag}={text!r}: expected comma-separated positive integers") from None
  if not values or min(values) < 1:
    raise SystemExit(f"--{flag}={text!r}: expected comma-separated positive integers")
  return values


def main(argv: Optional[Sequence[str]] = None) -> list[dict]:
  # XLA reads XLA_FLAGS when the backend initialises (the first computation below), not at
  # import; without effect when the caller's process already computed something.
  xla_flags.apply()
  ap = argparse.ArgumentParser(prog="jaxbench bench", description=__doc__.split("\n")[0])
  ap.add_argument("--problems", default="quadratic_deep,fmnist_2c2d")
  ap.add_argument("--num_seeds", default="1,10")
  ap.add_argument("--seconds", type=float, default=8.0, help="timed seconds per row")
  ap.add_argument("--optimizer", default="adam")
  ap.add_argument("--synthetic_size", type=int, default=None,
                  help="training examples of the synthetic data (default: the loader's small)")
  ap.add_argument("--runs", default=None, choices=("vmap", "loop"),
                  help="override the strategy's runs (default: strategy.choose)")
  ap.add_argument("--steps_per_dispatch", type=int, default=None)
  ap.add_argument("--unroll", type=int, default=None)
  ap.add_argument("--conv_impl", default=None, choices=nets.CONV_IMPLS,
                  help="conv problems: how convolutions are computed (default: the policy's)")
  ap.add_argument("--windows", type=int, default=1,
                  help="split --seconds into this many timed windows, alternating with the "
                       "PyTorch baseline under --torch; medians are reported")
  ap.add_argument("--json", default=None,
                  help="write the rows to this JSON file (rewritten after every row)")
  ap.add_argument("--study_cost", action="store_true",
                  help="also print per-run memory and the whole study's device-hours")
  ap.add_argument("--report", default=None,
                  help="measure nothing: print the table (and --study_cost) of the rows in the "
                       "JSON files of this folder (benchmarks/gpu_table.sh)")
  ap.add_argument("--torch", action="store_true",
                  help="also time the plain PyTorch loop (jaxbench.benchmarking.torch_loop) side by side")
  ap.add_argument("--torch_allocator", default="same", choices=TORCH_ALLOCATORS,
                  help="same: PyTorch in this process, under jaxbench's allocator (tcmalloc); "
                       "default: PyTorch in a child process with its out-of-the-box allocator")
  args = ap.parse_args(argv)
  if args.report is not None:
    return _report(args.report, args.study_cost)

  names = [n for n in args.problems.split(",") if n]
  unknown = [n for n in names if n not in problems.names()]
  if unknown or not names:
    raise SystemExit(f"--problems: unknown {unknown}; valid choices: {', '.join(problems.names())}")
  if args.optimizer not in optimizers.names():
    raise SystemExit(f"--optimizer={args.optimizer!r}; valid choices: "
                     f"{', '.join(optimizers.names())}")
  if args.seconds <= 0:
    raise SystemExit(f"--seconds={args.seconds} must be > 0")
  if args.windows < 1:
    raise SystemExit(f"--windows={args.windows} must be >= 1")
  seed_counts = _parse_ints(args.num_seeds, "num_seeds")
  torch_loop = _torch_loop() if args.torch else None

  peak, bandwidth = matmul_peak_flops(), memory_bandwidth()
  print(f"device {device_description()}: dense float32 matmul peak {peak / 1e9:.1f} GFLOP/s, "
        f"memory bandwidth {bandwidth / 1e9:.1f} GB/s, allocator {allocator.describe()}",
        flush=True)
  rows = []
  for name in names:
    for n in seed_counts:
      strategy = None
      if args.runs or args.steps_per_dispatch or args.unroll or args.conv_impl:
        base = strategy_lib.choose(problems.get(name), jax.default_backend(), n)
        strategy = dataclasses.replace(
            base, **{k: v for k, v in (("runs", args.runs),
                                       ("steps_per_dispatch", args.steps_per_dispatch),
                                       ("unroll", args.unroll),
                                       ("conv_impl", args.conv_impl if problems.get(name).family
                                        == "conv" else None)) if v})
      cfg = BenchConfig(problem=name, num_seeds=n, seconds=args.seconds,
                        optimizer=args.optimizer, synthetic_size=args.synthetic_size,
                        strategy=strategy, windows=args.windows)
      between = None
      if torch_loop is not None:
        opt = args.optimizer if args.optimizer in torch_loop.OPTIMIZERS else "adam"
        if args.torch_allocator == "same":
          between = functools.partial(_torch_rate, torch_loop, name, n, opt)
        else:
          between = functools.partial(_torch_rate_default_allocator, name, n, opt)
      row, torch_rate = bench_one(cfg, peak, bandwidth, between)
      if torch_rate is not None:
        row["torch_seed_steps_per_sec"] = torch_rate
        row["ratio_vs_torch"] = row["seed_steps_per_sec"] / torch_rate
        row["torch_allocator"] = (row["allocator"] if args.torch_allocator == "same"
                                  else "PyTorch default (no jaxbench preload)")
      rows.append(row)
      if args.json:  # after every row, so a row that fails (e.g. out of memory) keeps the rest
        with open(args.json, "w") as f:
          json.dump(rows, f, indent=1)
      print(format_table([row], peak_memory_bytes()[1]).splitlines()[-1], flush=True)
  print()
  print(format_table(rows, peak_memory_bytes()[1]))
  if args.study_cost:
    print(format_study_cost(study_cost(rows), device_description()))
  return rows


def _report(folder: str, with_cost: bool) -> list[dict]:
  paths = sorted(glob.glob(os.path.join(folder, "*.json")))
  if not paths:
    raise SystemExit(f"--report={folder!r}: no *.json row files there")
  rows = []
  for path in paths:
    with open(path) as f:
      rows.extend(json.load(f))
  print(format_table(rows, "per problem: its own process (see gpu_table.sh)"))
  if with_cost and rows:
    print(format_study_cost(study_cost(rows), rows[0]["device"]))
  return rows


if __name__ == "__main__":
  main()
