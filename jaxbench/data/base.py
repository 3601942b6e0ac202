"""Containers for a dataset that lives on the device."""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax


@dataclasses.dataclass(frozen=True)
class Split:
  """One split held on device.

  inputs: uint8 NHWC images, int32 character ids [N, seq_len], or float32 features.
  targets: int32 labels [N] (or [N, seq_len] next-character ids; float32 zeros [N] for the
  generated quadratic_deep / two_d data, whose loss does not use targets).
  For ordered data (the char-RNN) batch t is examples [t*B, (t+1)*B).
  """
  inputs: jax.Array
  targets: jax.Array

  @property
  def size(self) -> int:
    return int(self.inputs.shape[0])


@dataclasses.dataclass(frozen=True)
class Dataset:
  """All four splits of one dataset, on device.

  The fields after `shuffle` were added by the data helper (defaults keep old call sites valid):
  batch_size: the batch size the splits were laid out for. For ordered data (shuffle=False, the
    char-RNN) every split is a stack of batches of exactly this size, so training AND evaluation
    must use it and go through the rows in order. None where any batch size works.
  num_classes: labels lie in [0, num_classes) (vocabulary size for text); None without labels.
  vocabulary: the characters of the text, id i = vocabulary[i]; None for non-text data.
  """
  name: str
  train: Split
  train_eval: Split
  valid: Split
  test: Split
  source: str          # where it came from: 'files:<dir>', 'tfds:<dir>', 'synthetic', 'generated'
  shuffle: bool = True
  batch_size: Optional[int] = None
  num_classes: Optional[int] = None
  vocabulary: Optional[tuple[str, ...]] = None
