"""The problem table: every problem is (dataset, model, batch, epochs, metric, weight decay, ...).

Problems are built from the table by one generic builder, so each architecture is written once
(nets.py) and each loss once (below).
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxbench.problems import nets
from jaxbench.problems import quadratic
from jaxbench.problems.base import ApplyOutput, Problem, Variables

# Per-example shape (and dtype) of the *preprocessed* model input, for `init`.
_INPUT_SPECS: dict[str, tuple[tuple[int, ...], Any]] = {
    'mnist': ((28, 28, 1), jnp.float32),
    'fashion_mnist': ((28, 28, 1), jnp.float32),
    'cifar10': ((32, 32, 3), jnp.float32),
    'cifar100': ((32, 32, 3), jnp.float32),
    'svhn': ((32, 32, 3), jnp.float32),
    'quadratic_deep': ((quadratic.QUADRATIC_DIM,), jnp.float32),
    'two_d': ((2,), jnp.float32),
    'tolstoi': ((50,), jnp.int32),
}
TOLSTOI_VOCAB_SIZE = 83
TOLSTOI_SEQ_LEN = 50


@dataclasses.dataclass(frozen=True)
class _Entry:
  """One row of the problem table."""
  dataset: str
  model: Callable[[], nn.Module]
  batch_size: int
  num_epochs: int
  weight_decay: Optional[float]
  output: str            # 'classification' | 'sequence' | 'vae' | 'loss' (model returns it)
  preprocessing: str     # 'pixels' | 'cifar' | 'svhn' | 'identity'
  carries_state: bool = False   # the char-RNN's LSTM carry (needs batch-sized init)


_3c3d = nets.ThreeCThreeD
_wrn = nets.WideResNet

# Batch sizes and epochs: SPEC section 1, else DeepOBS's `DEFAULT_TEST_PROBLEMS_SETTINGS`
# (deepobs/config.py); cifar100_3c3d and the two_d problems have no DeepOBS default: 128/100
# like their siblings (SPEC says so for two_d). Weight decays: the DeepOBS constructors' defaults.
_TABLE: dict[str, _Entry] = {
    'quadratic_deep': _Entry('quadratic_deep', quadratic.NoisyQuadratic, 128, 100, None,
                             'loss', 'identity'),
    'mnist_vae': _Entry('mnist', nets.VAE, 64, 50, None, 'vae', 'pixels'),
    'fmnist_vae': _Entry('fashion_mnist', nets.VAE, 64, 100, None, 'vae', 'pixels'),
    'mnist_2c2d': _Entry('mnist', functools.partial(nets.TwoCTwoD, 10), 128, 100, None,
                         'classification', 'pixels'),
    'fmnist_2c2d': _Entry('fashion_mnist', functools.partial(nets.TwoCTwoD, 10), 128, 100, None,
                          'classification', 'pixels'),
    'cifar10_3c3d': _Entry('cifar10', functools.partial(_3c3d, 10), 128, 100, 0.002,
                           'classification', 'cifar'),
    'cifar100_3c3d': _Entry('cifar100', functools.partial(_3c3d, 100), 128, 100, 0.002,
                            'classification', 'cifar'),
    'svhn_3c3d': _Entry('svhn', functools.partial(_3c3d, 10), 128, 100, 0.002,
                        'classification', 'svhn'),
    'cifar100_allcnnc': _Entry('cifar100', functools.partial(nets.AllCNNC, 100), 256, 350, 5e-4,
                               'classification', 'cifar'),
    'svhn_wrn164': _Entry('svhn', functools.partial(_wrn, 2, 4, 10), 128, 160, 5e-4,
                          'classification', 'svhn'),
    'cifar100_wrn404': _Entry('cifar100', functools.partial(_wrn, 6, 4, 100), 128, 160, 5e-4,
                              'classification', 'cifar'),
    'tolstoi_char_rnn': _Entry('tolstoi', functools.partial(nets.CharRNN, TOLSTOI_VOCAB_SIZE),
                               50, 200, None, 'sequence', 'identity', carries_state=True),
    'mnist_logreg': _Entry('mnist', functools.partial(nets.LogReg, 10), 128, 50, None,
                           'classification', 'pixels'),
    'fmnist_logreg': _Entry('fashion_mnist', functools.partial(nets.LogReg, 10), 128, 50, None,
                            'classification', 'pixels'),
    'mnist_mlp': _Entry('mnist', functools.partial(nets.MLP, 10), 128, 100, None,
                        'classification', 'pixels'),
    'fmnist_mlp': _Entry('fashion_mnist', functools.partial(nets.MLP, 10), 128, 100, None,
                         'classification', 'pixels'),
    'two_d_rosenbrock': _Entry('two_d', functools.partial(quadratic.NoisyTwoD, 'rosenbrock'),
                               128, 100, None, 'loss', 'identity'),
    'two_d_beale': _Entry('two_d', functools.partial(quadratic.NoisyTwoD, 'beale'),
                          128, 100, None, 'loss', 'identity'),
    'two_d_branin': _Entry('two_d', functools.partial(quadratic.NoisyTwoD, 'branin'),
                           128, 100, None, 'loss', 'identity'),
}


def names() -> list[str]:
  """All problem names, sorted."""
  return sorted(_TABLE)


def get(name: str, *, batch_size: Optional[int] = None,
        num_epochs: Optional[int] = None) -> Problem:
  """The problem `name`, optionally with a non-default batch size / number of epochs.

  The batch size is part of the problem because the char-RNN's carried LSTM state has one row
  per batch row. Equal arguments return the identical (cached) Problem, so it can be a static
  argument of `jax.jit` without recompiling.
  """
  if name not in _TABLE:
    raise KeyError(f'unknown problem {name!r}; known problems: {", ".join(names())}')
  for label, value in (('batch_size', batch_size), ('num_epochs', num_epochs)):
    if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool)
                              or value < 1):
      raise ValueError(f'{label} must be a positive int, got {value!r}')
  entry = _TABLE[name]
  return _build(name, entry.batch_size if batch_size is None else int(batch_size),
                entry.num_epochs if num_epochs is None else int(num_epochs))


# ----------------------------------------------------------------------------------------------
# Pieces shared by all problems.


def weight_decay_regularizer(weight_decay: Optional[float]) -> Callable[[Any], jax.Array]:
  """params -> 0.5 * wd * sum of squares of every leaf named 'kernel' (0.0 without decay).

  Selecting by name keeps biases, BatchNorm scale/bias and embeddings out, as in DeepOBS, where
  only layers built with a `kernel_regularizer` contribute, and those regularise only kernels.
  """
  def regularizer(params: Any) -> jax.Array:
    if not weight_decay:
      return jnp.zeros((), jnp.float32)
    leaves = jax.tree_util.tree_leaves_with_path(params)
    squares = [jnp.sum(jnp.square(leaf)) for path, leaf in leaves if _leaf_name(path) == 'kernel']
    return 0.5 * weight_decay * sum(squares, jnp.zeros((), jnp.float32))
  return regularizer


def _leaf_name(path: tuple) -> str:
  last = path[-1]
  return str(getattr(last, 'key', getattr(last, 'name', last)))


def reset_state(model_state: dict) -> dict:
  """Zeroes the 'carry' collection (the char-RNN's LSTM state); everything else unchanged."""
  return {collection: (jax.tree.map(jnp.zeros_like, value) if collection == 'carry' else value)
          for collection, value in model_state.items()}


def _classification_loss(logits: jax.Array, inputs: jax.Array, targets: jax.Array):
  del inputs
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
  return loss, correct


def _sequence_loss(logits: jax.Array, inputs: jax.Array, targets: jax.Array):
  """Cross-entropy and accuracy averaged over time: TF's sequence_loss(average_across_timesteps)."""
  loss, correct = _classification_loss(logits, inputs, targets)
  return jnp.mean(loss, axis=1), jnp.mean(correct, axis=1)


def _vae_loss(outputs, inputs: jax.Array, targets: jax.Array):
  """Sum of squared pixel errors plus KL(N(mean, exp(s)^2) || N(0, 1)) per example."""
  del targets
  reconstruction, mean, log_std = outputs
  batch = inputs.shape[0]
  image_loss = jnp.sum(jnp.square(reconstruction.reshape((batch, -1))
                                  - inputs.reshape((batch, -1))), axis=1)
  kl = -0.5 * jnp.sum(1.0 + 2.0 * log_std - jnp.square(mean) - jnp.exp(2.0 * log_std), axis=1)
  return image_loss + kl, None


def _direct_loss(outputs: jax.Array, inputs: jax.Array, targets: jax.Array):
  del inputs, targets
  return outputs, None


_LOSSES = {'classification': _classification_loss, 'sequence': _sequence_loss,
           'vae': _vae_loss, 'loss': _direct_loss}


def _preprocess_fn(kind: str) -> Callable[[jax.Array, jax.Array, bool], jax.Array]:
  """raw on-device inputs -> model inputs (SPEC 'Data preprocessing')."""
  def pixels(raw, key, train):
    del key, train
    return raw.astype(jnp.float32) / 255.0

  def images(raw, key, train, *, flip):
    from jaxbench.data import augment  # data owns augmentation; imported when first used
    if train:
      return augment.augment_and_standardize(raw, key, flip=flip)
    return augment.standardize(raw)

  def identity(raw, key, train):
    del key, train
    return raw

  return {'pixels': pixels, 'cifar': functools.partial(images, flip=True),
          'svhn': functools.partial(images, flip=False), 'identity': identity}[kind]


@functools.lru_cache(maxsize=None)
def _build(name: str, batch_size: int, num_epochs: int) -> Problem:
  entry = _TABLE[name]
  module = entry.model()
  shape, dtype = _INPUT_SPECS[entry.dataset]
  # The carry needs the real batch size; every other model's variables are batch-independent.
  init_batch = batch_size if entry.carries_state else 1
  loss_fn = _LOSSES[entry.output]
  train_mutable = ['batch_stats', 'carry']
  eval_mutable = ['carry']   # the char-RNN carries its state through evaluation passes too

  def init(key: jax.Array) -> Variables:
    params_key, dropout_key, sample_key = jax.random.split(key, 3)
    dummy = jnp.zeros((init_batch,) + shape, dtype)
    variables = module.init({'params': params_key, 'dropout': dropout_key,
                             'sample': sample_key}, dummy, train=False)
    return dict(variables)

  def apply(variables: Variables, inputs: jax.Array, targets: jax.Array, *, train: bool,
            rng: jax.Array) -> ApplyOutput:
    dropout_key, sample_key = jax.random.split(rng)
    outputs, updates = module.apply(
        variables, inputs, train=train, rngs={'dropout': dropout_key, 'sample': sample_key},
        mutable=train_mutable if train else eval_mutable)
    model_state = {k: v for k, v in variables.items() if k != 'params'}
    model_state.update(updates)
    loss, correct = loss_fn(outputs, inputs, targets)
    return ApplyOutput(loss=loss, correct=correct, model_state=model_state)

  return Problem(
      name=name, dataset=entry.dataset, batch_size=batch_size, num_epochs=num_epochs,
      metric='accuracy' if entry.output in ('classification', 'sequence') else 'loss',
      weight_decay=entry.weight_decay,
      has_accuracy=entry.output in ('classification', 'sequence'),
      init=init, apply=apply, regularizer=weight_decay_regularizer(entry.weight_decay),
      preprocess=_preprocess_fn(entry.preprocessing), reset_state=reset_state,
      shuffle=not entry.carries_state)
