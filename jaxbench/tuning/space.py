"""Search-space distributions (SPEC section 3), as data.

Each distribution maps a uniform number u in [0, 1) to a value. The sampler draws u from the
trial index and the hyperparameter *name*, so trial i draws the same value for a hyperparameter
of the same name across optimizers (common random numbers).
"""
from __future__ import annotations

import dataclasses
import math

from jaxbench.errors import ConfigError


def _check_bounds(kind: str, low, high, positive: bool) -> None:
  if not (math.isfinite(low) and math.isfinite(high) and low < high):
    raise ConfigError(f"{kind}(low={low!r}, high={high!r}): need finite low < high")
  if positive and low <= 0:
    raise ConfigError(f"{kind}(low={low!r}, high={high!r}): low must be > 0 (log scale)")


@dataclasses.dataclass(frozen=True)
class LogUniform:
  low: float
  high: float

  def __post_init__(self):
    _check_bounds("LogUniform", self.low, self.high, positive=True)

  def narrowed(self, center: float, factor: float) -> "LogUniform":
    """[center / factor, center * factor] clipped to [low, high] (trials 51-75 of the protocol)."""
    if not factor > 1:
      raise ConfigError(f"narrowing factor={factor!r} must be > 1")
    if not self.low <= center <= self.high:
      raise ConfigError(f"narrowing center={center!r} lies outside [{self.low:g}, {self.high:g}]")
    return LogUniform(max(self.low, center / factor), min(self.high, center * factor))

  def transform(self, u: float) -> float:
    return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))


@dataclasses.dataclass(frozen=True)
class OneMinusLogUniform:
  """value = 1 - x with x log-uniform on [low, high] (momentum-like rho)."""
  low: float
  high: float

  def __post_init__(self):
    _check_bounds("OneMinusLogUniform", self.low, self.high, positive=True)

  def transform(self, u: float) -> float:
    return 1.0 - LogUniform(self.low, self.high).transform(u)


@dataclasses.dataclass(frozen=True)
class Uniform:
  low: float
  high: float

  def __post_init__(self):
    _check_bounds("Uniform", self.low, self.high, positive=False)

  def transform(self, u: float) -> float:
    return self.low + u * (self.high - self.low)


@dataclasses.dataclass(frozen=True)
class IntUniform:
  """Uniform integer in {low, ..., high} (inclusive)."""
  low: int
  high: int

  def __post_init__(self):
    if int(self.low) != self.low or int(self.high) != self.high or self.low > self.high:
      raise ConfigError(f"IntUniform(low={self.low!r}, high={self.high!r}): need integers "
                       "low <= high")

  def transform(self, u: float) -> int:
    return min(self.high, self.low + int(math.floor(u * (self.high - self.low + 1))))


Distribution = LogUniform | OneMinusLogUniform | Uniform | IntUniform
