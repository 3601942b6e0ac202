"""What each dataset holds: the shape and dtype of one example and its number of classes.

The single owner of these facts. The readers check files against them, the generated and
synthetic data are drawn with them, and `jaxbench.problems` builds every Problem's
`input_shape` / `input_dtype` / `num_classes` from them (the engine and the strategy policy then
read those from the Problem). This module imports nothing, so every other part can read it.
"""
from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """One example of a dataset as the model sees it.

  input_shape: one example (HWC for images, [sequence length] for text, [dimension] otherwise).
  input_dtype: the dtype of the model input after preprocessing ('float32'; 'int32' character
    ids for text). Images are stored as uint8 and preprocessed to float32 on device.
  num_classes: labels lie in [0, num_classes); for text the vocabulary size of DeepOBS's copy
    (a text with other characters gets its own, see `jaxbench.data.load`); None without labels.
  """
  input_shape: tuple[int, ...]
  input_dtype: str
  num_classes: Optional[int]


QUADRATIC_DIM = 100      # DeepOBS quadratic_deep: theta and the noise live in 100 dimensions
TOLSTOI_SEQ_LEN = 50     # characters per training sequence
TOLSTOI_VOCAB_SIZE = 83  # distinct characters of DeepOBS's copy of War and Peace

SPECS: dict[str, DatasetSpec] = {
    'mnist': DatasetSpec((28, 28, 1), 'float32', 10),
    'fashion_mnist': DatasetSpec((28, 28, 1), 'float32', 10),
    'cifar10': DatasetSpec((32, 32, 3), 'float32', 10),
    'cifar100': DatasetSpec((32, 32, 3), 'float32', 100),
    'svhn': DatasetSpec((32, 32, 3), 'float32', 10),
    'tolstoi': DatasetSpec((TOLSTOI_SEQ_LEN,), 'int32', TOLSTOI_VOCAB_SIZE),
    'quadratic_deep': DatasetSpec((QUADRATIC_DIM,), 'float32', None),
    'two_d': DatasetSpec((2,), 'float32', None),
}
