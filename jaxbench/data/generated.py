"""The generated datasets: quadratic_deep's noise vectors and the two_d noise pairs.

Both are drawn with numpy's legacy RandomState exactly as DeepOBS drew them, so the data (and
hence every loss value) matches the original benchmark bit for bit in float64 before the cast to
float32.
"""
from __future__ import annotations

import numpy as np

from jaxbench.data.specs import QUADRATIC_DIM

QUADRATIC_SIZE = 1000
QUADRATIC_NOISE = 0.6
TWO_D_SIZE = 10000
TWO_D_NOISE = 1.0


def quadratic_deep_split(seed: int, size: int = QUADRATIC_SIZE) -> np.ndarray:
  """float32 [size, 100]: RandomState(seed).normal(0.0, 0.6, (size, 100)).

  DeepOBS seeds: train 42, test 43, valid 44. (The Hessian, also from RandomState(42), is built
  separately by the problem; the two generators are independent objects.)
  """
  rng = np.random.RandomState(seed)
  return rng.normal(0.0, QUADRATIC_NOISE, (size, QUADRATIC_DIM)).astype(np.float32)


def two_d_split(seed: int | None, size: int = TWO_D_SIZE) -> np.ndarray:
  """float32 [size, 2] with column 0 = x and column 1 = y.

  DeepOBS (deepobs/tensorflow/datasets/two_d.py) draws, from one RandomState(seed), first ALL x
  values `rng.normal(0.0, 1.0, size)` and then all y values the same way, and casts each to
  float32. Train seed 42, valid seed 44. seed=None gives the test set: all zeros, so the test
  loss is the deterministic function f(u, v).
  """
  if seed is None:
    return np.zeros((size, 2), np.float32)
  rng = np.random.RandomState(seed)
  x = rng.normal(0.0, TWO_D_NOISE, size)
  y = rng.normal(0.0, TWO_D_NOISE, size)
  return np.stack([np.float32(x), np.float32(y)], axis=1)
