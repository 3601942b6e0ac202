"""Datasets on device: loading, splitting, epoch ordering and on-device augmentation.

`load(name, batch_size=...)` returns a `Dataset` whose four splits live on the default device.
See BUILD_NOTES.md for sources, lookup order, folder layout and split choices.
"""
from jaxbench.data.base import Dataset, Split
from jaxbench.data.batching import (epoch_permutation, eval_batch_indices,
                                    num_eval_batches, num_train_steps, train_batch_indices)
from jaxbench.data.loader import (DATASETS, SOURCES, DataNotFoundError, load)
from jaxbench.data.readers import DataFormatError
from jaxbench.data.specs import SPECS, DatasetSpec

__all__ = [
    'DATASETS', 'SOURCES', 'SPECS', 'DataFormatError', 'DataNotFoundError', 'Dataset',
    'DatasetSpec', 'Split',
    'epoch_permutation', 'eval_batch_indices', 'load', 'num_eval_batches',
    'num_train_steps', 'train_batch_indices',
]
