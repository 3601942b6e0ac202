"""Lookahead (Zhang et al., NeurIPS 2019) on a plain parameter pytree, in two forms.

optax.lookahead needs the loop to carry `LookaheadParams(fast, slow)`; here the slow weights live
in the optimizer state instead, so an ordinary loop (`params = optax.apply_updates(params, u)`)
runs it unchanged and the parameters it holds are always the fast weights.

`lookahead` is the textbook algorithm. `lookahead_tf1` is the TensorFlow-1 wrapper whose
trajectories the Crowded Valley records hold (BUILD_NOTES, "optimizers (session 3)"): every k-th
call, counted from the first, is a synchronisation *instead of* a fast step, and the inner
optimizer's per-step `_finish` is never run.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from jaxbench.optimizers.spec import RANGES, check_value

ArrayLike = jax.typing.ArrayLike


class LookaheadState(NamedTuple):
  count: chex.Array  # int32 number of (fast) steps taken
  slow: optax.Params  # the slow weights phi
  inner_state: optax.OptState  # the inner (fast) optimizer's state; kept across syncs


def _init(inner: optax.GradientTransformation):
  """init for both forms: step 0, slow weights phi_0 = theta_0, the inner state."""

  def init_fn(params: optax.Params) -> LookaheadState:
    return LookaheadState(count=jnp.zeros([], jnp.int32),
                          slow=jax.tree.map(jnp.asarray, params),
                          inner_state=inner.init(params))

  return init_fn


def _require_params(params) -> None:
  if params is None:
    raise ValueError('lookahead needs params in update(updates, state, params): the fast '
                     'weights are the loop\'s parameters.')


def _period(k: ArrayLike) -> chex.Array:
  """k rounded to an int32, at least 1 (k may be traced)."""
  return jnp.maximum(jnp.round(jnp.asarray(k)).astype(jnp.int32), 1)


def lookahead(inner: optax.GradientTransformation, alpha: ArrayLike = 0.5, k: ArrayLike = 5
              ) -> optax.GradientTransformation:
  """Wraps `inner` with Lookahead: k fast steps forward, one slow step back.

  With theta the fast weights (the loop's params) and phi the slow weights (phi_0 = theta_0):

      theta' = theta + inner_update(g)                        (every step)
      if (t mod k) == 0, t = steps taken including this one:
          phi <- phi + alpha (theta' - phi);  theta' <- phi    (sync)

  The returned update is theta' - theta, so after a sync the loop's params equal the new slow
  weights (up to one float rounding of theta + (phi - theta)). The inner state (momentum,
  Adam moments, step count) is kept across syncs, as in the paper and tfa.optimizers.Lookahead.
  `alpha` and `k` may be traced (k is rounded to an int32); `update` requires `params`.
  """
  check_value('lookahead', 'alpha', alpha, RANGES['alpha'])
  check_value('lookahead', 'k', k, RANGES['k'])

  def update_fn(updates, state, params=None):
    _require_params(params)
    fast_updates, inner_state = inner.update(updates, state.inner_state, params)
    count = optax.safe_increment(state.count)
    sync = (count % _period(k)) == 0
    fast = optax.apply_updates(params, fast_updates)
    synced_slow = jax.tree.map(lambda s, f: (s + alpha * (f - s)).astype(s.dtype), state.slow, fast)
    slow = jax.tree.map(lambda new, old: jnp.where(sync, new, old).astype(old.dtype),
                        synced_slow, state.slow)
    new_updates = jax.tree.map(
        lambda s, p, u: jnp.where(sync, s - p, u).astype(u.dtype), slow, params, fast_updates)
    return new_updates, LookaheadState(count=count, slow=slow, inner_state=inner_state)

  return optax.GradientTransformation(_init(inner), update_fn)


def lookahead_tf1(direction: optax.GradientTransformation, learning_rate: Any,
                  alpha: ArrayLike = 0.5, k: ArrayLike = 5) -> optax.GradientTransformation:
  """Lookahead as the TF1 `LookaheadOptimizer(fast_optimizer, k, alpha)` wrapper of 2019 runs it.

  That wrapper (a `tf.train.Optimizer` subclass; its `_apply_dense` is
  `tf.cond(step % k == 0, sync, fast_optimizer._apply_dense(grad, var))`, its `_finish` advances
  only its own step, which starts at 0) gives, for calls c = 0, 1, 2, ...:

      c mod k == 0:  phi <- phi + alpha (theta - phi);  theta <- phi   (the gradient is unused and
                                                                        the inner state unchanged)
      otherwise:     theta <- theta - lr(c) * direction(g)              (a fast step)

  with phi_0 = theta_0, so the first call is a no-op sync and each period has k - 1 fast steps.
  Because the inner optimizer's `_finish` never runs, its non-slot accumulators (Adam's beta
  powers, RAdam's step) stay at their initial values: pass an inner `direction` built that way
  (transforms.scale_by_radam(pinned_step=True) for RAdam; TF1 momentum has none).

  `direction` is the inner update without the learning rate; `learning_rate` (a float, traced
  array or schedule) is applied here with this wrapper's call count c, so a schedule follows the
  global step as the DeepOBS runner's did, sync calls included. alpha and k may be traced.
  """
  check_value('lookahead', 'alpha', alpha, RANGES['alpha'])
  check_value('lookahead', 'k', k, RANGES['k'])

  def update_fn(updates, state, params=None):
    _require_params(params)
    sync = (state.count % _period(k)) == 0
    steps, inner_state = direction.update(updates, state.inner_state, params)
    rate = learning_rate(state.count) if callable(learning_rate) else learning_rate
    slow = jax.tree.map(
        lambda s, p: jnp.where(sync, s + alpha * (p - s), s).astype(s.dtype), state.slow, params)
    new_updates = jax.tree.map(
        lambda s, p, d: jnp.where(sync, s - p, -rate * d).astype(d.dtype), slow, params, steps)
    inner_state = jax.tree.map(lambda old, new: jnp.where(sync, old, new), state.inner_state,
                               inner_state)
    return new_updates, LookaheadState(count=optax.safe_increment(state.count), slow=slow,
                                       inner_state=inner_state)

  return optax.GradientTransformation(_init(direction), update_fn)


def slow_params(opt_state: optax.OptState) -> optax.Params:
  """The slow weights of the first LookaheadState found in `opt_state`."""
  for node in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, LookaheadState)):
    if isinstance(node, LookaheadState):
      return node.slow
  raise ValueError('no LookaheadState in this optimizer state')
