"""The schedule registry: one name -> a validated, jittable `count -> learning rate` function.

`get(name, base_lr, num_epochs, steps_per_epoch, **params)`. The paper's four names take no
parameters; every family takes the parameters listed in `params(name)`, each with a default
(a function of base_lr and num_epochs, so a schedule can be named without tuning its shape).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping

import jax
import numpy as np

from jaxbench.schedules import families
from jaxbench.schedules import paper

Schedule = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True)
class Family:
  """A schedule family: its parameters' defaults, their valid ranges, and its builder."""
  defaults: Callable[[Any, float], dict]
  build: Callable[..., Schedule]
  summary: str
  reference: str


def _concrete(value) -> np.ndarray | None:
  """The value as a numpy array, or None when it is traced (range checks skip traced values)."""
  if isinstance(value, jax.core.Tracer):
    return None
  try:
    return np.asarray(value, dtype=np.float64)
  except (TypeError, ValueError, jax.errors.TracerArrayConversionError):
    return None


def _fail(name: str, param: str, value, rule: str) -> None:
  raise ValueError(f"schedule {name!r}: {param}={value!r} {rule}")


def _check_range(name: str, param: str, value, low: float, high: float = math.inf,
                 low_open: bool = False, high_open: bool = False, what: str = "") -> None:
  arr = _concrete(value)
  if arr is None:
    return
  ok = np.all(np.isfinite(arr))
  lo_ok = np.all(arr > low) if low_open else np.all(arr >= low)
  hi_ok = np.all(arr < high) if high_open else np.all(arr <= high)
  if not (ok and lo_ok and hi_ok):
    lb = "(" if low_open else "["
    hb = ")" if high_open or high == math.inf else "]"
    hs = "inf" if high == math.inf else f"{high:g}"
    _fail(name, param, value, f"must be finite and in {lb}{low:g}, {hs}{hb}{what}")


def _check_period(name: str, param: str, value) -> float:
  if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
    _fail(name, param, value, "must be a Python number of epochs (not an array: a period fixes "
          "the program's structure)")
  if not (math.isfinite(value) and value > 0):
    _fail(name, param, value, "must be a finite number of epochs > 0")
  return float(value)


def _rate(name: str, param: str, value, positive: bool = False) -> None:
  _check_range(name, param, value, 0.0, low_open=positive, what=" (a learning rate)")


def _check_order(name: str, lo, up) -> None:
  lo_c, up_c = _concrete(lo), _concrete(up)
  if lo_c is not None and up_c is not None and np.any(lo_c > up_c):
    _fail(name, "alpha_lo", lo, f"must be <= alpha_up={up!r}")


# ---- builders: validate, convert epochs to steps, build -------------------------------------

def _build_constant(name, base_lr, num_epochs, steps_per_epoch):
  return families.constant(base_lr)


def _decay_k(name, k):
  _check_range(name, "k", k, 0.0, 1.0, low_open=True, what=" (decay factor)")


def _build_step_decay(name, base_lr, num_epochs, steps_per_epoch, delta_t, k):
  _decay_k(name, k)
  return families.step_decay(base_lr, _check_period(name, "delta_t", delta_t) * steps_per_epoch, k)


def _build_exponential(name, base_lr, num_epochs, steps_per_epoch, delta_t, k):
  _decay_k(name, k)
  return families.exponential(base_lr, _check_period(name, "delta_t", delta_t) * steps_per_epoch,
                              k)


def _build_polynomial(name, base_lr, num_epochs, steps_per_epoch, delta_t, alpha_lo, k):
  _rate(name, "alpha_lo", alpha_lo)
  _check_range(name, "k", k, 0.0, low_open=True, what=" (power)")
  return families.polynomial(base_lr, alpha_lo,
                             _check_period(name, "delta_t", delta_t) * steps_per_epoch, k)


def _build_inverse_time(name, base_lr, num_epochs, steps_per_epoch, delta_t, k):
  _check_range(name, "k", k, 0.0, what=" (decay rate)")
  return families.inverse_time(base_lr, _check_period(name, "delta_t", delta_t) * steps_per_epoch,
                               k)


def _build_cosine_decay(name, base_lr, num_epochs, steps_per_epoch, delta_t, alpha_lo):
  _rate(name, "alpha_lo", alpha_lo)
  return families.cosine_decay(base_lr, alpha_lo,
                               _check_period(name, "delta_t", delta_t) * steps_per_epoch)


def _cyclic_checks(name, alpha_lo, alpha_up, k):
  _rate(name, "alpha_lo", alpha_lo)
  _rate(name, "alpha_up", alpha_up)
  _check_order(name, alpha_lo, alpha_up)
  _check_range(name, "k", k, 0.0, 1.0, low_open=True, what=" (amplitude factor per cycle)")


def _build_cyclic(fn):
  def build(name, base_lr, num_epochs, steps_per_epoch, delta_t, alpha_lo, alpha_up, k):
    _cyclic_checks(name, alpha_lo, alpha_up, k)
    return fn(alpha_lo, alpha_up, _check_period(name, "delta_t", delta_t) * steps_per_epoch, k)
  return build


def _build_cyclic_wr(fn):
  def build(name, base_lr, num_epochs, steps_per_epoch, delta_t, alpha_lo, alpha_up, k,
            period_mult):
    _cyclic_checks(name, alpha_lo, alpha_up, k)
    if isinstance(period_mult, bool) or not isinstance(period_mult, (int, float)) or not (
        math.isfinite(period_mult) and period_mult >= 1):
      _fail(name, "period_mult", period_mult, "must be a Python number >= 1 (cycle growth)")
    return fn(alpha_lo, alpha_up, _check_period(name, "delta_t", delta_t) * steps_per_epoch, k,
              float(period_mult))
  return build


def _build_warmup(kind):
  def build(name, base_lr, num_epochs, steps_per_epoch, delta_t, alpha_lo, then, then_params):
    _rate(name, "alpha_lo", alpha_lo, positive=(kind == "exponential"))
    warmup_steps = int(round(_check_period(name, "delta_t", delta_t) * steps_per_epoch))
    if warmup_steps < 1:
      _fail(name, "delta_t", delta_t, f"gives {warmup_steps} warm-up steps at "
            f"steps_per_epoch={steps_per_epoch}; need >= 1")
    if then not in _FAMILIES and then not in paper.PAPER_NAMES or str(then).startswith("warmup"):
      valid = [n for n in names() if not n.startswith("warmup")]
      _fail(name, "then", then, f"is not a schedule to follow a warm-up; valid choices: {valid}")
    if not isinstance(then_params, Mapping):
      _fail(name, "then_params", then_params, "must be a dict of the parameters of `then`")
    remaining = num_epochs - warmup_steps / steps_per_epoch
    if remaining <= 0:
      _fail(name, "delta_t", delta_t, f"leaves no epochs of the {num_epochs} for {then!r}")
    if then == "constant":
      remaining = int(math.ceil(remaining))  # the constant has no per-epoch structure
    elif then in paper.PAPER_NAMES:
      if abs(remaining - round(remaining)) > 1e-9:
        _fail(name, "delta_t", delta_t, f"must be a whole number of epochs when then={then!r} "
              "(a per-epoch schedule)")
      remaining = int(round(remaining))
    follow = get(then, base_lr, remaining, steps_per_epoch, **dict(then_params))
    return families.warmup(kind, alpha_lo, warmup_steps, follow)
  return build


def _build_one_cycle(name, base_lr, num_epochs, steps_per_epoch, delta_t, alpha_lo, alpha_up, k):
  _rate(name, "alpha_lo", alpha_lo)
  _rate(name, "alpha_up", alpha_up)
  _check_order(name, alpha_lo, alpha_up)
  _check_range(name, "k", k, 0.0, 1.0, what=" (final rate as a fraction of alpha_lo)")
  period = _check_period(name, "delta_t", delta_t)
  if 2 * period > num_epochs:
    _fail(name, "delta_t", delta_t, f"must be <= num_epochs / 2 = {num_epochs / 2:g} (the "
          "cycle goes up and down once within training)")
  return families.one_cycle(alpha_lo, alpha_up, period * steps_per_epoch,
                            num_epochs * steps_per_epoch, k)


_FAMILIES: dict[str, Family] = {
    "step_decay": Family(
        lambda lr, T: dict(delta_t=T / 3, k=0.1), _build_step_decay,
        "alpha0 k^floor(t/D)", "step decay, e.g. He et al. 2016"),
    "exponential": Family(
        lambda lr, T: dict(delta_t=T, k=0.01), _build_exponential,
        "alpha0 k^(t/D)", "exponential decay (tf.train.exponential_decay)"),
    "polynomial": Family(
        lambda lr, T: dict(delta_t=T, alpha_lo=0.0, k=1.0), _build_polynomial,
        "alpha_lo + (alpha0 - alpha_lo)(1 - min(t,D)/D)^k",
        "polynomial decay (tf.train.polynomial_decay, optax.polynomial_schedule)"),
    "inverse_time": Family(
        lambda lr, T: dict(delta_t=T / 10, k=1.0), _build_inverse_time,
        "alpha0 / (1 + k t/D)", "inverse-time decay (tf.train.inverse_time_decay)"),
    "cosine_decay": Family(
        lambda lr, T: dict(delta_t=T, alpha_lo=0.0), _build_cosine_decay,
        "alpha_lo + (alpha0 - alpha_lo)(1 + cos(pi min(t,D)/D))/2",
        "cosine annealing without restarts (Loshchilov & Hutter 2017)"),
    "triangular": Family(
        lambda lr, T: dict(delta_t=T / 10, alpha_lo=lr / 10, alpha_up=lr, k=1.0),
        _build_cyclic(families.triangular),
        "alpha_lo + (alpha_up - alpha_lo) k^floor(x/2) |1 - (x mod 2)|, x = t/D",
        "cyclical learning rates (Smith 2017)"),
    "triangular_wr": Family(
        lambda lr, T: dict(delta_t=T / 10, alpha_lo=lr / 10, alpha_up=lr, k=1.0, period_mult=1.0),
        _build_cyclic_wr(families.triangular_wr),
        "alpha_lo + (alpha_up - alpha_lo) k^c (1 - (t - s_c)/L_c)",
        "cyclical (Smith 2017) with warm restarts (Loshchilov & Hutter 2017)"),
    "cosine_cyclic": Family(
        lambda lr, T: dict(delta_t=T / 10, alpha_lo=lr / 10, alpha_up=lr, k=1.0),
        _build_cyclic(families.cosine_cyclic),
        "alpha_lo + (alpha_up - alpha_lo) k^floor(x/2) (1 + cos(pi x))/2, x = t/D",
        "cosine cyclical (Smith 2017 shape variant)"),
    "cosine_cyclic_wr": Family(
        lambda lr, T: dict(delta_t=T / 10, alpha_lo=lr / 10, alpha_up=lr, k=1.0, period_mult=1.0),
        _build_cyclic_wr(families.cosine_cyclic_wr),
        "alpha_lo + (alpha_up - alpha_lo) k^c (1 + cos(pi (t - s_c)/L_c))/2",
        "SGDR (Loshchilov & Hutter 2017)"),
    "warmup_linear": Family(
        lambda lr, T: dict(delta_t=T / 20, alpha_lo=0.0, then="cosine_decay", then_params={}),
        _build_warmup("linear"),
        "alpha_lo + (then(0) - alpha_lo) t/W for t < W, then(t - W) after",
        "linear warm-up (Goyal et al. 2017)"),
    "warmup_exponential": Family(
        lambda lr, T: dict(delta_t=T / 20, alpha_lo=lr / 100, then="cosine_decay", then_params={}),
        _build_warmup("exponential"),
        "alpha_lo (then(0)/alpha_lo)^(t/W) for t < W, then(t - W) after",
        "exponential (geometric) warm-up"),
    "one_cycle": Family(
        lambda lr, T: dict(delta_t=0.45 * T, alpha_lo=lr / 10, alpha_up=lr, k=0.01),
        _build_one_cycle,
        "alpha_lo -> alpha_up over D, back to alpha_lo over D, then to k alpha_lo at N",
        "super-convergence / 1cycle (Smith & Topin 2018)"),
}

_PAPER_SUMMARY = {
    "constant": ("f(e) = 1", "DeepOBS; Schmidt et al. 2021"),
    "cosine": ("f(e) = (1 + cos(pi e/T))/2 per epoch", "Loshchilov & Hutter 2017; Schmidt et al."),
    "cosine_wr": ("per-epoch SGDR, cycles 10, 20, 40, ... epochs", "Loshchilov & Hutter 2017"),
    "trapezoidal": ("per-epoch warm-up T/10, plateau, decay", "Schmidt et al. 2021"),
}


def paper_names() -> tuple[str, ...]:
  """The paper's four schedules, in its order (its 'none' is our 'constant')."""
  return paper.PAPER_NAMES


def names() -> tuple[str, ...]:
  """Every registered schedule: the paper's four first, then the families."""
  return paper.PAPER_NAMES + tuple(_FAMILIES)


def params(name: str, base_lr: float = 1.0, num_epochs: float = 100) -> dict:
  """The parameters a schedule accepts, with their defaults at this base_lr and num_epochs."""
  if name in paper.PAPER_NAMES:
    return {}
  if name not in _FAMILIES:
    raise ValueError(f"unknown schedule {name!r}; valid choices: {list(names())}")
  return _FAMILIES[name].defaults(base_lr, num_epochs)


def describe(name: str) -> tuple[str, str]:
  """(formula, reference) of a schedule, for tables and plots."""
  if name in _PAPER_SUMMARY:
    return _PAPER_SUMMARY[name]
  if name not in _FAMILIES:
    raise ValueError(f"unknown schedule {name!r}; valid choices: {list(names())}")
  family = _FAMILIES[name]
  return family.summary, family.reference


def get(name: str, base_lr, num_epochs, steps_per_epoch: int, **kwargs) -> Schedule:
  """A jittable `count -> learning rate` schedule (an optax schedule).

  base_lr: the base rate alpha0; a float or a (possibly traced) jax array.
  num_epochs: training length T in epochs (an integer for the paper's per-epoch schedules).
  steps_per_epoch: optimizer steps per epoch; periods (delta_t) are in epochs.
  kwargs: the family's parameters (see `params(name)`); unknown ones are an error.
  """
  if name not in paper.PAPER_NAMES and name not in _FAMILIES:
    raise ValueError(f"unknown schedule {name!r}; valid choices: {list(names())}")
  if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, (int, np.integer)) \
      or steps_per_epoch < 1:
    raise ValueError(f"schedule {name!r}: steps_per_epoch={steps_per_epoch!r} must be an "
                     "integer >= 1")
  if isinstance(num_epochs, bool) or not isinstance(num_epochs, (int, float, np.integer,
                                                                 np.floating)) \
      or not (math.isfinite(num_epochs) and num_epochs > 0):
    raise ValueError(f"schedule {name!r}: num_epochs={num_epochs!r} must be a number > 0")
  _rate(name, "base_lr", base_lr)
  steps_per_epoch = int(steps_per_epoch)
  if name in paper.PAPER_NAMES:
    if kwargs:
      raise ValueError(f"schedule {name!r} (a paper schedule) takes no parameters; got "
                       f"{sorted(kwargs)}; valid parameters: []")
    return paper.per_epoch_schedule(name, base_lr, num_epochs, steps_per_epoch)
  family = _FAMILIES[name]
  settings = family.defaults(base_lr, num_epochs)
  unknown = sorted(set(kwargs) - set(settings))
  if unknown:
    raise ValueError(f"schedule {name!r} got unknown parameter(s) {unknown}; valid parameters: "
                     f"{sorted(settings)}")
  settings.update(kwargs)
  return family.build(name, base_lr, num_epochs, steps_per_epoch, **settings)
