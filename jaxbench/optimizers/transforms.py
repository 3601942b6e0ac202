"""Small gradient transformations that optax does not ship in the form the paper ran.

Each factory returns an `optax.GradientTransformation` whose state is a `NamedTuple`; the public
optimizers (`paper.py`) chain them with `optax.scale_by_learning_rate`. Every numeric argument may
be a traced array: no Python control flow depends on a hyperparameter value, so the state's
structure, shapes and dtypes never depend on it.

The transforms return the *descent direction scaled by everything except the learning rate*
(positive sign); `scale_by_learning_rate` multiplies by -lr (or -schedule(count)).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

ArrayLike = jax.typing.ArrayLike


def _increment(count: chex.Array) -> chex.Array:
  """count + 1, saturating at int32 max (as optax.safe_increment)."""
  return optax.safe_increment(count)


def _ema(new: optax.Params, old: optax.Params, decay: ArrayLike, order: int) -> optax.Params:
  """decay * old + (1 - decay) * new**order, leaf by leaf, in the dtype of `old` (a traced
  float32 decay must not promote a bfloat16 state)."""
  return jax.tree.map(lambda g, t: (decay * t + (1 - decay) * g**order).astype(t.dtype), new, old)


def _power(base: ArrayLike, count: chex.Array) -> chex.Array:
  """base**count in float32 (count is the int32 step number)."""
  return jnp.asarray(base, jnp.float32) ** count.astype(jnp.float32)


# ---------------------------------------------------------------------------------------------
# Adam / AMSGrad, TensorFlow-1 form.
# ---------------------------------------------------------------------------------------------


class ScaleByAdamTF1State(NamedTuple):
  count: chex.Array  # int32 number of steps taken
  mu: optax.Updates  # first moment m (not bias-corrected)
  nu: optax.Updates  # second moment v (not bias-corrected)
  nu_max: optax.Updates  # running max of v (AMSGrad); an empty tuple for Adam


def scale_by_adam_tf1(b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-8, *,
                      amsgrad: bool = False, nesterov: bool = False
                      ) -> optax.GradientTransformation:
  """Adam as `tf.compat.v1.train.AdamOptimizer` computes it (epsilon outside, un-corrected v).

      m_t = b1 m + (1 - b1) g;   v_t = b2 v + (1 - b2) g^2
      c_t = sqrt(1 - b2^t) / (1 - b1^t)
      direction = c_t m_t / (sqrt(v_t) + eps)          (theta -= lr * direction)

  i.e. TF1's lr_t = lr c_t. This equals optax's m_hat / (sqrt(v_hat) + eps) with eps replaced by
  eps / sqrt(1 - b2^t): the two forms differ early in training when eps is not tiny.
  `amsgrad=True` replaces v_t in the denominator by v_max = max(v_max, v_t) (the raw,
  un-bias-corrected v, as the TF/Keras AMSGrad implementations do). `nesterov=True` is
  tf.contrib.opt.NadamOptimizer: m_t is replaced by b1 m_t + (1 - b1) g in the numerator.
  """

  def init_fn(params: optax.Params) -> ScaleByAdamTF1State:
    zeros = lambda: jax.tree.map(jnp.zeros_like, params)
    return ScaleByAdamTF1State(count=jnp.zeros([], jnp.int32), mu=zeros(), nu=zeros(),
                               nu_max=zeros() if amsgrad else ())

  def update_fn(updates, state, params=None):
    del params
    count = _increment(state.count)
    mu = _ema(updates, state.mu, b1, 1)
    nu = _ema(updates, state.nu, b2, 2)
    nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if amsgrad else ()
    correction = jnp.sqrt(1 - _power(b2, count)) / (1 - _power(b1, count))
    numerator = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, mu, updates) if nesterov else mu
    denominator = nu_max if amsgrad else nu
    direction = jax.tree.map(
        lambda m, v: (correction * m / (jnp.sqrt(v) + eps)).astype(m.dtype),
        numerator, denominator)
    return direction, ScaleByAdamTF1State(count=count, mu=mu, nu=nu, nu_max=nu_max)

  return optax.GradientTransformation(init_fn, update_fn)


# ---------------------------------------------------------------------------------------------
# NAdam with Dozat's momentum schedule (Keras / PyTorch form).
# ---------------------------------------------------------------------------------------------


class ScaleByNadamState(NamedTuple):
  count: chex.Array  # int32 number of steps taken
  mu: optax.Updates
  nu: optax.Updates
  mu_product: chex.Array  # float32 prod_{i<=t} mu_i (Keras' m_schedule), starts at 1


def scale_by_nadam_dozat(b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-7,
                         momentum_decay: ArrayLike = 0.004) -> optax.GradientTransformation:
  """NAdam (Dozat 2016) with the warming momentum schedule, as tf.keras.optimizers.Nadam
  (TF 2.x) and torch.optim.NAdam compute it.

      mu_t = b1 (1 - 0.5 * 0.96^(psi t)),  mu_{t+1} = b1 (1 - 0.5 * 0.96^(psi (t+1)))
      P_t = P_{t-1} mu_t   (P_0 = 1)
      m_t = b1 m + (1 - b1) g;   v_t = b2 v + (1 - b2) g^2;   v_hat = v_t / (1 - b2^t)
      direction = [(1 - mu_t) g / (1 - P_t) + mu_{t+1} m_t / (1 - P_t mu_{t+1})]
                  / (sqrt(v_hat) + eps)

  psi = `momentum_decay` (Keras' schedule_decay, default 0.004).
  """

  def init_fn(params: optax.Params) -> ScaleByNadamState:
    return ScaleByNadamState(count=jnp.zeros([], jnp.int32),
                             mu=jax.tree.map(jnp.zeros_like, params),
                             nu=jax.tree.map(jnp.zeros_like, params),
                             mu_product=jnp.ones([], jnp.float32))

  def update_fn(updates, state, params=None):
    del params
    count = _increment(state.count)
    step = count.astype(jnp.float32)
    mu_t = b1 * (1 - 0.5 * 0.96**(momentum_decay * step))
    mu_next = b1 * (1 - 0.5 * 0.96**(momentum_decay * (step + 1)))
    mu_product = (state.mu_product * mu_t).astype(jnp.float32)
    mu_product_next = mu_product * mu_next
    mu = _ema(updates, state.mu, b1, 1)
    nu = _ema(updates, state.nu, b2, 2)
    nu_correction = 1 - _power(b2, count)
    direction = jax.tree.map(
        lambda g, m, v: (((1 - mu_t) * g / (1 - mu_product) + mu_next * m / (1 - mu_product_next))
                         / (jnp.sqrt(v / nu_correction) + eps)).astype(g.dtype),
        updates, mu, nu)
    return direction, ScaleByNadamState(count=count, mu=mu, nu=nu, mu_product=mu_product)

  return optax.GradientTransformation(init_fn, update_fn)


# ---------------------------------------------------------------------------------------------
# AdaBound / AMSBound (Luo et al., ICLR 2019).
# ---------------------------------------------------------------------------------------------


class ScaleByAdaBoundState(NamedTuple):
  count: chex.Array  # int32 number of steps taken
  mu: optax.Updates
  nu: optax.Updates
  nu_max: optax.Updates  # running max of v (AMSBound); an empty tuple for AdaBound


def scale_by_adabound(base_learning_rate: ArrayLike, b1: ArrayLike = 0.9, b2: ArrayLike = 0.999,
                      eps: ArrayLike = 1e-8, final_lr: ArrayLike = 0.1, gamma: ArrayLike = 1e-3,
                      *, amsbound: bool = False) -> optax.GradientTransformation:
  """AdaBound's direction, to be multiplied by the (scheduled) learning rate lr.

  The reference implementation (Luo et al.; PyTorch and TF ports alike) computes, at step t,

      m_t, v_t as Adam;  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
      final = final_lr * lr / lr_0          (lr_0 = the base rate: the bounds follow the schedule)
      lower = final (1 - 1 / (gamma t + 1));  upper = final (1 + 1 / (gamma t))
      theta -= clip(lr_t / (sqrt(v_t) + eps), lower, upper) * m_t

  Since every term of the clip is proportional to lr, this equals
      theta -= lr * clip(c_t / (sqrt(v_t) + eps), lower / lr, upper / lr) * m_t
  with lower / lr = final_lr / lr_0 (1 - 1 / (gamma t + 1)), which no longer depends on the
  current rate; so this transform needs only lr_0 (`base_learning_rate`) and chains with
  `scale_by_learning_rate(schedule)` like every other optimizer here. AMSBound uses
  v_max = max(v_max, v_t) in the denominator.
  """

  def init_fn(params: optax.Params) -> ScaleByAdaBoundState:
    zeros = lambda: jax.tree.map(jnp.zeros_like, params)
    return ScaleByAdaBoundState(count=jnp.zeros([], jnp.int32), mu=zeros(), nu=zeros(),
                                nu_max=zeros() if amsbound else ())

  def update_fn(updates, state, params=None):
    del params
    count = _increment(state.count)
    step = count.astype(jnp.float32)
    mu = _ema(updates, state.mu, b1, 1)
    nu = _ema(updates, state.nu, b2, 2)
    nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if amsbound else ()
    correction = jnp.sqrt(1 - _power(b2, count)) / (1 - _power(b1, count))
    final_ratio = final_lr / base_learning_rate
    lower = final_ratio * (1 - 1 / (gamma * step + 1))
    upper = final_ratio * (1 + 1 / (gamma * step))
    denominator = nu_max if amsbound else nu
    direction = jax.tree.map(
        lambda m, v: (jnp.clip(correction / (jnp.sqrt(v) + eps), lower, upper) * m).astype(m.dtype),
        mu, denominator)
    return direction, ScaleByAdaBoundState(count=count, mu=mu, nu=nu, nu_max=nu_max)

  return optax.GradientTransformation(init_fn, update_fn)


# ---------------------------------------------------------------------------------------------
# RAdam and AdaBelief with the RAdam rectification, constants in float32.
# ---------------------------------------------------------------------------------------------


def _sma(b2: ArrayLike, count: chex.Array) -> tuple[chex.Array, chex.Array]:
  """(rho_inf, rho_t) of Liu et al. in float32.

  b2 is cast to float32 first, whether it is a Python float or a traced array: optax computes
  rho_inf in float64 for a concrete b2 and in float32 for a traced one (0.999 and float32(0.999)
  give rho_inf 1999 and 1999.03), so its concrete and traced builds drift apart by ~1e-4. Here
  both take the float32 value, which is also what the engine's traced per-run arrays hold.
  """
  b2 = jnp.asarray(b2, jnp.float32)
  rho_inf = 2.0 / (1.0 - b2) - 1.0
  b2_power = _power(b2, count)
  step = count.astype(jnp.float32)
  return rho_inf, rho_inf - 2.0 * step * b2_power / (1.0 - b2_power)


def _rectifier(rho_inf: chex.Array, rho: chex.Array) -> chex.Array:
  """r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)); 0 where rho_t <= 4
  (where it is never used: the threshold is >= 4), so no NaN is ever computed."""
  ratio = (rho - 4.0) * (rho - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho)
  return jnp.sqrt(jnp.maximum(ratio, 0.0))


def _rectified_direction(mu: optax.Params, nu: optax.Params, b1: ArrayLike, b2: ArrayLike,
                         eps: ArrayLike, step: chex.Array, rectifier: Any, adapted: Any
                         ) -> optax.Params:
  """Per leaf: m_hat = m / (1-b1^t); r_t m_hat / (sqrt(v / (1-b2^t)) + eps) where `adapted`,
  else m_hat (the RAdam / AdaBelief rule; rectifier 1.0 and adapted True give the plain one)."""
  mu_correction = 1 - _power(b1, step)
  nu_correction = 1 - _power(b2, step)

  def direction(m, v):
    m_hat = m / mu_correction
    scaled = rectifier * m_hat / (jnp.sqrt(v / nu_correction) + eps)
    return jnp.where(adapted, scaled, m_hat).astype(m.dtype)

  return jax.tree.map(direction, mu, nu)


def scale_by_radam(b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-7,
                   threshold: ArrayLike = 5.0, *, pinned_step: bool = False
                   ) -> optax.GradientTransformation:
  """Rectified Adam (Liu et al. 2020), optax.scale_by_radam's update with float32 constants:

      m_hat = m / (1-b1^t);  v_hat = v / (1-b2^t)
      direction = r_t m_hat / (sqrt(v_hat) + eps)   if rho_t >= threshold
                  m_hat                             otherwise (un-adapted momentum)

  `pinned_step=True` computes every step as step t = 1 (rho_1 = 1, so always m / (1 - b1)):
  what a TF1 RAdam does when a wrapper calls its per-variable update but never its `_finish`,
  which is where the step and the beta powers advance (see lookahead.lookahead_tf1). The state
  is optax's ScaleByAdamState(count, mu, nu); its count still counts the steps taken.
  """

  def init_fn(params: optax.Params) -> optax.ScaleByAdamState:
    return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                                  mu=jax.tree.map(jnp.zeros_like, params),
                                  nu=jax.tree.map(jnp.zeros_like, params))

  def update_fn(updates, state, params=None):
    del params
    count = _increment(state.count)
    step = jnp.ones_like(count) if pinned_step else count
    mu = _ema(updates, state.mu, b1, 1)
    nu = _ema(updates, state.nu, b2, 2)
    rho_inf, rho = _sma(b2, step)
    directions = _rectified_direction(mu, nu, b1, b2, eps, step, _rectifier(rho_inf, rho),
                                      rho >= threshold)
    return directions, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


def scale_by_adabelief(b1: ArrayLike = 0.9, b2: ArrayLike = 0.999, eps: ArrayLike = 1e-14,
                       threshold: ArrayLike = 5.0, *, rectify: bool = True
                       ) -> optax.GradientTransformation:
  """AdaBelief as the authors' TensorFlow package computes it (adabelief_tf 0.2.x,
  `AdaBeliefOptimizer._resource_apply_dense`; defaults rectify=True, sma_threshold=5.0):

      m = b1 m + (1-b1) g;          m_hat = m / (1-b1^t)
      s = b2 s + (1-b2) (g - m)^2 + eps        (eps added to s itself, every step; m is the new m)
      s_hat = sqrt(s / (1-b2^t))
      rectify=True:  direction = r_t m_hat / (s_hat + eps)   if rho_t >= threshold
                                 m_hat                       otherwise (un-adapted momentum)
      rectify=False: direction = m_hat / (s_hat + eps)       (= optax.scale_by_belief with
                                                                eps_root = eps)
  with RAdam's rho_inf = 2/(1-b2) - 1, rho_t = rho_inf - 2 t b2^t / (1-b2^t) and r_t (see
  _rectifier); with b2 = 0.999 the first five steps are un-adapted. The state is optax's
  ScaleByBeliefState(count, mu, nu).
  """

  def init_fn(params: optax.Params) -> optax.ScaleByBeliefState:
    return optax.ScaleByBeliefState(count=jnp.zeros([], jnp.int32),
                                    mu=jax.tree.map(jnp.zeros_like, params),
                                    nu=jax.tree.map(jnp.zeros_like, params))

  def update_fn(updates, state, params=None):
    del params
    count = _increment(state.count)
    mu = _ema(updates, state.mu, b1, 1)
    prediction_error = jax.tree.map(lambda g, m: g - m, updates, mu)
    nu = jax.tree.map(lambda e, s: (b2 * s + (1 - b2) * e**2 + eps).astype(s.dtype),
                      prediction_error, state.nu)
    rho_inf, rho = _sma(b2, count)
    rectifier = _rectifier(rho_inf, rho) if rectify else 1.0
    adapted = (rho >= threshold) if rectify else True
    directions = _rectified_direction(mu, nu, b1, b2, eps, count, rectifier, adapted)
    return directions, optax.ScaleByBeliefState(count=count, mu=mu, nu=nu)

  return optax.GradientTransformation(init_fn, update_fn)


# ---------------------------------------------------------------------------------------------
# A step counter (so that no optimizer's state is empty).
# ---------------------------------------------------------------------------------------------


class CountState(NamedTuple):
  count: chex.Array  # int32 number of steps taken


def count_steps() -> optax.GradientTransformation:
  """Passes the updates through and counts the steps. Plain SGD's state would otherwise be an
  empty tuple, which orbax refuses to save on its own ("Found empty item")."""

  def init_fn(params: optax.Params) -> CountState:
    del params
    return CountState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    del params
    return updates, CountState(count=_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)
