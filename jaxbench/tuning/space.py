"""Search-space distributions (SPEC section 3), as data.

Each distribution maps a uniform number u in [0, 1) to a value. The sampler draws u from the
trial index and the hyperparameter *name*, so trial i draws the same value for a hyperparameter
of the same name across optimizers (common random numbers).
"""
from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class LogUniform:
  low: float
  high: float

  def transform(self, u: float) -> float:
    return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))


@dataclasses.dataclass(frozen=True)
class OneMinusLogUniform:
  """value = 1 - x with x log-uniform on [low, high] (momentum-like rho)."""
  low: float
  high: float

  def transform(self, u: float) -> float:
    return 1.0 - LogUniform(self.low, self.high).transform(u)


@dataclasses.dataclass(frozen=True)
class Uniform:
  low: float
  high: float

  def transform(self, u: float) -> float:
    return self.low + u * (self.high - self.low)


@dataclasses.dataclass(frozen=True)
class IntUniform:
  """Uniform integer in {low, ..., high} (inclusive)."""
  low: int
  high: int

  def transform(self, u: float) -> int:
    return min(self.high, self.low + int(math.floor(u * (self.high - self.low + 1))))


Distribution = LogUniform | OneMinusLogUniform | Uniform | IntUniform
