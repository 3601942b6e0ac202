"""The engine's pure single-run functions: keys, init, one training step, evaluation batches.

Everything here describes ONE run and knows nothing of the other runs, of devices or of
dispatch; the executor (executor.py) maps these functions over the runs of a batch (vmap or a
loop, sharded or not, k steps fused per dispatch). So a run gives the same numbers alone or
inside any batch, up to XLA's reduction order (BUILD_NOTES.md, "engine (session 3)").

Keys and seeds: run r's key is PRNGKey(seeds[r]), split into (init, data, dropout, eval) keys.
Initialisation uses the init key; epoch e's data order is `epoch_permutation(data_key, e, N)`;
the training step with global step number g (0-based, counted over all epochs) uses
fold_in(dropout_key, g), split into (augmentation key, apply rng); evaluation batch b of a split
uses fold_in(eval_key, b) (the same every epoch, so evaluation is deterministic, and every batch
draws its own noise: the VAE's latent samples).

Divergence: a step whose training objective is non-finite, or whose NEW parameters, optimizer
state or model state hold a non-finite value, freezes its run: everything keeps the values it
had before that step, `diverged` becomes True and `diverged_epoch` the training epoch of that
step. The step logs its own loss; later steps log NaN. A mask, never Python control flow.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxbench.data import batching
from jaxbench.problems.base import Problem

PyTree = Any
OptimizerBuilder = Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]
EvalParams = Callable[[PyTree, PyTree], PyTree]   # (opt_state, params) -> params to evaluate


class TrainState(NamedTuple):
  """Everything that evolves (for a batch: every leaf with a leading run axis R).

  A plain pytree of arrays (raw uint32 keys), so it checkpoints with orbax as is.
  """
  params: PyTree
  model_state: dict          # non-'params' flax collections (BatchNorm stats, LSTM carry)
  opt_state: PyTree
  hyperparams: dict          # name -> [R]; traced inputs of the optimizer and schedule
  step: jax.Array            # [R] int32, global training steps taken (counts frozen runs too)
  data_key: jax.Array        # [R, 2] uint32
  dropout_key: jax.Array     # [R, 2] uint32
  eval_key: jax.Array        # [R, 2] uint32
  diverged: jax.Array        # [R] bool
  diverged_epoch: jax.Array  # [R] int32, training epoch of the non-finite step, -1 if none


class EvalCarry(NamedTuple):
  """Running sums of one run over one split."""
  loss_sum: jax.Array      # scalar: sum of per-example losses over the examples seen so far
  correct_sum: jax.Array   # scalar: sum of per-example correctness (0 without accuracy)
  model_state: dict        # carried in order through the split (char-RNN LSTM state)


def run_keys(seed: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """(init, data, dropout, eval) keys of the run with this seed."""
  init_key, data_key, dropout_key, eval_key = jax.random.split(jax.random.PRNGKey(seed), 4)
  return init_key, data_key, dropout_key, eval_key


def all_finite(tree: PyTree) -> jax.Array:
  """True iff every floating-point leaf of `tree` is finite (integer leaves always are)."""
  checks = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
  return jnp.all(jnp.stack(checks)) if checks else jnp.asarray(True)


def _where_tree(condition: jax.Array, old: PyTree, new: PyTree) -> PyTree:
  return jax.tree.map(lambda o, n: jnp.where(condition, o, n), old, new)


@dataclasses.dataclass(frozen=True)
class RunKernels:
  """The single-run functions of one (problem, optimizer, dataset layout).

  build_optimizer: hyperparams (traced) -> optimizer, called inside traced code.
  eval_params: (opt_state, params) -> the parameters evaluation sees (SWA's average, the
    schedule-free x, or params).
  """
  problem: Problem
  build_optimizer: OptimizerBuilder
  eval_params: EvalParams
  batch_size: int
  eval_batch_size: int
  train_size: int
  shuffle: bool
  steps_per_epoch: int
  log_interval: int

  # -- training ---------------------------------------------------------------------------

  def init(self, seed: jax.Array, hyperparams: Mapping[str, jax.Array]) -> TrainState:
    init_key, data_key, dropout_key, eval_key = run_keys(seed)
    variables = dict(self.problem.init(init_key))
    params = variables.pop('params')
    opt_state = self.build_optimizer(hyperparams).init(params)
    return TrainState(params=params, model_state=variables, opt_state=opt_state,
                      hyperparams=dict(hyperparams), step=jnp.zeros((), jnp.int32),
                      data_key=data_key, dropout_key=dropout_key, eval_key=eval_key,
                      diverged=jnp.zeros((), bool), diverged_epoch=jnp.full((), -1, jnp.int32))

  def reset(self, model_state: dict) -> dict:
    """problem.reset_state at the start of every epoch (the char-RNN's LSTM carry)."""
    return self.problem.reset_state(model_state)

  def order(self, data_key: jax.Array, epoch: jax.Array) -> jax.Array:
    """The epoch's order of the training examples."""
    if not self.shuffle:
      return jnp.arange(self.train_size, dtype=jnp.int32)
    return batching.epoch_permutation(data_key, epoch, self.train_size).astype(jnp.int32)

  def step(self, state: TrainState, order: jax.Array, inputs: jax.Array, targets: jax.Array,
           epoch: jax.Array, index: jax.Array) -> tuple[TrainState, jax.Array]:
    """One training step on batch `index` of the epoch order: (new state, logged loss)."""
    problem = self.problem
    rows = batching.train_batch_indices(order, index, self.batch_size)
    step_key = jax.random.fold_in(state.dropout_key, state.step)
    augment_key, apply_key = jax.random.split(step_key)
    x = problem.preprocess(jnp.take(inputs, rows, axis=0), augment_key, True)
    y = jnp.take(targets, rows, axis=0)
    optimizer = self.build_optimizer(state.hyperparams)

    def objective(params):
      out = problem.apply({'params': params, **state.model_state}, x, y, train=True,
                          rng=apply_key)
      return jnp.mean(out.loss) + problem.regularizer(params), out.model_state

    (loss, model_state), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    # The new values are checked too: an update that overflows the parameters with a finite
    # loss must freeze the run at THIS step (and mark it diverged even on the last step).
    now_bad = ~(jnp.isfinite(loss) & all_finite((params, opt_state, model_state)))
    frozen = state.diverged | now_bad
    new_state = state._replace(
        params=_where_tree(frozen, state.params, params),
        model_state=_where_tree(frozen, state.model_state, model_state),
        opt_state=_where_tree(frozen, state.opt_state, opt_state),
        step=state.step + 1,
        diverged=frozen,
        diverged_epoch=jnp.where(now_bad & ~state.diverged, epoch.astype(jnp.int32),
                                 state.diverged_epoch))
    return new_state, jnp.where(state.diverged, jnp.nan, loss)

  def advance(self, num_steps: int, unroll: int, state: TrainState, buffer: jax.Array,
              order: jax.Array, inputs: jax.Array, targets: jax.Array, epoch: jax.Array,
              start: jax.Array) -> tuple[TrainState, jax.Array]:
    """Steps start .. start + num_steps - 1 (mod steps_per_epoch) of the epoch, fused by a
    scan; the loss of step t goes to buffer[t // interval] when t % interval == 0."""
    interval = self.log_interval

    def one(carry, position):
      state, buffer = carry
      index = position % self.steps_per_epoch
      state, loss = self.step(state, order, inputs, targets, epoch, index)
      slot = index // interval
      logged = jnp.where(index % interval == 0, loss, buffer[slot])
      return (state, buffer.at[slot].set(logged)), None

    if num_steps == 1:
      return one((state, buffer), start)[0]
    positions = start + jnp.arange(num_steps, dtype=jnp.int32)
    carry, _ = jax.lax.scan(one, (state, buffer), positions, unroll=min(unroll, num_steps))
    return carry

  # -- evaluation ---------------------------------------------------------------------------

  def eval_variables(self, state: TrainState) -> tuple[PyTree, dict]:
    """(params, model_state) evaluation uses: the optimizer's choice of parameters."""
    return self.eval_params(state.opt_state, state.params), state.model_state

  def eval_start(self, params: PyTree, model_state: dict) -> tuple[EvalCarry, jax.Array]:
    zero = jnp.zeros((), jnp.float32)
    return (EvalCarry(zero, zero, self.problem.reset_state(model_state)),
            self.problem.regularizer(params))

  def _eval_inputs(self, eval_key: jax.Array, inputs: jax.Array, targets: jax.Array,
                   index: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """(x, y, mask, key) of evaluation batch `index`: preprocessed without augmentation, padded
    rows masked, the batch's own key fold_in(eval_key, index)."""
    rows, mask = batching.eval_batch_indices(inputs.shape[0], self.eval_batch_size, index)
    key = jax.random.fold_in(eval_key, index)
    x = self.problem.preprocess(jnp.take(inputs, rows, axis=0), key, False)
    return x, jnp.take(targets, rows, axis=0), mask, key

  def eval_batch(self, carry: EvalCarry, params: PyTree, eval_key: jax.Array,
                 inputs: jax.Array, targets: jax.Array, index: jax.Array) -> EvalCarry:
    """Adds evaluation batch `index` (traced) of the split (inputs, targets) to the sums.

    Every example counts once: the last batch is padded and masked. Eval mode, with the
    batch's own key fold_in(eval_key, index).
    """
    x, y, mask, key = self._eval_inputs(eval_key, inputs, targets, index)
    out = self.problem.apply({'params': params, **carry.model_state}, x, y, train=False,
                             rng=key)
    real = mask > 0
    # where, not multiply: a padded row with a non-finite loss must not poison the sum.
    loss_sum = carry.loss_sum + jnp.sum(jnp.where(real, out.loss, 0.0))
    correct_sum = carry.correct_sum
    if out.correct is not None:
      correct_sum = correct_sum + jnp.sum(jnp.where(real, out.correct, 0.0))
    return EvalCarry(loss_sum, correct_sum, out.model_state)

  def eval_batches(self, num_batches: int, unroll: int, carry: EvalCarry, params: PyTree,
                   eval_key: jax.Array, inputs: jax.Array, targets: jax.Array,
                   start: jax.Array) -> EvalCarry:
    """Batches start .. start + num_batches - 1, fused by a scan."""
    def one(carry, index):
      return self.eval_batch(carry, params, eval_key, inputs, targets, index), None
    if num_batches == 1:
      return one(carry, start)[0]
    indices = start + jnp.arange(num_batches, dtype=jnp.int32)
    carry, _ = jax.lax.scan(one, carry, indices, unroll=min(unroll, num_batches))
    return carry

  def batch_stats_pass(self, variables: dict, eval_key: jax.Array, inputs: jax.Array,
                       targets: jax.Array, index: jax.Array) -> dict:
    """One forward pass in training mode over evaluation batch `index` WITHOUT augmentation:
    the updated 'batch_stats' (for recomputing BatchNorm statistics of SWA's average)."""
    x, y, _, key = self._eval_inputs(eval_key, inputs, targets, index)
    out = self.problem.apply(variables, x, y, train=True, rng=key)
    return out.model_state['batch_stats']


def has_batch_norm(model_state: dict) -> bool:
  """Whether the model keeps BatchNorm running statistics (flax's 'batch_stats' collection)."""
  return bool(jax.tree.leaves(model_state.get('batch_stats', {})))
