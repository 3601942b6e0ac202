"""The paper's four learning-rate schedules with DeepOBS per-epoch semantics (SPEC section 4).

DeepOBS 1.2 changes the learning rate only between epochs: the runner keeps a dict
epoch -> lr_base * factor and assigns it at the start of training epoch e (after the
evaluation at the start of that epoch). The Crowded Valley runs passed factors for epochs
1, ..., T-1, so epoch 0 always runs at the full base rate, whatever the formula gives at e = 0
(the trapezoid's formula gives 0 there). We reproduce that exactly: the rate at optimizer step
`count` is `base_lr * f(count // steps_per_epoch)`.
"""
from __future__ import annotations

import math
from typing import Callable

import jax.numpy as jnp
import numpy as np

PAPER_NAMES = ("constant", "cosine", "cosine_wr", "trapezoidal")

# SGDR as run by the study: first cycle 10 epochs, each next one twice as long, minimum 0.
COSINE_WR_FIRST_CYCLE = 10
COSINE_WR_CYCLE_MULT = 2


def _constant(e: int, num_epochs: int) -> float:
  del e, num_epochs
  return 1.0


def _cosine(e: int, num_epochs: int) -> float:
  return 0.5 * (1.0 + math.cos(math.pi * e / num_epochs))


def _cosine_wr(e: int, num_epochs: int) -> float:
  del num_epochs
  start, length = 0, COSINE_WR_FIRST_CYCLE
  while e >= start + length:
    start, length = start + length, length * COSINE_WR_CYCLE_MULT
  return 0.5 * (1.0 + math.cos(math.pi * (e - start) / length))


def _trapezoidal(e: int, num_epochs: int) -> float:
  # w = T / 10 as a real number; it is an integer for every T the paper used (50, 100, 160,
  # 200, 350), where this matches the integer reading exactly.
  w = num_epochs / 10.0
  if e < w:
    return e / w
  if e <= num_epochs - w:
    return 1.0
  return (num_epochs + 1 - e) / (w + 1)


_FACTORS: dict[str, Callable[[int, int], float]] = {
    "constant": _constant,
    "cosine": _cosine,
    "cosine_wr": _cosine_wr,
    "trapezoidal": _trapezoidal,
}


def _check_epochs(num_epochs: int) -> int:
  if isinstance(num_epochs, (float, np.floating)) and float(num_epochs).is_integer():
    num_epochs = int(num_epochs)
  if isinstance(num_epochs, bool) or not isinstance(num_epochs, (int, np.integer)):
    raise ValueError(f"num_epochs={num_epochs!r} must be a positive integer for the paper's "
                     "per-epoch schedules")
  if num_epochs < 1:
    raise ValueError(f"num_epochs={num_epochs} must be >= 1")
  return int(num_epochs)


def paper_factors(name: str, num_epochs: int) -> np.ndarray:
  """Factor f(e) on the base learning rate for each training epoch e = 0, ..., T-1.

  f(0) = 1 always (DeepOBS never changes the rate before the first epoch).
  """
  if name not in _FACTORS:
    raise ValueError(f"unknown paper schedule {name!r}; valid choices: {list(PAPER_NAMES)}")
  num_epochs = _check_epochs(num_epochs)
  formula = _FACTORS[name]
  factors = np.ones(num_epochs, dtype=np.float64)
  for e in range(1, num_epochs):
    factors[e] = formula(e, num_epochs)
  return factors


def lr_sched_lists(name: str, num_epochs: int) -> tuple[list[int], list[float]]:
  """DeepOBS's `lr_sched_epochs` and `lr_sched_factors` for the run record.

  The epochs where the factor differs from the previous epoch's (epoch 0 runs at factor 1),
  and the factor from that epoch on, relative to the base rate (DeepOBS factors are not
  cumulative). Both lists are empty for 'constant'.
  """
  factors = paper_factors(name, num_epochs)
  epochs, values = [], []
  for e in range(1, len(factors)):
    if factors[e] != factors[e - 1]:
      epochs.append(e)
      values.append(float(factors[e]))
  return epochs, values


def training_params(name: str, num_epochs: int) -> dict:
  """The run record's schedule keys: DeepOBS writes null for both when the rate never changes."""
  epochs, values = lr_sched_lists(name, num_epochs)
  if not epochs:
    return {"lr_sched_epochs": None, "lr_sched_factors": None}
  return {"lr_sched_epochs": epochs, "lr_sched_factors": values}


def per_epoch_schedule(name: str, base_lr, num_epochs: int,
                       steps_per_epoch: int) -> Callable:
  """count -> base_lr * f(count // steps_per_epoch); steps past the last epoch keep f(T-1).

  The factor table is a constant of the compiled program; base_lr may be a traced array.
  """
  table = jnp.asarray(paper_factors(name, num_epochs), dtype=jnp.float32)
  last = num_epochs - 1

  def schedule(count):
    epoch = jnp.clip(jnp.asarray(count).astype(jnp.int32) // steps_per_epoch, 0, last)
    return base_lr * table[epoch]

  return schedule
