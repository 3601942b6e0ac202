"""The interface every test problem implements.

A problem is a frozen description plus pure functions. The training engine only ever talks to
this interface; it never imports a concrete model.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Optional

import jax

from jaxbench.errors import ConfigError

PyTree = Any
Variables = dict  # flax variables: {'params': ..., and model state such as 'batch_stats', 'carry'}


METRICS = ('loss', 'accuracy')
FAMILIES = ('tiny', 'dense', 'conv', 'rnn', 'other')


class ApplyOutput(NamedTuple):
  """What `Problem.apply` returns for one batch."""
  loss: jax.Array                 # [B] per-example loss (no regularizer)
  correct: Optional[jax.Array]    # [B] per-example accuracy in [0, 1], or None without accuracy
  model_state: dict               # updated non-'params' collections: BatchNorm 'batch_stats'
                                  # change in train mode only; the char-RNN's 'carry' in both
                                  # modes (it runs through consecutive evaluation batches too)


@dataclasses.dataclass(frozen=True)
class Problem:
  """A benchmark problem (`<dataset>_<model>` in DeepOBS naming).

  Attributes:
    name: registry name, e.g. 'fmnist_2c2d'.
    dataset: name understood by `jaxbench.data.load`, e.g. 'fashion_mnist'.
    batch_size, num_epochs: the paper's defaults.
    metric: 'loss' or 'accuracy': which test metric the paper reports (and tuning selects on).
    weight_decay: L2 factor of the regularizer (0.5 * wd * sum(w^2) over kernels), or None.
    has_accuracy: whether `apply` returns per-example correctness.
    init: key -> flax variables; variables['params'] holds exactly the trainable parameters.
    apply: (variables, inputs, targets, *, train, rng) -> ApplyOutput. `inputs` are already
      preprocessed (see `preprocess`). `rng` drives dropout/sampling in train mode.
    regularizer: params -> scalar (0.0 where the problem has none).
    preprocess: (raw_inputs, key, train) -> model inputs; runs on device inside the compiled
      step (normalisation, and augmentation when train=True).
    reset_state: model_state -> model_state at the start of each epoch and evaluation pass
      (zeroes the char-RNN's LSTM carry; identity elsewhere).
    shuffle: whether the training data is reshuffled every epoch (False for the char-RNN).
    input_shape, input_dtype: one preprocessed model input (e.g. (28, 28, 1), 'float32';
      (50,), 'int32' character ids).
    num_classes: the model's number of classes (its vocabulary size for the char-RNN); None for
      problems without labels. The engine checks it against the dataset's.
    family: what the execution-strategy policy keys on (`jaxbench.train.strategy`):
      'tiny' (a few parameters: quadratic, 2-D), 'dense' (matmul networks), 'conv'
      (convolutional networks), 'rnn' (recurrent, already a scan per step) or 'other'
      (the conservative default). A problem of one's own sets it to get the matching strategy.

  Build problems with `jaxbench.problems.get(name, batch_size=..., num_epochs=...)`: the batch
  size is part of the problem because the char-RNN's carry has one row per batch row (its
  `apply` raises a ValueError naming both sizes on a mismatch).
  """
  name: str
  dataset: str
  batch_size: int
  num_epochs: int
  metric: str
  weight_decay: Optional[float]
  has_accuracy: bool
  init: Callable[[jax.Array], Variables]
  apply: Callable[..., ApplyOutput]
  regularizer: Callable[[PyTree], jax.Array]
  preprocess: Callable[[jax.Array, jax.Array, bool], jax.Array]
  reset_state: Callable[[dict], dict] = lambda state: state
  shuffle: bool = True
  input_shape: tuple[int, ...] = ()
  input_dtype: str = 'float32'
  num_classes: Optional[int] = None
  family: str = 'other'

  def __post_init__(self):
    if self.metric not in METRICS:
      raise ConfigError(f'Problem {self.name!r}: metric={self.metric!r}; valid choices: '
                        f'{", ".join(METRICS)}')
    if self.family not in FAMILIES:
      raise ConfigError(f'Problem {self.name!r}: family={self.family!r}; valid choices: '
                        f'{", ".join(FAMILIES)}')
    if self.num_classes is not None and (not isinstance(self.num_classes, int)
                                         or self.num_classes < 1):
      raise ConfigError(f'Problem {self.name!r}: num_classes={self.num_classes!r} must be a '
                        'positive int or None')
