"""The problem table: every problem is (dataset, model, batch, epochs, metric, weight decay, ...).

Problems are built from the table by one generic builder, so each architecture is written once
(nets.py) and each loss once (below).
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Any, Callable, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jaxbench.data import augment
from jaxbench.data.specs import SPECS
from jaxbench.errors import ConfigError, UnknownKeyError
from jaxbench.problems import nets
from jaxbench.problems import quadratic
from jaxbench.problems.base import ApplyOutput, Problem, Variables


class _ModelOptions(NamedTuple):
  """What a model is built with besides the table: its number of classes (the vocabulary size
  for the char-RNN; from the dataset unless given) and quadratic_deep's Hessian draw."""
  num_classes: Optional[int]
  hessian_draw: int


@dataclasses.dataclass(frozen=True)
class _Entry:
  """One row of the problem table."""
  dataset: str
  model: Callable[[_ModelOptions], nn.Module]
  batch_size: int
  num_epochs: int
  weight_decay: Optional[float]
  output: str            # 'classification' | 'sequence' | 'vae' | 'loss' (model returns it)
  preprocessing: str     # 'pixels' | 'cifar' | 'svhn' | 'identity'
  family: str            # the strategy policy's key (Problem.family)
  carries_state: bool = False   # the char-RNN's LSTM carry (needs batch-sized init)

  @property
  def has_classes(self) -> bool:
    return self.output in ('classification', 'sequence')


def _classifier(net: Callable[..., nn.Module], *args) -> Callable[[_ModelOptions], nn.Module]:
  """net(*args, num_classes) — every classifier takes its class count last."""
  return lambda options: net(*args, options.num_classes)


def _fixed(net: Callable[[], nn.Module]) -> Callable[[_ModelOptions], nn.Module]:
  return lambda options: net()


# Batch sizes and epochs: SPEC section 1, else DeepOBS's `DEFAULT_TEST_PROBLEMS_SETTINGS`
# (deepobs/config.py); cifar100_3c3d and the two_d problems have no DeepOBS default: 128/100
# like their siblings (SPEC says so for two_d). Weight decays: the DeepOBS constructors' defaults.
# Families: the execution strategy measured per kind of model (train/strategy.py).
_TABLE: dict[str, _Entry] = {
    'quadratic_deep': _Entry(
        'quadratic_deep', lambda options: quadratic.NoisyQuadratic(options.hessian_draw),
        128, 100, None, 'loss', 'identity', 'tiny'),
    'mnist_vae': _Entry('mnist', _fixed(nets.VAE), 64, 50, None, 'vae', 'pixels', 'conv'),
    'fmnist_vae': _Entry('fashion_mnist', _fixed(nets.VAE), 64, 100, None, 'vae', 'pixels',
                         'conv'),
    'mnist_2c2d': _Entry('mnist', _classifier(nets.TwoCTwoD), 128, 100, None,
                         'classification', 'pixels', 'conv'),
    'fmnist_2c2d': _Entry('fashion_mnist', _classifier(nets.TwoCTwoD), 128, 100, None,
                          'classification', 'pixels', 'conv'),
    'cifar10_3c3d': _Entry('cifar10', _classifier(nets.ThreeCThreeD), 128, 100, 0.002,
                           'classification', 'cifar', 'conv'),
    'cifar100_3c3d': _Entry('cifar100', _classifier(nets.ThreeCThreeD), 128, 100, 0.002,
                            'classification', 'cifar', 'conv'),
    'svhn_3c3d': _Entry('svhn', _classifier(nets.ThreeCThreeD), 128, 100, 0.002,
                        'classification', 'svhn', 'conv'),
    'cifar100_allcnnc': _Entry('cifar100', _classifier(nets.AllCNNC), 256, 350, 5e-4,
                               'classification', 'cifar', 'conv'),
    'svhn_wrn164': _Entry('svhn', _classifier(nets.WideResNet, 2, 4), 128, 160, 5e-4,
                          'classification', 'svhn', 'conv'),
    'cifar100_wrn404': _Entry('cifar100', _classifier(nets.WideResNet, 6, 4), 128, 160, 5e-4,
                              'classification', 'cifar', 'conv'),
    'tolstoi_char_rnn': _Entry('tolstoi', _classifier(nets.CharRNN), 50, 200, None, 'sequence',
                               'identity', 'rnn', carries_state=True),
    'mnist_logreg': _Entry('mnist', _classifier(nets.LogReg), 128, 50, None,
                           'classification', 'pixels', 'dense'),
    'fmnist_logreg': _Entry('fashion_mnist', _classifier(nets.LogReg), 128, 50, None,
                            'classification', 'pixels', 'dense'),
    'mnist_mlp': _Entry('mnist', _classifier(nets.MLP), 128, 100, None,
                        'classification', 'pixels', 'dense'),
    'fmnist_mlp': _Entry('fashion_mnist', _classifier(nets.MLP), 128, 100, None,
                         'classification', 'pixels', 'dense'),
    'two_d_rosenbrock': _Entry('two_d', _fixed(functools.partial(quadratic.NoisyTwoD,
                                                                 'rosenbrock')),
                               128, 100, None, 'loss', 'identity', 'tiny'),
    'two_d_beale': _Entry('two_d', _fixed(functools.partial(quadratic.NoisyTwoD, 'beale')),
                          128, 100, None, 'loss', 'identity', 'tiny'),
    'two_d_branin': _Entry('two_d', _fixed(functools.partial(quadratic.NoisyTwoD, 'branin')),
                           128, 100, None, 'loss', 'identity', 'tiny'),
}


def names() -> list[str]:
  """All problem names, sorted."""
  return sorted(_TABLE)


def get(name: str, *, batch_size: Optional[int] = None, num_epochs: Optional[int] = None,
        num_classes: Optional[int] = None, hessian_draw: int = 0,
        conv_impl: str = 'xla', rnn_unroll: int = 1, rnn_impl: str = 'xla') -> Problem:
  """The problem `name`, optionally with a non-default batch size / number of epochs.

  The batch size is part of the problem because the char-RNN's carried LSTM state has one row
  per batch row. num_classes sizes a classifier's output (the char-RNN's vocabulary: the
  engine passes the dataset's, so a text with other characters gets a model that fits it);
  None takes the dataset's standard count. hessian_draw (quadratic_deep only): 0 is the defined
  Hessian, k the k-th DeepOBS draw (SPEC section 8). conv_impl (conv problems only): how the
  model computes its convolutions, `nets.CONV_IMPLS` (the strategy policy's choice, recorded in
  the run record's strategy field); the same parameters and values either way. rnn_unroll
  (recurrent problems only): the unroll factor of the model's time scan (the same numbers; the
  benchmark counts a rolled scan's FLOPs from the difference it makes); rnn_impl (recurrent
  problems only): how the LSTM layers run, `nets.RNN_IMPLS` (the policy's choice, recorded like
  conv_impl). Equal arguments
  return the identical
  (cached) Problem, so it can be a static argument of `jax.jit` without recompiling.
  """
  if name not in _TABLE:
    raise UnknownKeyError(f'unknown problem {name!r}; known problems: {", ".join(names())}')
  for label, value in (('batch_size', batch_size), ('num_epochs', num_epochs),
                       ('num_classes', num_classes)):
    if value is not None and (not isinstance(value, numbers.Integral) or isinstance(value, bool)
                              or value < 1):
      raise ConfigError(f'{label} must be a positive int, got {value!r}')
  entry = _TABLE[name]
  if num_classes is not None and not entry.has_classes:
    raise ConfigError(f'num_classes={num_classes}: problem {name!r} has no classes; valid '
                      'choices: None')
  if hessian_draw != 0 and name != 'quadratic_deep':
    raise ConfigError(f'hessian_draw={hessian_draw!r}: only quadratic_deep has a Hessian draw; '
                      f'valid choices for {name!r}: 0')
  quadratic.check_hessian_draw(hessian_draw)
  _check_impl('conv_impl', conv_impl, nets.CONV_IMPLS, name, entry, 'conv', 'convolutions')
  _check_impl('rnn_impl', rnn_impl, nets.RNN_IMPLS, name, entry, 'rnn', 'recurrent layers')
  if (isinstance(rnn_unroll, bool) or not isinstance(rnn_unroll, numbers.Integral)
      or rnn_unroll < 1):
    raise ConfigError(f'rnn_unroll={rnn_unroll!r} must be a positive int')
  if rnn_unroll != 1 and entry.family != 'rnn':
    raise ConfigError(f'rnn_unroll={rnn_unroll}: problem {name!r} has no recurrent layers; '
                      'valid choices for it: 1')
  classes = SPECS[entry.dataset].num_classes if num_classes is None else int(num_classes)
  return _build(name, entry.batch_size if batch_size is None else int(batch_size),
                entry.num_epochs if num_epochs is None else int(num_epochs),
                classes if entry.has_classes else None, int(hessian_draw), conv_impl,
                int(rnn_unroll), rnn_impl)


def _check_impl(label: str, value: str, choices: tuple, name: str, entry: _Entry, family: str,
                layers: str) -> None:
  """An implementation choice (conv_impl, rnn_impl): one of `choices`, and only 'xla' for a
  problem outside `family` (whose model has no such `layers`)."""
  if value not in choices:
    raise ConfigError(f'{label}={value!r}; valid choices: '
                      f'{", ".join(repr(c) for c in choices)}')
  if value != 'xla' and entry.family != family:
    raise ConfigError(f'{label}={value!r}: problem {name!r} has no {layers}; valid choices for '
                      "it: 'xla'")


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
    if train:
      return augment.augment_and_standardize(raw, key, flip=flip)
    return augment.standardize(raw)

  def identity(raw, key, train):
    del key, train
    return raw

  return {'pixels': pixels, 'cifar': functools.partial(images, flip=True),
          'svhn': functools.partial(images, flip=False), 'identity': identity}[kind]


@functools.lru_cache(maxsize=None)
def _build(name: str, batch_size: int, num_epochs: int, num_classes: Optional[int],
           hessian_draw: int, conv_impl: str = 'xla', rnn_unroll: int = 1,
           rnn_impl: str = 'xla') -> Problem:
  entry = _TABLE[name]
  module = entry.model(_ModelOptions(num_classes, hessian_draw))
  if conv_impl != 'xla':
    module = module.clone(conv_impl=conv_impl)   # every conv model has the field (nets.py)
  if rnn_unroll != 1:
    module = module.clone(unroll=rnn_unroll)     # as every recurrent model has
  if rnn_impl != 'xla':
    module = module.clone(lstm_impl=rnn_impl)
  spec = SPECS[entry.dataset]
  shape, dtype = spec.input_shape, jnp.dtype(spec.input_dtype)
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
      metric='accuracy' if entry.has_classes else 'loss',
      weight_decay=entry.weight_decay, has_accuracy=entry.has_classes,
      init=init, apply=apply, regularizer=weight_decay_regularizer(entry.weight_decay),
      preprocess=_preprocess_fn(entry.preprocessing), reset_state=reset_state,
      shuffle=not entry.carries_state, input_shape=shape, input_dtype=spec.input_dtype,
      num_classes=num_classes, family=entry.family)
