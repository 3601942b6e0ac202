"""`load`: find a dataset, read it, split it as SPEC section 1 says, and put it on the device.

Lookup order for source='auto' (the first location that holds the dataset wins; the Dataset's
`source` field records which one):
  1. the `data_dir` argument: original files in `<data_dir>/<subfolder>` or `<data_dir>`, then a
     tensorflow-datasets tree `<data_dir>/<tfds_name>/<version>/`. An explicit data_dir is the
     ONLY place searched: if it does not exist or lacks a file, `load` fails naming them (it
     never falls back to another copy);
  2. $JAXBENCH_DATA_DIR, searched the same way;
  3. the tensorflow-datasets data dir ($TFDS_DATA_DIR, else ~/tensorflow_datasets);
  4. known locations: ~/jaxbench_data/<subfolder>, then system folders such as Debian's
     /usr/share/datasets/fashion-mnist (package dataset-fashion-mnist).
quadratic_deep and two_d are always generated.
"""
from __future__ import annotations

import dataclasses
import glob
import os
from typing import Callable, Optional, Union

from absl import logging
import jax
import numpy as np

from jaxbench.data import generated
from jaxbench.data import readers
from jaxbench.data import text as text_lib
from jaxbench.data.base import Dataset, Split
from jaxbench.data.specs import TOLSTOI_VOCAB_SIZE
from jaxbench.errors import ConfigError, DataError

DATASETS = ('mnist', 'fashion_mnist', 'cifar10', 'cifar100', 'svhn', 'tolstoi', 'quadratic_deep',
            'two_d')
SOURCES = ('auto', 'files', 'tfds', 'synthetic', 'generated')
IMAGE_DATASETS = readers.IMAGE_DATASETS
GENERATED_DATASETS = ('quadratic_deep', 'two_d')
TFDS_NAMES = {'mnist': 'mnist', 'fashion_mnist': 'fashion_mnist', 'cifar10': 'cifar10',
              'cifar100': 'cifar100', 'svhn': 'svhn_cropped'}
# (official training split size, official test split size)
OFFICIAL_SIZES = {'mnist': (60000, 10000), 'fashion_mnist': (60000, 10000),
                  'cifar10': (50000, 10000), 'cifar100': (50000, 10000), 'svhn': (73257, 26032)}
VALID_SIZES = {'mnist': 10000, 'fashion_mnist': 10000, 'cifar10': 10000, 'cifar100': 10000,
               'svhn': 26032}
SUBFOLDERS = {'mnist': ('mnist',), 'fashion_mnist': ('fashion_mnist', 'fashion-mnist', 'fmnist'),
              'cifar10': ('cifar10', 'cifar-10'), 'cifar100': ('cifar100', 'cifar-100'),
              'svhn': ('svhn',), 'tolstoi': ('tolstoi',)}
SYSTEM_DIRS = {'fashion_mnist': ('/usr/share/datasets/fashion-mnist',),
               'mnist': ('/usr/share/datasets/mnist',)}
DEFAULT_USER_DIR = os.path.join('~', 'jaxbench_data')
IDX_FILES = {'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
             'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')}
TOLSTOI_FULL_CHARS = 3266185  # DeepOBS's copy: ceil(0.8 N) train + 653,237 test characters

RawImages = dict  # {'train': (uint8 [N,H,W,C], int32 [N]), 'test': (...)}


class DataNotFoundError(DataError, FileNotFoundError):
  """No location holds the dataset; the message lists what was searched and how to get it."""


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------

def load(dataset_name: str, *, batch_size: int, source: str = 'auto',
         data_dir: Optional[str] = None,
         synthetic_size: Union[int, str, None] = None) -> Dataset:
  """Loads `dataset_name` onto the default device, split as SPEC section 1 says.

  Args:
    dataset_name: one of DATASETS.
    batch_size: the training batch size; checked against the training split, and for the
      char-RNN text it fixes the stateful layout of every split.
    source: 'auto', 'files' (original file formats), 'tfds' (prepared tensorflow-datasets,
      read without TensorFlow), 'synthetic' (random data of the true shapes) or 'generated'
      (quadratic_deep, two_d).
    data_dir: a folder to search first (see the module docstring for the order).
    synthetic_size: for source='synthetic': the size of the simulated official training split
      (number of characters for tolstoi), or 'full' for the real sizes. Small by default.
  """
  if dataset_name not in DATASETS:
    raise ConfigError(f'Unknown dataset {dataset_name!r}; valid names: {", ".join(DATASETS)}.')
  if source not in SOURCES:
    raise ConfigError(f'Unknown source {source!r}; valid sources: {", ".join(SOURCES)}.')
  if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
    raise ConfigError(f'batch_size must be a positive integer, got {batch_size!r}.')
  batch_size = int(batch_size)

  if dataset_name in GENERATED_DATASETS:
    if source not in ('auto', 'generated', 'synthetic'):
      raise ConfigError(f'{dataset_name} is generated, not read: source must be one of '
                       f"'auto', 'generated', 'synthetic'; got {source!r}.")
    return _generated_dataset(dataset_name, batch_size,
                              synthetic_size if source == 'synthetic' else None)
  if source == 'generated':
    raise ConfigError(f"source='generated' only serves {GENERATED_DATASETS}; {dataset_name} "
                     "needs 'auto', 'files', 'tfds' or 'synthetic'.")

  if dataset_name == 'tolstoi':
    if source == 'tfds':
      raise ConfigError("tolstoi has no tensorflow-datasets source; use 'auto', 'files' or "
                       "'synthetic'.")
    if source == 'synthetic':
      ids, vocab = _synthetic_text(batch_size, synthetic_size)
      where = 'synthetic'
    else:
      _, path, _ = _locate(dataset_name, source, data_dir)
      ids, vocab = _read_tolstoi(path)
      where = f'files:{path}'
    return _text_dataset(ids, vocab, batch_size, where)

  if source == 'synthetic':
    raw, where = _synthetic_images(dataset_name, batch_size, synthetic_size), 'synthetic'
  else:
    kind, location, reader = _locate(dataset_name, source, data_dir)
    raw = reader()
    where = f'{kind}:{location}'
  return _image_dataset(dataset_name, raw, batch_size, where)


# ---------------------------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------------------------

def valid_size(dataset_name: str, num_train_official: int) -> int:
  """SPEC's validation size; scaled proportionally for files smaller than the official split.

  With the official split sizes this is exactly 10,000 (MNIST, Fashion-MNIST, CIFAR) or 26,032
  (SVHN). Smaller files (tests, synthetic data) keep the same fraction, at least 1 example.
  """
  official = OFFICIAL_SIZES[dataset_name][0]
  if num_train_official == official:
    return VALID_SIZES[dataset_name]
  return max(1, int(round(num_train_official * VALID_SIZES[dataset_name] / official)))


def _check_images(name: str, images: np.ndarray, labels: np.ndarray, where: str) -> None:
  shape = readers.IMAGE_SHAPES[name]
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != shape:
    raise readers.DataFormatError(f'{where}: images are {images.dtype} {images.shape}; expected '
                                  f'uint8 [N, {", ".join(map(str, shape))}].')
  if labels.shape != (images.shape[0],):
    raise readers.DataFormatError(f'{where}: labels have shape {labels.shape}; expected '
                                  f'[{images.shape[0]}] (one per image).')
  readers.check_labels(labels, readers.NUM_CLASSES[name], where)


def _image_dataset(name: str, raw: RawImages, batch_size: int, where: str) -> Dataset:
  """valid = first N of the official train split, train = the rest, test = official test,
  train_eval = the first len(test) examples of train (a fixed subset of the test set's size)."""
  (x, y), (tx, ty) = raw['train'], raw['test']
  _check_images(name, x, y, f'{where} (train)')
  _check_images(name, tx, ty, f'{where} (test)')
  n = x.shape[0]
  if n != OFFICIAL_SIZES[name][0] and where != 'synthetic':
    logging.warning('%s from %s has %d training examples (official: %d); validation scaled to '
                    '%d.', name, where, n, OFFICIAL_SIZES[name][0], valid_size(name, n))
  nv = valid_size(name, n)
  if nv >= n:
    raise readers.DataFormatError(f'{where}: only {n} training examples; need more than the '
                                  f'{nv} validation examples.')
  if batch_size > n - nv:
    raise ConfigError(f'batch_size {batch_size} is larger than the {name} training split '
                     f'({n - nv} examples from {where}).')
  train_eval_size = min(tx.shape[0], n - nv)
  return Dataset(
      name=name,
      train=_split(x[nv:], y[nv:]),
      train_eval=_split(x[nv:nv + train_eval_size], y[nv:nv + train_eval_size]),
      valid=_split(x[:nv], y[:nv]),
      test=_split(tx, ty),
      source=where, shuffle=True, batch_size=None, num_classes=readers.NUM_CLASSES[name])


def _text_dataset(ids: np.ndarray, vocabulary: tuple[str, ...], batch_size: int,
                  where: str) -> Dataset:
  """Contiguous train / valid / test blocks, each laid out in stateful char-rnn batches.

  train_eval = the first K batches of train, K = the number of test batches (so it holds as many
  characters as the evaluated test set and keeps the row continuity).
  """
  parts = text_lib.split_ids(ids)
  laid = {k: text_lib.char_rnn_batches(v, batch_size, split=f'{k} part of {where}')
          for k, v in parts.items()}
  test_rows = laid['test'][0].shape[0]
  k = min(test_rows, laid['train'][0].shape[0])
  return Dataset(
      name='tolstoi',
      train=_split(*laid['train']),
      train_eval=_split(laid['train'][0][:k], laid['train'][1][:k]),
      valid=_split(*laid['valid']),
      test=_split(*laid['test']),
      source=where, shuffle=False, batch_size=batch_size, num_classes=len(vocabulary),
      vocabulary=vocabulary)


def _generated_dataset(name: str, batch_size: int, size: Union[int, str, None]) -> Dataset:
  """quadratic_deep / two_d exactly as DeepOBS drew them; train_eval = the whole train set.

  `size` (source='synthetic' only) truncates every split to that many examples.
  """
  if name == 'quadratic_deep':
    train, test, valid = (generated.quadratic_deep_split(s) for s in (42, 43, 44))
  else:
    train, test, valid = (generated.two_d_split(s) for s in (42, None, 44))
  if isinstance(size, int):
    train, test, valid = train[:size], test[:size], valid[:size]
  if batch_size > train.shape[0]:
    raise ConfigError(f'batch_size {batch_size} is larger than the {name} training split '
                     f'({train.shape[0]} examples).')
  zeros = lambda a: np.zeros(a.shape[0], np.float32)
  train_split = _split(train, zeros(train))
  return Dataset(name=name, train=train_split, train_eval=train_split,
                 valid=_split(valid, zeros(valid)), test=_split(test, zeros(test)),
                 source='generated', shuffle=True)


def _split(inputs: np.ndarray, targets: np.ndarray) -> Split:
  return Split(inputs=jax.device_put(np.ascontiguousarray(inputs)),
               targets=jax.device_put(np.ascontiguousarray(targets)))


# ---------------------------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------------------------

def _synthetic_images(name: str, batch_size: int, size: Union[int, str, None]) -> RawImages:
  """Uniform random uint8 images and labels of the true shapes (fixed seed 0)."""
  official_train, official_test = OFFICIAL_SIZES[name]
  if size == 'full':
    n_train, n_test = official_train, official_test
  elif size is None or isinstance(size, (int, np.integer)):
    n_train = int(size) if size is not None else max(600, 6 * batch_size)
    if n_train < 2:
      raise ConfigError(f'synthetic_size must be at least 2, got {size}.')
    n_test = max(1, int(round(n_train * official_test / official_train)))
  else:
    raise ConfigError(f"synthetic_size must be an int, 'full' or None; got {size!r}.")
  rng = np.random.RandomState(0)
  shape = readers.IMAGE_SHAPES[name]
  classes = readers.NUM_CLASSES[name]
  def draw(n):
    return (rng.randint(0, 256, (n,) + shape, dtype=np.uint8),
            rng.randint(0, classes, n).astype(np.int32))
  return {'train': draw(n_train), 'test': draw(n_test)}


def _synthetic_text(batch_size: int, size: Union[int, str, None]
                    ) -> tuple[np.ndarray, tuple[str, ...]]:
  """Uniform random ids over a placeholder vocabulary of DeepOBS's size (fixed seed 0)."""
  if size == 'full':
    n = TOLSTOI_FULL_CHARS
  elif size is None:
    n = 20 * batch_size * text_lib.SEQ_LENGTH
  elif isinstance(size, (int, np.integer)):
    n = int(size)
  else:
    raise ConfigError(f"synthetic_size must be an int, 'full' or None; got {size!r}.")
  ids = np.random.RandomState(0).randint(0, TOLSTOI_VOCAB_SIZE, n).astype(np.int32)
  return ids, tuple(chr(33 + i) for i in range(TOLSTOI_VOCAB_SIZE))


# ---------------------------------------------------------------------------------------------
# Locating the data
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Candidate:
  kind: str       # 'files' or 'tfds'
  directory: str
  origin: str     # why we look there, for the error message


def _candidates(name: str, source: str, data_dir: Optional[str]) -> list[_Candidate]:
  """Every place searched, in lookup order."""
  roots: list[tuple[str, str]] = []
  if data_dir:
    roots.append((os.path.expanduser(data_dir), 'data_dir argument'))
  elif os.environ.get('JAXBENCH_DATA_DIR'):
    roots.append((os.path.expanduser(os.environ['JAXBENCH_DATA_DIR']), '$JAXBENCH_DATA_DIR'))
  out: list[_Candidate] = []
  for root, origin in roots:
    if source in ('auto', 'files'):
      out += [_Candidate('files', os.path.join(root, sub), origin) for sub in SUBFOLDERS[name]]
      out.append(_Candidate('files', root, origin))
    if source in ('auto', 'tfds') and name in TFDS_NAMES:
      out.append(_Candidate('tfds', root, origin))
  if data_dir:
    return out   # an explicit folder is used or fails: no fallback to another copy
  if source in ('auto', 'tfds') and name in TFDS_NAMES:
    tfds_dir = os.environ.get('TFDS_DATA_DIR') or os.path.join('~', 'tensorflow_datasets')
    out.append(_Candidate('tfds', os.path.expanduser(tfds_dir), 'tensorflow-datasets data dir'))
  if source in ('auto', 'files'):
    user = os.path.expanduser(DEFAULT_USER_DIR)
    out += [_Candidate('files', os.path.join(user, sub), 'default folder')
            for sub in SUBFOLDERS[name]]
    out += [_Candidate('files', d, 'system location') for d in SYSTEM_DIRS.get(name, ())]
  return out


def _file_reader(name: str, directory: str) -> Optional[Callable[[], object]]:
  """A reader for the original files of `name` in `directory`, or None if they are not there."""
  if not os.path.isdir(directory):
    return None
  if name in ('mnist', 'fashion_mnist'):
    paths = {}
    for split, stems in IDX_FILES.items():
      found = []
      for stem in stems:
        options = [os.path.join(directory, stem + ext) for ext in ('.gz', '')]
        options = [p for p in options if os.path.isfile(p)]
        if not options:
          return None
        found.append(options[0])
      paths[split] = found
    return lambda: {split: (readers.read_idx_images(p[0]), readers.read_idx_labels(p[1]))
                    for split, p in paths.items()}
  if name in ('cifar10', 'cifar100'):
    spec = readers.CIFAR_FILES[name]
    files = spec['train'] + spec['test']
    if (os.path.isfile(os.path.join(directory, spec['archive'])) or
        any(all(os.path.isfile(os.path.join(d, f)) for f in files)
            for d in (os.path.join(directory, spec['folder']), directory))):
      return lambda: {split: xy for split, xy in readers.read_cifar(name, directory).items()}
    return None
  if name == 'svhn':
    paths = {s: os.path.join(directory, f) for s, f in readers.SVHN_FILES.items()}
    if all(os.path.isfile(p) for p in paths.values()):
      return lambda: {s: readers.read_svhn_mat(p) for s, p in paths.items()}
    return None
  if name == 'tolstoi':
    for fname in readers.TOLSTOI_FILES:
      path = os.path.join(directory, fname)
      if os.path.isfile(path):
        return lambda: path
    return None
  raise ConfigError(f'no file reader for {name!r}')


def _tfds_prepared(name: str, directory: str) -> bool:
  """True if `directory` holds a prepared array_record copy of the tfds dataset."""
  base = os.path.join(directory, TFDS_NAMES[name])
  for info in glob.glob(os.path.join(base, '*', 'dataset_info.json')):
    if glob.glob(os.path.join(os.path.dirname(info), '*.array_record*')):
      return True
  return False


def _tfds_reader(name: str, directory: Optional[str]) -> Callable[[], RawImages]:
  return lambda: _read_tfds(name, directory)


def _read_tfds(name: str, directory: Optional[str]) -> RawImages:
  """Reads a prepared tensorflow-datasets copy through `tfds.data_source` (no TensorFlow)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top (slow import)
  tfds_name = TFDS_NAMES[name]
  out = {}
  for split in ('train', 'test'):
    try:
      source = tfds.data_source(tfds_name, split=split, data_dir=directory, download=False)
    except Exception as e:  # tfds raises several types for missing / TFRecord-only copies
      raise DataNotFoundError(
          f'tensorflow-datasets could not open {tfds_name} split {split!r} in '
          f'{directory or "its default data dir"} ({type(e).__name__}: {str(e)[:300]}).\n'
          + _instructions(name)) from e
    n = len(source)
    images = np.empty((n,) + readers.IMAGE_SHAPES[name], np.uint8)
    labels = np.empty((n,), np.int32)
    for start in range(0, n, 1024):
      keys = list(range(start, min(n, start + 1024)))
      try:
        records = source.__getitems__(keys)
      except (TypeError, AttributeError):  # mocked sources only support single lookups
        records = [source[i] for i in keys]
      for i, record in zip(keys, records):
        images[i] = np.asarray(record['image'])
        labels[i] = int(record['label'])
    out[split] = (images, labels)
  return out


def _locate(name: str, source: str, data_dir: Optional[str]):
  """(kind, location, reader) of the first candidate that holds the data."""
  candidates = _candidates(name, source, data_dir)
  for c in candidates:
    if c.kind == 'files':
      reader = _file_reader(name, c.directory)
      if reader is not None:
        if name == 'tolstoi':
          return ('files', reader(), reader)
        return ('files', c.directory, reader)
    elif _tfds_prepared(name, c.directory):
      return ('tfds', c.directory, _tfds_reader(name, c.directory))
  if source == 'tfds':
    # Nothing prepared on disk that we can see: let tfds try its own lookup (its default data
    # dir, or a mocked builder in tests); its failure becomes our error message.
    directory = os.path.expanduser(data_dir) if data_dir else None
    return ('tfds', directory or 'default', _tfds_reader(name, directory))
  if data_dir:
    raise DataNotFoundError(_explicit_dir_message(name, source, os.path.expanduser(data_dir)))
  raise DataNotFoundError(_missing_message(name, source, candidates))


# ---------------------------------------------------------------------------------------------
# The missing-data message
# ---------------------------------------------------------------------------------------------

_URLS = {
    'mnist': 'https://storage.googleapis.com/cvdf-datasets/mnist/',
    'fashion_mnist': 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
}


def _expected_files(name: str) -> list[str]:
  if name in ('mnist', 'fashion_mnist'):
    return [f'{stem}.gz (or uncompressed)' for stems in IDX_FILES.values() for stem in stems]
  if name in ('cifar10', 'cifar100'):
    spec = readers.CIFAR_FILES[name]
    return [f'{spec["archive"]}, or its extracted {spec["folder"]}/'
            f'{{{",".join(spec["train"] + spec["test"])}}}']
  if name == 'svhn':
    return list(readers.SVHN_FILES.values())
  return [' or '.join(readers.TOLSTOI_FILES)]


def _instructions(name: str) -> str:
  target = f'~/jaxbench_data/{SUBFOLDERS[name][0]}'
  lines = ['To obtain it, run one of:']
  if name == 'fashion_mnist':
    lines.append('  sudo apt-get install dataset-fashion-mnist   '
                 '# Debian/Ubuntu; found automatically in /usr/share/datasets/fashion-mnist')
  if name in ('mnist', 'fashion_mnist'):
    files = [stem + '.gz' for stems in IDX_FILES.values() for stem in stems]
    lines.append(f'  mkdir -p {target} && for f in {" ".join(files)}; do '
                 f'curl -L {_URLS[name]}$f -o {target}/$f; done')
  elif name in ('cifar10', 'cifar100'):
    archive = readers.CIFAR_FILES[name]['archive']
    lines.append(f'  mkdir -p {target} && curl -L https://www.cs.toronto.edu/~kriz/{archive} '
                 f'-o {target}/{archive}')
  elif name == 'svhn':
    lines.append(f'  mkdir -p {target} && for f in train_32x32.mat test_32x32.mat; do '
                 f'curl -L http://ufldl.stanford.edu/housenumbers/$f -o {target}/$f; done')
  elif name == 'tolstoi':
    lines.append(f'  mkdir -p {target} && curl -L https://www.gutenberg.org/cache/epub/2600/'
                 f'pg2600.txt -o {target}/war_and_peace.txt')
  if name in TFDS_NAMES:
    lines.append(
        "  pip install 'jaxbench[prepare]' && python -c \"import tensorflow_datasets as tfds; "
        f"tfds.data_source('{TFDS_NAMES[name]}')\"   # downloading and preparing needs "
        'TensorFlow (the prepare extra); data_source writes the array_record format that '
        'jaxbench reads without TensorFlow (tfds.load writes TFRecord, which it cannot read)')
  lines.append('or point jaxbench at an existing copy with data_dir=... or '
               '$JAXBENCH_DATA_DIR (files directly in it or in a subfolder named '
               f'{" / ".join(SUBFOLDERS[name])}).')
  return '\n'.join(lines)


def _missing_in(name: str, directory: str) -> list[str]:
  """The expected files of `name` that `directory` lacks (any one form of each suffices)."""
  has = lambda f: os.path.isfile(os.path.join(directory, f))
  if name in ('mnist', 'fashion_mnist'):
    return [stem + '.gz' for stems in IDX_FILES.values() for stem in stems
            if not (has(stem + '.gz') or has(stem))]
  if name in ('cifar10', 'cifar100'):
    spec = readers.CIFAR_FILES[name]
    extracted = [os.path.join(spec['folder'], f) for f in spec['train'] + spec['test']]
    return [] if has(spec['archive']) or all(map(has, extracted)) else [
        f'{spec["archive"]} (or the extracted {", ".join(extracted)})']
  if name == 'svhn':
    return [f for f in readers.SVHN_FILES.values() if not has(f)]
  return [] if any(map(has, readers.TOLSTOI_FILES)) else [' or '.join(readers.TOLSTOI_FILES)]


def _explicit_dir_message(name: str, source: str, data_dir: str) -> str:
  """An explicit data_dir is used or fails: say what it lacks (no other place is searched)."""
  if not os.path.isdir(data_dir):
    head = f'data_dir {data_dir} does not exist (dataset {name!r}, source={source!r}).'
  else:
    folders = [data_dir] + [os.path.join(data_dir, sub) for sub in SUBFOLDERS[name]]
    missing = '; '.join(f'{folder} lacks {", ".join(_missing_in(name, folder))}'
                        for folder in folders if os.path.isdir(folder))
    head = (f'data_dir {data_dir} does not hold dataset {name!r} (source={source!r}): '
            f'{missing}.')
    if name in TFDS_NAMES and source in ('auto', 'tfds'):
      head += (f' Nor a prepared tensorflow-datasets copy {data_dir}/{TFDS_NAMES[name]}/'
               '<version>/ with *.array_record files.')
  return '\n'.join([head, 'An explicit data_dir is the only place searched; fix it or leave '
                    'it unset to use the default lookup.', _instructions(name)])


def _missing_message(name: str, source: str, candidates: list[_Candidate]) -> str:
  lines = [f'Dataset {name!r} not found (source={source!r}).',
           'Looked for the original files: ' + '; '.join(_expected_files(name))]
  if name in TFDS_NAMES:
    lines.append(f'or a prepared tensorflow-datasets copy: <dir>/{TFDS_NAMES[name]}/<version>/'
                 'dataset_info.json with *.array_record files')
  lines.append('in these places, in this order:')
  lines += [f'  {c.directory}  ({c.kind}; {c.origin})' for c in candidates]
  lines.append(_instructions(name))
  return '\n'.join(lines)


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------

def _read_tolstoi(path: str) -> tuple[np.ndarray, tuple[str, ...]]:
  """The text's own vocabulary: the Dataset's num_classes, which sizes the char-RNN's model
  (the engine builds tolstoi_char_rnn with it; DeepOBS's copy has 83 characters)."""
  text = readers.strip_gutenberg(readers.read_text(path))
  vocabulary = readers.char_vocabulary(text)
  if len(vocabulary) != TOLSTOI_VOCAB_SIZE:
    logging.warning('%s: vocabulary has %d characters (DeepOBS\'s copy: %d); the model is '
                    'built for %d.', path, len(vocabulary), TOLSTOI_VOCAB_SIZE, len(vocabulary))
  return readers.encode_text(text, vocabulary), vocabulary
