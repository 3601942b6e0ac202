"""Tiny problems and datasets for the engine tests (no dependence on the real registries)."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxbench.data.base import Dataset, Split
from jaxbench.problems.base import ApplyOutput, Problem


class _Mlp(nn.Module):
  hidden: int = 8
  classes: int = 3
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, *, train: bool):
    x = nn.relu(nn.Dense(self.hidden)(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.classes)(x)


def mlp_problem(dropout: float = 0.25, weight_decay: float = 0.01,
                trace_counter: list | None = None, batch_size: int = 16) -> Problem:
  """A 2-layer MLP classifier with dropout and an L2 regularizer on the kernels."""
  model = _Mlp(dropout=dropout)

  def init(key):
    return model.init(key, jnp.zeros((1, 4)), train=False)

  def apply(variables, inputs, targets, *, train, rng):
    if trace_counter is not None:
      trace_counter.append(1)  # runs once per trace, never at execution
    logits = model.apply(variables, inputs, train=train, rngs={'dropout': rng})
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    correct = (jnp.argmax(logits, -1) == targets).astype(jnp.float32)
    return ApplyOutput(loss, correct, {})

  def regularizer(params):
    return 0.5 * weight_decay * sum(jnp.sum(p['kernel'] ** 2) for p in params.values())

  def preprocess(raw, key, train):
    del key, train
    return raw.astype(jnp.float32)

  return Problem(name='toy_mlp', dataset='toy', batch_size=batch_size, num_epochs=3,
                 metric='accuracy', weight_decay=weight_decay, has_accuracy=True, init=init,
                 apply=apply, regularizer=regularizer, preprocess=preprocess)


def toy_dataset(train: int = 100, evaluation: int = 37, seed: int = 0) -> Dataset:
  rng = np.random.RandomState(seed)
  def split(n):
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 1).astype(np.int32)
    return Split(jnp.asarray(x), jnp.asarray(y))
  return Dataset(name='toy', train=split(train), train_eval=split(evaluation),
                 valid=split(evaluation + 2), test=split(evaluation + 4), source='generated')


def sgd(learning_rate, momentum=0.0):
  return optax.sgd(learning_rate, momentum=momentum)


def adam(learning_rate, b1=0.9):
  return optax.adam(learning_rate, b1=b1)


def numpy_mlp_metrics(params, x: np.ndarray, y: np.ndarray, weight_decay: float
                      ) -> tuple[float, float]:
  """Loss (mean cross-entropy + L2) and accuracy of `mlp_problem` in eval mode, in float64 numpy."""
  p = {k: {n: np.asarray(v, np.float64) for n, v in layer.items()} for k, layer in params.items()}
  hidden = np.maximum(x @ p['Dense_0']['kernel'] + p['Dense_0']['bias'], 0.0)
  logits = hidden @ p['Dense_1']['kernel'] + p['Dense_1']['bias']
  shift = logits.max(axis=1, keepdims=True)
  log_norm = np.log(np.exp(logits - shift).sum(axis=1)) + shift[:, 0]
  cross_entropy = log_norm - logits[np.arange(len(y)), y]
  l2 = 0.5 * weight_decay * sum((layer['kernel'] ** 2).sum() for layer in p.values())
  return float(cross_entropy.mean() + l2), float((logits.argmax(axis=1) == y).mean())


def counting_problem(batch_size: int = 4) -> Problem:
  """A stateful toy (like the char-RNN): model_state counts the batches seen since its reset.

  Per-example loss = (w - x)^2 + count, so a pass's mean loss reveals whether the state was
  reset at the start and carried in order through the batches.
  """
  def init(key):
    del key
    return {'params': {'w': jnp.zeros(())}, 'carry': {'count': jnp.zeros(())}}

  def apply(variables, inputs, targets, *, train, rng):
    del targets, train, rng
    count = variables['carry']['count']
    loss = (variables['params']['w'] - inputs) ** 2 + count
    return ApplyOutput(loss, None, {'carry': {'count': count + 1.0}})

  def reset_state(model_state):
    return jax.tree.map(jnp.zeros_like, model_state)

  return Problem(name='toy_counting', dataset='toy', batch_size=batch_size, num_epochs=2,
                 metric='loss', weight_decay=None, has_accuracy=False, init=init, apply=apply,
                 regularizer=lambda params: jnp.zeros(()), preprocess=lambda raw, key, train: raw,
                 reset_state=reset_state, shuffle=False)


def counting_dataset(batch_size: int = 4, batches: int = 3) -> Dataset:
  x = jnp.zeros((batch_size * batches,), jnp.float32)
  split = Split(x, jnp.zeros_like(x))
  return Dataset(name='toy_ordered', train=split, train_eval=split, valid=split, test=split,
                 source='generated', shuffle=False, batch_size=batch_size)
