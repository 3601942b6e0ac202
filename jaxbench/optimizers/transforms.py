"""Small gradient transformations that optax does not ship in the form the paper ran.

Each factory returns an `optax.GradientTransformation` whose state is a `NamedTuple`; the public
optimizers (`paper.py`) chain them with `optax.scale_by_learning_rate`. Every numeric argument may
be a traced array: no Python control flow depends on a hyperparameter value, so the state's
structure, shapes and dtypes never depend on it.

The transforms return the *descent direction scaled by everything except the learning rate*
(positive sign); `scale_by_learning_rate` multiplies by -lr (or -schedule(count)).
"""
from __future__ import annotations

from typing import NamedTuple

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
