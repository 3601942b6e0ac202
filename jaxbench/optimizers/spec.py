"""What one registered optimizer is (`OptimizerSpec`): builder, defaults, search space, ranges.

Hyperparameter names are shared across optimizers so that common random numbers (SPEC section 3)
pair them up: trial i draws the same u for `learning_rate` of adam and of sgd, for `b1` of adam
and of radam, and so on. The shared names:

  learning_rate  base step size (float, traced array or schedule count -> lr)
  b1, b2         first/second moment decay rates (Adam family)
  rho            momentum coefficient (momentum, nag) or squared-gradient decay (rmsprop,
                 adadelta)
  eps            the epsilon of the denominator (where exactly: see each optimizer)
  final_lr, gamma  AdaBound/AMSBound's bound target and convergence speed
  alpha, k       Lookahead's slow step size and synchronisation period
  weight_decay   decoupled weight decay of the modern optimizers (the problems' own L2 term is
                 separate and always applies)
  initial_accumulator_value, momentum_decay, threshold, adam_lr_ratio: optimizer specific
  form           which published form of the update ('tf1', 'optax', 'keras'), not numeric
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import types
from typing import Any, Callable, Mapping

import jax
import numpy as np
import optax

from jaxbench.errors import ConfigError
from jaxbench.tuning import space


@dataclasses.dataclass(frozen=True)
class Range:
  """Valid values of a numeric hyperparameter, checked when the value is concrete."""
  low: float = -math.inf
  high: float = math.inf
  low_inclusive: bool = True
  high_inclusive: bool = True
  integer: bool = False

  def contains(self, value: np.ndarray) -> bool:
    above = value >= self.low if self.low_inclusive else value > self.low
    below = value <= self.high if self.high_inclusive else value < self.high
    ok = bool(np.all(above & below))
    return ok and (not self.integer or bool(np.all(value == np.round(value))))

  def __str__(self) -> str:
    kind = 'an integer' if self.integer else 'a number'
    left = '[' if self.low_inclusive else '('
    right = ']' if self.high_inclusive else ')'
    return f'{kind} in {left}{self.low:g}, {self.high:g}{right}'


UNIT = Range(0.0, 1.0, high_inclusive=False)
NON_NEGATIVE = Range(0.0)
POSITIVE = Range(0.0, low_inclusive=False)

# Ranges by hyperparameter name, shared by every optimizer (an entry may override one).
RANGES: Mapping[str, Range] = types.MappingProxyType({
    'learning_rate': NON_NEGATIVE,
    'b1': UNIT,
    'b2': UNIT,
    'rho': UNIT,
    'eps': NON_NEGATIVE,
    'final_lr': POSITIVE,
    'gamma': POSITIVE,
    'alpha': Range(0.0, 1.0, low_inclusive=False),
    'k': Range(1, integer=True),
    'weight_decay': NON_NEGATIVE,
    'initial_accumulator_value': NON_NEGATIVE,
    'momentum_decay': NON_NEGATIVE,
    # RAdam's SMA threshold: r_t needs rho_t > 4, so a lower threshold would give NaN steps.
    'threshold': Range(4.0),
    'adam_lr_ratio': POSITIVE,
})


def is_traced(value: Any) -> bool:
  """True for values only known inside jit/vmap (their range cannot be checked)."""
  return isinstance(value, jax.core.Tracer)


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
  """One registered optimizer: what `optimizers.get(name, ...)` builds and how it is tuned.

  builder(**hyperparams) -> optax.GradientTransformation receives every hyperparameter of
    `defaults` as a keyword (learning_rate may be a float, a traced array or a schedule
    count -> lr; the others floats or traced arrays); a builder that also declares a
    `base_learning_rate` keyword receives the run's base rate (None when not given).
  defaults: the one-shot value of every hyperparameter (non-numeric options such as `form` are
    listed in `choices`).
  search_space: name -> jaxbench.tuning.space distribution, for the tuned ones.
  ranges: valid ranges by name where RANGES (shared by name) has none or another one.
  eval_params(opt_state, params) -> the parameters to evaluate; None means params themselves.
  """
  name: str
  builder: Callable[..., optax.GradientTransformation]
  defaults: Mapping[str, Any]
  search_space: Mapping[str, space.Distribution]
  reference: str = ''
  paper: bool = False  # one of the fifteen of the Crowded Valley study
  choices: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
  ranges: Mapping[str, Range] = dataclasses.field(default_factory=dict)
  eval_params: Callable[[optax.OptState, optax.Params], optax.Params] | None = None

  def __post_init__(self):
    if not isinstance(self.name, str) or not self.name:
      raise ConfigError(f'an optimizer name must be a non-empty string, got {self.name!r}')
    if not callable(self.builder):
      raise ConfigError(f'{self.name}: builder {self.builder!r} is not callable')
    if 'learning_rate' not in self.defaults:
      raise ConfigError(f'{self.name}: defaults need a learning_rate (every optimizer tunes it '
                        f'under that name); got {sorted(self.defaults)}')
    for hp, distribution in self.search_space.items():
      if hp not in self.defaults:
        raise ConfigError(f'{self.name}: search-space hyperparameter {hp!r} has no default')
      if not isinstance(distribution, space.Distribution):
        raise ConfigError(f'{self.name}: search space of {hp!r} is {distribution!r}, not a '
                          'jaxbench.tuning.space distribution')
    for hp in self.defaults:
      if hp not in self.choices and self.range_of(hp) is None:
        raise ConfigError(f'{self.name}: hyperparameter {hp!r} has no valid range; give one in '
                          f'ranges= (shared ranges exist for {sorted(RANGES)})')

  @property
  def takes_base_learning_rate(self) -> bool:
    """Whether the builder declares `base_learning_rate` (AdaBound's bounds need it)."""
    return 'base_learning_rate' in inspect.signature(self.builder).parameters

  def range_of(self, hp: str) -> Range | None:
    return self.ranges.get(hp, RANGES.get(hp))

  def check(self, hp: str, value: Any) -> None:
    """Raises ConfigError naming the bad value and the valid choices/range."""
    if hp in self.choices:
      if value not in self.choices[hp]:
        raise ConfigError(f'{self.name}: {hp}={value!r} is not one of {list(self.choices[hp])}')
      return
    if hp == 'learning_rate' and callable(value):
      return  # a schedule count -> lr; the schedules module validates its own parameters
    check_value(self.name, hp, value, self.range_of(hp))


def check_value(owner: str, hp: str, value: Any, valid: Range) -> None:
  """ConfigError (a ValueError) naming `owner`, the bad value and the valid range; traced values
  pass."""
  if is_traced(value):
    return
  try:
    array = np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError):
    raise ConfigError(f'{owner}: {hp}={value!r} is not a number; expected {valid}') from None
  if np.isnan(array).any() or not valid.contains(array):
    raise ConfigError(f'{owner}: {hp}={value!r} is out of range; expected {valid}')
