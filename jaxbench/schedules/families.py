"""The schedule families of SPEC section 4 as smooth per-step functions.

Every builder returns a jittable `count -> learning rate` closure (the optax schedule shape).
Conventions, the same for every family:
- t is the optimizer step (`count`), as float32; a period `delta_t` is given in EPOCHS and
  converted to D = delta_t * steps_per_epoch steps, so a setting means the same thing on every
  problem whatever its batch size; N = num_epochs * steps_per_epoch is the training length.
- alpha0 is `base_lr`. alpha_lo and alpha_up are ABSOLUTE learning rates when given; when
  omitted they default to multiples of base_lr (each Family.defaults in registry.py), so the
  schedule's shape scales with a tuned (possibly traced) base rate.
- Rates and k may be traced arrays (vmap over base_lr works); periods are Python numbers
  because they fix the program's structure.
"""
from __future__ import annotations

import math
from typing import Callable

import jax.numpy as jnp

Schedule = Callable[[object], object]


def _steps(count) -> jnp.ndarray:
  return jnp.asarray(count, dtype=jnp.float32)


def _index_steps(t: jnp.ndarray) -> jnp.ndarray:
  """t nudged up by a relative 1e-6, used only to count periods (floor of t / D).

  At an exact boundary t = c D the float32 ratio may round just below c when D is not an
  integer number of steps (delta_t = T / 3, say), and jit may round differently from eager
  code. The slack counts such boundaries as reached; it moves a boundary by at most 1e-6 t
  steps, less than one step for runs shorter than a million steps.
  """
  return t * (1.0 + 1e-6) + 1e-6


def constant(base_lr) -> Schedule:
  """alpha(t) = alpha0."""
  def schedule(count):
    return base_lr * jnp.ones_like(_steps(count))
  return schedule


def step_decay(base_lr, period: float, k) -> Schedule:
  """alpha(t) = alpha0 * k^floor(t / D): multiply by k every delta_t epochs."""
  def schedule(count):
    return base_lr * jnp.power(k, jnp.floor(_index_steps(_steps(count)) / period))
  return schedule


def exponential(base_lr, period: float, k) -> Schedule:
  """alpha(t) = alpha0 * k^(t / D): smooth step decay, factor k per delta_t epochs."""
  def schedule(count):
    return base_lr * jnp.power(k, _steps(count) / period)
  return schedule


def polynomial(base_lr, alpha_lo, period: float, k) -> Schedule:
  """alpha(t) = alpha_lo + (alpha0 - alpha_lo) (1 - min(t, D) / D)^k (k = 1: linear decay)."""
  def schedule(count):
    frac = jnp.minimum(_steps(count), period) / period
    return alpha_lo + (base_lr - alpha_lo) * jnp.power(1.0 - frac, k)
  return schedule


def inverse_time(base_lr, period: float, k) -> Schedule:
  """alpha(t) = alpha0 / (1 + k t / D)."""
  def schedule(count):
    return base_lr / (1.0 + k * _steps(count) / period)
  return schedule


def cosine_decay(base_lr, alpha_lo, period: float) -> Schedule:
  """alpha(t) = alpha_lo + (alpha0 - alpha_lo) (1 + cos(pi min(t, D) / D)) / 2."""
  def schedule(count):
    frac = jnp.minimum(_steps(count), period) / period
    return alpha_lo + (base_lr - alpha_lo) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
  return schedule


def triangular(alpha_lo, alpha_up, period: float, k) -> Schedule:
  """Triangle wave: alpha_up at t = 0, alpha_lo at t = D, alpha_up at 2D, ... (no restarts).

  alpha(t) = alpha_lo + (alpha_up - alpha_lo) k^floor(x / 2) |1 - (x mod 2)|, x = t / D.
  Smith's CLR (2017) with the phase shifted by one half-period so that every family starts
  at its top rate; k < 1 shrinks the amplitude once per full cycle (k = 0.5: 'triangular2').
  """
  def schedule(count):
    t = _steps(count)
    x = t / period
    shape = jnp.abs(1.0 - jnp.mod(x, 2.0))
    cycle = jnp.floor(_index_steps(t) / (2.0 * period))
    return alpha_lo + (alpha_up - alpha_lo) * jnp.power(k, cycle) * shape
  return schedule


def cosine_cyclic(alpha_lo, alpha_up, period: float, k) -> Schedule:
  """Cosine wave between alpha_up (t = 0, 2D, ...) and alpha_lo (t = D, 3D, ...).

  alpha(t) = alpha_lo + (alpha_up - alpha_lo) k^floor(x / 2) (1 + cos(pi x)) / 2, x = t / D.
  """
  def schedule(count):
    t = _steps(count)
    shape = 0.5 * (1.0 + jnp.cos(jnp.pi * t / period))
    cycle = jnp.floor(_index_steps(t) / (2.0 * period))
    return alpha_lo + (alpha_up - alpha_lo) * jnp.power(k, cycle) * shape
  return schedule


def _restart_cycle(t: jnp.ndarray, period: float, period_mult: float):
  """(cycle index c, start of cycle, length of cycle) for cycles D, D m, D m^2, ..."""
  ts = _index_steps(t)
  if period_mult == 1.0:
    c = jnp.floor(ts / period)
    return c, c * period, jnp.full_like(t, period)
  m = period_mult
  c = jnp.floor(jnp.log1p(ts * (m - 1.0) / period) / math.log(m))

  def start(c):
    return period * (jnp.power(m, c) - 1.0) / (m - 1.0)

  # The log can land a hair off an integer at a restart: fix the index against the starts.
  c = jnp.where(ts < start(c), c - 1.0, c)
  c = jnp.where(ts >= start(c + 1.0), c + 1.0, c)
  return c, start(c), period * jnp.power(m, c)


def triangular_wr(alpha_lo, alpha_up, period: float, k, period_mult: float) -> Schedule:
  """Sawtooth with warm restarts: linear from alpha_up k^c down to alpha_lo over cycle c.

  Cycle c lasts D m^c steps (m = period_mult; m = 1: every cycle lasts delta_t epochs).
  """
  def schedule(count):
    t = _steps(count)
    c, start, length = _restart_cycle(t, period, period_mult)
    frac = jnp.clip((t - start) / length, 0.0, 1.0)
    return alpha_lo + (alpha_up - alpha_lo) * jnp.power(k, c) * (1.0 - frac)
  return schedule


def cosine_cyclic_wr(alpha_lo, alpha_up, period: float, k, period_mult: float) -> Schedule:
  """SGDR (Loshchilov & Hutter 2017) per step: cosine from alpha_up k^c to alpha_lo in cycle c.

  alpha(t) = alpha_lo + (alpha_up - alpha_lo) k^c (1 + cos(pi (t - s_c) / L_c)) / 2,
  L_c = D m^c, s_c = D (m^c - 1) / (m - 1). delta_t = 10, m = 2, alpha_lo = 0 is the smooth
  version of the paper's 'cosine_wr'.
  """
  def schedule(count):
    t = _steps(count)
    c, start, length = _restart_cycle(t, period, period_mult)
    frac = jnp.clip((t - start) / length, 0.0, 1.0)
    shape = 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
    return alpha_lo + (alpha_up - alpha_lo) * jnp.power(k, c) * shape
  return schedule


def warmup(kind: str, alpha_lo, warmup_steps: int, then: Schedule) -> Schedule:
  """Ramp from alpha_lo to then(0) over warmup_steps steps, then follow `then` shifted.

  linear:      alpha(t) = alpha_lo + (then(0) - alpha_lo) t / W        for t < W
  exponential: alpha(t) = alpha_lo (then(0) / alpha_lo)^(t / W)          for t < W
  after:       alpha(t) = then(t - W), where `then` was built for the remaining epochs.
  """
  def schedule(count):
    count = jnp.asarray(count)
    t = count.astype(jnp.float32)
    target = then(jnp.zeros_like(count))
    frac = jnp.minimum(t, warmup_steps) / warmup_steps
    if kind == "linear":
      ramp = alpha_lo + (target - alpha_lo) * frac
    else:
      ramp = alpha_lo * jnp.power(target / alpha_lo, frac)
    after = then(jnp.maximum(count - warmup_steps, 0))
    return jnp.where(t < warmup_steps, ramp, after)
  return schedule


def one_cycle(alpha_lo, alpha_up, period: float, total: float, k) -> Schedule:
  """One-cycle (Smith & Topin 2018), three linear phases.

  [0, D): alpha_lo -> alpha_up; [D, 2D): alpha_up -> alpha_lo; [2D, N]: alpha_lo -> k alpha_lo
  (annihilation below alpha_lo); constant k alpha_lo after N.
  """
  tail = max(total - 2.0 * period, 1.0)

  def schedule(count):
    t = _steps(count)
    up = alpha_lo + (alpha_up - alpha_lo) * t / period
    down = alpha_up - (alpha_up - alpha_lo) * (t - period) / period
    frac = jnp.clip((t - 2.0 * period) / tail, 0.0, 1.0)
    final = alpha_lo * (1.0 - (1.0 - k) * frac)
    return jnp.where(t < period, up, jnp.where(t < 2.0 * period, down, final))
  return schedule
