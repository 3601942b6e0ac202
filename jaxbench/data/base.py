"""Containers for a dataset that lives on the device."""
from __future__ import annotations

import dataclasses

import jax


@dataclasses.dataclass(frozen=True)
class Split:
  """One split held on device.

  inputs: uint8 NHWC images, int32 character ids [N, seq_len], or float32 features.
  targets: int32 labels [N] (or [N, seq_len] next-character ids).
  For ordered data (the char-RNN) batch t is examples [t*B, (t+1)*B).
  """
  inputs: jax.Array
  targets: jax.Array

  @property
  def size(self) -> int:
    return int(self.inputs.shape[0])


@dataclasses.dataclass(frozen=True)
class Dataset:
  name: str
  train: Split
  train_eval: Split
  valid: Split
  test: Split
  source: str          # where it came from: 'files:<dir>', 'tfds', 'synthetic', 'generated'
  shuffle: bool = True
