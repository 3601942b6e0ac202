"""Character-level splits and stateful char-rnn batching for tolstoi_char_rnn."""
from __future__ import annotations

import math

import numpy as np

SEQ_LENGTH = 50
TEST_FRACTION = 0.2    # DeepOBS: train = first ceil(0.8 N) ids, test = the rest
VALID_FRACTION = 0.1   # ours: the last 10% of the training part is held out as validation


def split_ids(ids: np.ndarray) -> dict[str, np.ndarray]:
  """Contiguous splits of the id sequence.

  test = ids[ceil(0.8 N):] (DeepOBS's split); the training part ids[:ceil(0.8 N)] is cut into
  train = its first len - ceil(0.1 len) ids and valid = its last ceil(0.1 len) ids, so valid is
  held out from, and disjoint from, train.
  """
  n = int(ids.shape[0])
  train_part = int(math.ceil((1.0 - TEST_FRACTION) * n))
  valid_size = int(math.ceil(VALID_FRACTION * train_part))
  return {'train': ids[:train_part - valid_size], 'valid': ids[train_part - valid_size:train_part],
          'test': ids[train_part:]}


def char_rnn_batches(ids: np.ndarray, batch_size: int, seq_length: int = SEQ_LENGTH,
                     split: str = 'text') -> tuple[np.ndarray, np.ndarray]:
  """Lays out an id sequence for stateful truncated-BPTT training (char-rnn / DeepOBS).

  num_batches = floor((N - 1) / (B * S)); inputs = ids[:num_batches*B*S] reshaped to (B, -1),
  targets = the same shifted by one id; both split along time into num_batches chunks of S.
  Returned as [num_batches * B, S] with batch t = rows [t*B, (t+1)*B), so row i of batch t+1
  continues row i of batch t.
  """
  n = int(ids.shape[0])
  num_batches = (n - 1) // (batch_size * seq_length)
  if num_batches < 1:
    raise ValueError(f'The {split} text has {n} characters: too short for one batch of '
                     f'{batch_size} sequences of {seq_length} characters (needs at least '
                     f'{batch_size * seq_length + 1}). Use a smaller batch_size or a longer text.')
  used = num_batches * batch_size * seq_length
  def layout(a: np.ndarray) -> np.ndarray:
    return (a.reshape(batch_size, num_batches, seq_length).transpose(1, 0, 2)
            .reshape(num_batches * batch_size, seq_length).astype(np.int32))
  return layout(ids[:used]), layout(ids[1:used + 1])
