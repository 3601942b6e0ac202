"""Single-run evaluation over a whole split, one batch at a time (pure, jittable, vmappable).

Every example of a split counts exactly once: the last batch is padded (rows repeat the last
example) and masked, so a split of 1,001 examples with batch 100 is 11 batches whose masked sums
divide by 1,001. The engine vmaps or loops these functions over runs and fuses batches like it
fuses training steps.

Eval mode: `apply(..., train=False, rng=eval_key)` with a fixed per-run key (the same every epoch,
so evaluation is deterministic) and the inputs preprocessed with train=False. The model state
starts from `problem.reset_state(model_state)` and is carried from batch to batch in order; for
BatchNorm models eval mode returns it unchanged, for the char-RNN this carries the LSTM state
along the ordered batches, as char-rnn evaluation does.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxbench.data import batching
from jaxbench.problems.base import Problem

PyTree = Any


class EvalCarry(NamedTuple):
  """Running sums of one run over one split."""
  loss_sum: jax.Array      # scalar: sum of per-example losses over the examples seen so far
  correct_sum: jax.Array   # scalar: sum of per-example correctness (0 without accuracy)
  model_state: dict        # carried in order through the split (char-RNN LSTM state)


def start(problem: Problem, model_state: dict) -> EvalCarry:
  zero = jnp.zeros((), jnp.float32)
  return EvalCarry(zero, zero, problem.reset_state(model_state))


def batch(problem: Problem, carry: EvalCarry, params: PyTree, eval_key: jax.Array,
          inputs: jax.Array, targets: jax.Array, index: jax.Array, batch_size: int
          ) -> EvalCarry:
  """Add evaluation batch `index` (traced) of the split (inputs, targets) to the sums."""
  split_size = inputs.shape[0]
  rows, mask = batching.eval_batch_indices(split_size, batch_size, index)
  x = problem.preprocess(jnp.take(inputs, rows, axis=0), eval_key, False)
  y = jnp.take(targets, rows, axis=0)
  out = problem.apply({'params': params, **carry.model_state}, x, y, train=False, rng=eval_key)
  real = mask > 0
  # where, not multiply: a padded row with a non-finite loss must not poison the sum.
  loss_sum = carry.loss_sum + jnp.sum(jnp.where(real, out.loss, 0.0))
  correct_sum = carry.correct_sum
  if out.correct is not None:
    correct_sum = correct_sum + jnp.sum(jnp.where(real, out.correct, 0.0))
  return EvalCarry(loss_sum, correct_sum, out.model_state)
