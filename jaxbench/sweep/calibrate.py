"""Measurements on the current device: memory per run (-> runs per engine batch) and speed
(compile seconds, seconds per batched training step, seconds per evaluated example) for the
dry run's time estimate.

Memory per run = XLA's compiled memory analysis of one training step of one run (arguments +
outputs + temporaries: the batch, parameters, activations and gradients) plus three copies of the
parameters for the optimizer state (Adam-like moments, AMSGrad's maximum or Lookahead's slow
weights) plus the model state (BatchNorm statistics, LSTM carry). Runs per batch =
floor(memory_fraction * device memory / memory per run), at least 1. Device memory: the
accelerator's `bytes_limit`, or the host's physical memory on CPU.

Calibration runs the real engine on synthetic data of the problem's shapes (nothing is read or
written), adam, a batch of R runs: the first `steps` steps include compilation, the next
`steps` are timed.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxbench import data, problems
from jaxbench.data import loader
from jaxbench.train import engine
from jaxbench.train.strategy import Strategy

CALIBRATION_OPTIMIZER = "adam"
OPTIMIZER_STATE_COPIES = 3


def device_memory_bytes() -> int:
  device = jax.devices()[0]
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if stats and stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


@functools.lru_cache(maxsize=None)
def _small_dataset(dataset_name: str, batch_size: int):
  source = "generated" if dataset_name in loader.GENERATED_DATASETS else "synthetic"
  return data.load(dataset_name, batch_size=batch_size, source=source)


def _nbytes(tree) -> int:
  return int(sum(np.dtype(x.dtype).itemsize * int(np.prod(x.shape))
                 for x in jax.tree_util.tree_leaves(tree)))


@functools.lru_cache(maxsize=None)
def bytes_per_run(problem_name: str, batch_size: int) -> int:
  """Device memory one run of a batch needs (see the module docstring)."""
  problem = problems.get(problem_name, batch_size=batch_size)
  dataset = _small_dataset(problem.dataset, batch_size)
  inputs = jnp.asarray(dataset.train.inputs[:batch_size])
  targets = jnp.asarray(dataset.train.targets[:batch_size])
  variables = problem.init(jax.random.PRNGKey(0))
  params = variables["params"]
  model_state = {k: v for k, v in variables.items() if k != "params"}

  def loss(params, model_state, inputs, targets, key):
    x = problem.preprocess(inputs, key, True)
    out = problem.apply({"params": params, **model_state}, x, targets, train=True, rng=key)
    return jnp.mean(out.loss) + problem.regularizer(params)

  compiled = jax.jit(jax.grad(loss)).lower(params, model_state, inputs, targets,
                                            jax.random.PRNGKey(1)).compile()
  memory = compiled.memory_analysis()
  step = (memory.argument_size_in_bytes + memory.output_size_in_bytes
          + memory.temp_size_in_bytes) if memory is not None else 4 * _nbytes(params)
  return int(step + OPTIMIZER_STATE_COPIES * _nbytes(params) + _nbytes(model_state))


def runs_per_batch(problem_name: str, batch_size: int, memory_fraction: float,
                   device_bytes: int | None = None) -> int:
  device_bytes = device_memory_bytes() if device_bytes is None else device_bytes
  return max(1, int(memory_fraction * device_bytes // bytes_per_run(problem_name, batch_size)))


@dataclasses.dataclass(frozen=True)
class Calibration:
  problem: str
  runs: int                       # runs in the calibrated batch
  compile_seconds: float          # compiling the batch's programs
  seconds_per_step: float         # one training step of the whole batch
  seconds_per_eval_example: float  # one evaluated example of one run

  @property
  def seconds_per_run_step(self) -> float:
    return self.seconds_per_step / self.runs


def calibrate(problem_name: str, batch_size: int, runs: int, steps: int = 5,
              strategy: dict | None = None) -> Calibration:
  """Times compile + `steps` batched steps + one evaluation on synthetic data."""
  problem = problems.get(problem_name, batch_size=batch_size)
  dataset = _small_dataset(problem.dataset, batch_size)
  run_batch = engine.RunBatch(
      problem=problem_name, optimizer=CALIBRATION_OPTIMIZER,
      seeds=np.arange(runs, dtype=np.int64) + 42, batch_size=batch_size, num_epochs=1)
  trainer = engine.Trainer(run_batch, dataset,
                           strategy=Strategy(**strategy) if strategy else None)
  state = trainer.init()
  state, buffer = trainer.train_steps(state, 0, steps)
  jax.block_until_ready(buffer)
  started = time.perf_counter()
  state, buffer = trainer.train_steps(state, 0, steps)
  jax.block_until_ready(buffer)
  per_step = (time.perf_counter() - started) / steps
  trainer.evaluate(state)  # compiles
  compile_seconds = trainer.compile_seconds
  started = time.perf_counter()
  trainer.evaluate(state)
  eval_seconds = time.perf_counter() - started
  examples = sum(getattr(dataset, split).size for split in ("train_eval", "valid", "test"))
  return Calibration(problem_name, runs, compile_seconds, per_step,
                     eval_seconds / max(1, examples * runs))
