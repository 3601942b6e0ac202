"""Stochastic weight averaging (Izmailov et al., UAI 2018) as an optax wrapper.

The paper's critics noted that the study left out SWA. Training runs the inner optimizer
unchanged; the wrapper keeps the running average of the iterates in its state, and evaluation
uses `swa_params(opt_state)`. Networks with BatchNorm need their running statistics recomputed
for the averaged weights (`recompute_batch_stats`), since the statistics collected along the
trajectory belong to other weights.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from jaxbench.optimizers.spec import Range, check_value

ArrayLike = jax.typing.ArrayLike


class SWAState(NamedTuple):
  count: chex.Array  # int32 number of steps taken
  num_averaged: chex.Array  # int32 number of iterates in the average
  average: optax.Params  # running mean of the averaged iterates (the current iterate before)
  inner_state: optax.OptState


def swa(inner: optax.GradientTransformation, start_step: ArrayLike, every: ArrayLike = 1
        ) -> optax.GradientTransformation:
  """Wraps `inner`, averaging the iterates theta_s for s = start_step, start_step + every, ...

  s counts the updates applied (theta_s is the parameter vector after s steps). The average is
  the equal-weight running mean  avg <- avg + (theta_s - avg) / (n + 1),  n <- n + 1.
  Until the first averaged step, `average` tracks the current iterate, so `swa_params` is always
  the right thing to evaluate. Izmailov et al. average once per epoch (every = steps_per_epoch)
  from about 75% of the budget on, with a constant or cyclical rate. `start_step` and `every`
  may be traced; `update` requires `params`.
  """
  check_value('swa', 'start_step', start_step, Range(0, integer=True))
  check_value('swa', 'every', every, Range(1, integer=True))

  def init_fn(params: optax.Params) -> SWAState:
    return SWAState(count=jnp.zeros([], jnp.int32), num_averaged=jnp.zeros([], jnp.int32),
                    average=jax.tree.map(jnp.asarray, params), inner_state=inner.init(params))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError('swa needs params in update(updates, state, params).')
    updates, inner_state = inner.update(updates, state.inner_state, params)
    count = optax.safe_increment(state.count)
    start = jnp.asarray(start_step).astype(jnp.int32)
    period = jnp.maximum(jnp.asarray(every).astype(jnp.int32), 1)
    average_now = (count >= start) & (((count - start) % period) == 0)
    # Weight of the new iterate: 1/(n+1) when averaging, 1 (track) before the first average.
    n = state.num_averaged
    weight = jnp.where(average_now, 1.0 / (n + 1).astype(jnp.float32),
                       jnp.where(n == 0, 1.0, 0.0))
    new_params = optax.apply_updates(params, updates)
    average = jax.tree.map(lambda a, p: (a + weight * (p - a)).astype(a.dtype),
                           state.average, new_params)
    return updates, SWAState(count=count, num_averaged=n + average_now.astype(jnp.int32),
                             average=average, inner_state=inner_state)

  return optax.GradientTransformation(init_fn, update_fn)


def find_state(opt_state: optax.OptState, state_type: type) -> Any | None:
  """The first node of type `state_type` in a (possibly chained/nested) optimizer state."""
  for node in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, state_type)):
    if isinstance(node, state_type):
      return node
  return None


def swa_params(opt_state: optax.OptState) -> optax.Params:
  """The averaged weights to evaluate (the current iterate before averaging has started)."""
  state = find_state(opt_state, SWAState)
  if state is None:
    raise ValueError('no SWAState in this optimizer state: build the optimizer with swa(...)')
  return state.average


def recompute_batch_stats(apply_train_fn: Callable[[Any, Any], Any], variables: dict,
                          batches: Iterable[Any], *, collection: str = 'batch_stats',
                          momentum: float | None = None) -> dict:
  """BatchNorm statistics for new weights (e.g. SWA's average), as a mean over `batches`.

  `apply_train_fn(variables, batch) -> updated collection` runs one forward pass in training
  mode and returns the new `variables[collection]` (for flax: the `batch_stats` of
  `model.apply(variables, x, train=True, mutable=['batch_stats'])`). The running-average update
  of every statistic s is linear, s_new = m s_old + (1 - m) s_batch, and the forward pass in
  training mode does not read s_old; so the batch statistic is recovered exactly from a pass
  with s_old = 0: s_batch = s_new / (1 - m). If `momentum` m is not given, it is measured with a
  second pass from s_old = 1 (s_new(1) - s_new(0) = m). The result is the equal-weight mean of
  s_batch over the batches (PyTorch's `update_bn` with momentum=None), put in place of
  `variables[collection]`. Pass train-mode batches without augmentation randomness you care
  about; the caller owns jit-compilation of `apply_train_fn`.
  """
  if collection not in variables:
    raise ValueError(f'variables has no collection {collection!r}; it has {sorted(variables)}')
  zeros = jax.tree.map(jnp.zeros_like, variables[collection])
  ones = jax.tree.map(jnp.ones_like, variables[collection])
  with_stats = lambda stats: {**variables, collection: stats}
  total, count = None, 0
  for batch in batches:
    from_zero = apply_train_fn(with_stats(zeros), batch)
    if momentum is None:
      from_one = apply_train_fn(with_stats(ones), batch)
      keep = jax.tree.map(lambda one, zero: one - zero, from_one, from_zero)
    else:
      keep = jax.tree.map(lambda z: jnp.full_like(z, momentum), from_zero)
    batch_stats = jax.tree.map(lambda z, m: z / (1 - m), from_zero, keep)
    total = batch_stats if total is None else jax.tree.map(jnp.add, total, batch_stats)
    count += 1
  if count == 0:
    raise ValueError('recompute_batch_stats needs at least one batch')
  return with_stats(jax.tree.map(lambda t: t / count, total))
