"""SWA through the engine on a model with BatchNorm (issue 8): once averaging has begun,
evaluation must use the averaged weights AND BatchNorm statistics recomputed for them over the
train_eval split, not the running statistics collected along the training trajectory."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxbench.data.base import Dataset, Split
from jaxbench.problems.base import ApplyOutput, Problem
from jaxbench.train.engine import RunBatch, Trainer
from jaxbench.train.strategy import Strategy
from test_engine_toys import sgd

VMAP = Strategy('vmap', 1, 1)
BATCH = 16
EPSILON = 1e-5
MOMENTUM = 0.9


class _BatchNormMlp(nn.Module):
  """Dense(6) -> BatchNorm -> relu -> Dense(3)."""

  @nn.compact
  def __call__(self, x, *, train: bool):
    x = nn.Dense(6)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=MOMENTUM, epsilon=EPSILON,
                     use_fast_variance=False)(x)
    return nn.Dense(3)(nn.relu(x))


def batch_norm_problem() -> Problem:
  model = _BatchNormMlp()

  def init(key):
    return dict(model.init(key, jnp.zeros((1, 4)), train=False))

  def apply(variables, inputs, targets, *, train, rng):
    del rng
    logits, updates = model.apply(variables, inputs, train=train,
                                  mutable=['batch_stats'] if train else [])
    model_state = {k: v for k, v in variables.items() if k != 'params'}
    model_state.update(updates)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
    return ApplyOutput(loss, correct, model_state)

  return Problem(name='toy_bn_mlp', dataset='toy', batch_size=BATCH, num_epochs=3,
                 metric='accuracy', weight_decay=None, has_accuracy=True, init=init,
                 apply=apply, regularizer=lambda params: jnp.zeros([]),
                 preprocess=lambda raw, key, train: raw.astype(jnp.float32),
                 input_shape=(4,), num_classes=3, family='dense')


def shifted_dataset() -> Dataset:
  """Inputs far from zero mean / unit scale, so BatchNorm's statistics matter."""
  rng = np.random.RandomState(7)
  def split(n):
    x = (rng.normal(size=(n, 4)) * [1.0, 2.0, 0.5, 3.0] + [2.0, -1.0, 0.5, 4.0]).astype(
        np.float32)
    y = (x[:, 0] > 2.0).astype(np.int32) + (x[:, 1] > 0.0).astype(np.int32)
    return Split(jnp.asarray(x), jnp.asarray(y))
  # train_eval: 2 full batches of 16 and a partial one of 5 (which the recompute leaves out).
  return Dataset(name='toy', train=split(48), train_eval=split(37), valid=split(21),
                 test=split(29), source='generated')


def numpy_hidden(params: dict, x: np.ndarray) -> np.ndarray:
  dense = params['Dense_0']
  return x.astype(np.float64) @ dense['kernel'] + dense['bias']


def numpy_recomputed_stats(params: dict, x: np.ndarray) -> dict:
  """recompute_batch_stats' rule by hand: the equal-weight (cumulative) mean over the full
  evaluation batches of each batch's own mean and biased variance (flax's train-mode
  statistics) -- no momentum and nothing of the old running statistics."""
  full = len(x) // BATCH
  means, variances = [], []
  for b in range(full):
    h = numpy_hidden(params, x[b * BATCH:(b + 1) * BATCH])
    means.append(h.mean(axis=0))
    variances.append(((h - h.mean(axis=0)) ** 2).mean(axis=0))
  return {'mean': np.mean(means, axis=0), 'var': np.mean(variances, axis=0)}


def numpy_metrics(params: dict, stats: dict, x: np.ndarray, y: np.ndarray) -> tuple:
  """(mean cross-entropy, accuracy) in eval mode with BatchNorm statistics `stats`, float64."""
  bn = params['BatchNorm_0']
  h = numpy_hidden(params, x)
  h = (h - stats['mean']) / np.sqrt(stats['var'] + EPSILON) * bn['scale'] + bn['bias']
  logits = np.maximum(h, 0.0) @ params['Dense_1']['kernel'] + params['Dense_1']['bias']
  shift = logits.max(axis=1, keepdims=True)
  log_norm = np.log(np.exp(logits - shift).sum(axis=1)) + shift[:, 0]
  cross_entropy = log_norm - logits[np.arange(len(y)), y]
  return float(cross_entropy.mean()), float((logits.argmax(axis=1) == y).mean())


def test_swa_with_batch_norm_evaluates_the_average_with_recomputed_statistics():
  """swa_start_epoch=1 of 3 epochs (3 steps each), two runs under vmap: every split's loss and
  accuracy equal a numpy evaluation of the mean of the weights after epochs 1 and 2 with
  BatchNorm statistics recomputed by hand over train_eval's full batches."""
  dataset = shifted_dataset()
  common = dict(problem=batch_norm_problem(), optimizer=sgd, schedule=None,
                seeds=np.array([4, 5]), hyperparams={'learning_rate': [0.1, 0.05]},
                num_epochs=3)
  # The iterates themselves: the SWA wrapper trains the inner optimizer unchanged and keeps
  # the average in its state, so state.params after each epoch is the trajectory.
  trainer = Trainer(RunBatch(**common, swa_start_epoch=1), dataset, VMAP)
  swa_state, ends = trainer.init(), []
  for epoch in range(3):
    swa_state, _ = trainer.run_epoch(swa_state, epoch)
    ends.append(jax.device_get(swa_state.params))
  average = jax.tree.map(lambda a, b: (np.asarray(a, np.float64) + b) / 2, ends[1], ends[2])
  metrics = trainer.evaluate(swa_state)
  # The trajectory's own running statistics: what evaluation would wrongly use without the
  # recompute.
  running = jax.device_get(swa_state.model_state['batch_stats']['BatchNorm_0'])

  train_eval_x = np.asarray(dataset.train_eval.inputs)
  for run in range(2):
    params = jax.tree.map(lambda p: p[run], average)
    stats = numpy_recomputed_stats(params, train_eval_x)
    stale = {k: np.asarray(v[run], np.float64) for k, v in running.items()}
    first_batch_only = numpy_recomputed_stats(params, train_eval_x[:BATCH])
    for name in ('train_eval', 'valid', 'test'):
      split = getattr(dataset, name)
      x, y = np.asarray(split.inputs), np.asarray(split.targets)
      loss, accuracy = numpy_metrics(params, stats, x, y)
      np.testing.assert_allclose(metrics[f'{name}_loss'][run], loss, rtol=2e-5, atol=1e-6)
      np.testing.assert_allclose(metrics[f'{name}_accuracy'][run], accuracy)
      # The check can fail: the stale running statistics, or statistics from one batch instead
      # of the mean over both, give a loss far outside the tolerance above.
      for wrong in (stale, first_batch_only):
        assert abs(numpy_metrics(params, wrong, x, y)[0] - loss) > 1e-3 * max(1.0, loss)
