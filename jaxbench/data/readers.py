"""Readers for the datasets' original file formats, returning numpy arrays.

Every reader validates what it reads (magic numbers, dimensions, dtypes, lengths) and raises
`DataFormatError` naming the file and what was expected, so a wrong or truncated download fails
before any training starts.
"""
from __future__ import annotations

import gzip
import os
import pickle
import tarfile
from typing import Optional

import numpy as np

from jaxbench.data.specs import SPECS
from jaxbench.errors import DataError

IMAGE_DATASETS = ('mnist', 'fashion_mnist', 'cifar10', 'cifar100', 'svhn')
IMAGE_SHAPES = {name: SPECS[name].input_shape for name in IMAGE_DATASETS}
NUM_CLASSES = {name: SPECS[name].num_classes for name in IMAGE_DATASETS}


class DataFormatError(DataError, ValueError):
  """A data file exists but is not in the expected format (or is truncated)."""


# ---------------------------------------------------------------------------------------------
# IDX (MNIST, Fashion-MNIST)
# ---------------------------------------------------------------------------------------------

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype('>i2'), 0x0C: np.dtype('>i4'),
               0x0D: np.dtype('>f4'), 0x0E: np.dtype('>f8')}


def _read_maybe_gzip(path: str) -> bytes:
  with open(path, 'rb') as f:
    raw = f.read()
  if raw[:2] == b'\x1f\x8b':  # gzip magic: decide by content, not by the file name
    try:
      return gzip.decompress(raw)
    except (EOFError, OSError, gzip.BadGzipFile) as e:
      raise DataFormatError(f'{path}: corrupt or truncated gzip file ({e}).') from e
  return raw


def _idx_code_names() -> str:
  return ', '.join(f'0x{code:02x} ({np.dtype(dtype).name})' for code, dtype in _IDX_DTYPES.items())


def read_idx(path: str, *, expected_ndim: Optional[int] = None,
             expected_dims: Optional[tuple] = None,
             expected_dtype: Optional[np.dtype] = None) -> np.ndarray:
  """Reads an IDX file (raw or gzip-compressed), checking its header against its length.

  Header: two zero bytes, a dtype code, the number of dimensions, then one big-endian uint32 per
  dimension. MNIST images are magic 0x00000803 (uint8, 3 dims), labels 0x00000801.
  expected_dims may hold None for "any size" along an axis. expected_dtype is checked against
  the header's dtype code before the length, so a damaged code is reported as such and not as
  a truncated file.
  """
  data = _read_maybe_gzip(path)
  if len(data) < 4:
    raise DataFormatError(f'{path}: too short ({len(data)} bytes) to hold an IDX header.')
  if data[0] != 0 or data[1] != 0:
    raise DataFormatError(
        f'{path}: bad IDX magic number 0x{data[:4].hex()}; expected 0x000008NN '
        f'(e.g. 0x00000803 for images, 0x00000801 for labels).')
  if data[2] not in _IDX_DTYPES:
    raise DataFormatError(f'{path}: bad IDX dtype code 0x{data[2]:02x}; valid codes: '
                          f'{_idx_code_names()}.')
  dtype = np.dtype(_IDX_DTYPES[data[2]])
  if expected_dtype is not None and dtype.newbyteorder('=') != np.dtype(expected_dtype):
    raise DataFormatError(f'{path}: IDX dtype code 0x{data[2]:02x} ({dtype.name}); expected '
                          f'{np.dtype(expected_dtype).name}. Valid codes: {_idx_code_names()}.')
  ndim = data[3]
  if expected_ndim is not None and ndim != expected_ndim:
    raise DataFormatError(
        f'{path}: IDX magic 0x{data[:4].hex()} says {ndim} dimensions; expected {expected_ndim}.')
  header = 4 + 4 * ndim
  if len(data) < header:
    raise DataFormatError(f'{path}: truncated IDX header.')
  dims = tuple(int(d) for d in np.frombuffer(data, dtype='>u4', count=ndim, offset=4))
  if expected_dims is not None:
    if len(expected_dims) != ndim or any(
        e is not None and e != d for e, d in zip(expected_dims, dims)):
      raise DataFormatError(f'{path}: IDX dimensions {dims}; expected {expected_dims} '
                            '(None = any size).')
  count = int(np.prod(dims)) if dims else 1
  expected_bytes = header + count * dtype.itemsize
  if len(data) < expected_bytes:
    raise DataFormatError(f'{path}: truncated: {len(data)} bytes, the header {dims} needs '
                          f'{expected_bytes}.')
  if len(data) > expected_bytes:
    raise DataFormatError(f'{path}: {len(data) - expected_bytes} unexpected trailing bytes after '
                          f'{dims} values.')
  array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
  return array.astype(dtype.newbyteorder('='))


def read_idx_images(path: str, height: int = 28, width: int = 28) -> np.ndarray:
  """IDX images -> uint8 [N, H, W, 1]."""
  images = read_idx(path, expected_ndim=3, expected_dims=(None, height, width),
                    expected_dtype=np.uint8)
  return images[..., None]


def read_idx_labels(path: str, num_classes: int = 10) -> np.ndarray:
  """IDX labels -> int32 [N], checked to lie in [0, num_classes)."""
  labels = read_idx(path, expected_ndim=1, expected_dtype=np.uint8)
  return check_labels(labels.astype(np.int32), num_classes, path)


def check_labels(labels: np.ndarray, num_classes: int, where: str) -> np.ndarray:
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    raise DataFormatError(f'{where}: labels range [{labels.min()}, {labels.max()}] is outside '
                          f'[0, {num_classes - 1}].')
  return labels



# ---------------------------------------------------------------------------------------------
# CIFAR-10/100, python version
# ---------------------------------------------------------------------------------------------

CIFAR_FILES = {
    'cifar10': {'archive': 'cifar-10-python.tar.gz', 'folder': 'cifar-10-batches-py',
                'train': [f'data_batch_{i}' for i in range(1, 6)], 'test': ['test_batch'],
                'label_key': b'labels'},
    'cifar100': {'archive': 'cifar-100-python.tar.gz', 'folder': 'cifar-100-python',
                 'train': ['train'], 'test': ['test'], 'label_key': b'fine_labels'},
}


def parse_cifar_batch(payload: bytes, name: str, where: str) -> tuple[np.ndarray, np.ndarray]:
  """One pickled CIFAR batch -> (uint8 [N, 32, 32, 3], int32 [N])."""
  try:
    batch = pickle.loads(payload, encoding='bytes')
  except Exception as e:  # pickle raises many types on truncated/corrupt input
    raise DataFormatError(f'{where}: not a readable CIFAR python batch (truncated or corrupt '
                          f'pickle: {type(e).__name__}: {e}).') from e
  if not isinstance(batch, dict):
    raise DataFormatError(f'{where}: expected a pickled dict, got {type(batch).__name__}.')
  label_key = CIFAR_FILES[name]['label_key']
  # Accept str keys too (files re-pickled under Python 3).
  batch = {(k.encode() if isinstance(k, str) else k): v for k, v in batch.items()}
  if b'data' not in batch or label_key not in batch:
    raise DataFormatError(f'{where}: missing keys; need {b"data"!r} and {label_key!r}, found '
                          f'{sorted(batch)}.')
  data = np.asarray(batch[b'data'])
  labels = np.asarray(batch[label_key])
  if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
    raise DataFormatError(f'{where}: data is {data.dtype} {data.shape}; expected uint8 '
                          '[N, 3072] (row-major CHW 3x32x32).')
  if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
    raise DataFormatError(f'{where}: {labels.shape} labels for {data.shape[0]} images.')
  if not np.issubdtype(labels.dtype, np.integer):
    raise DataFormatError(f'{where}: labels have dtype {labels.dtype}; expected integers.')
  images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  labels = check_labels(labels.astype(np.int32), NUM_CLASSES[name], where)
  return np.ascontiguousarray(images), labels


def read_cifar(name: str, directory: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """Reads CIFAR-10/100 from the python-version archive or its extracted batch files.

  Looks, in order, for `<dir>/<archive>`, `<dir>/<folder>/<batches>` and `<dir>/<batches>`.
  Returns {'train': (images, labels), 'test': (images, labels)}.
  """
  spec = CIFAR_FILES[name]
  archive = os.path.join(directory, spec['archive'])
  if os.path.isfile(archive):
    return _read_cifar_archive(name, archive)
  for folder in (os.path.join(directory, spec['folder']), directory):
    if all(os.path.isfile(os.path.join(folder, f)) for f in spec['train'] + spec['test']):
      out = {}
      for split in ('train', 'test'):
        parts = []
        for fname in spec[split]:
          path = os.path.join(folder, fname)
          with open(path, 'rb') as f:
            parts.append(parse_cifar_batch(f.read(), name, path))
        out[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
      return out
  raise FileNotFoundError(f'no {name} files in {directory}')


def _read_cifar_archive(name: str, archive: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  spec = CIFAR_FILES[name]
  members = {}
  try:
    with tarfile.open(archive, 'r:*') as tar:
      for member in tar:
        base = os.path.basename(member.name)
        if member.isfile() and base in spec['train'] + spec['test']:
          members[base] = tar.extractfile(member).read()
  except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as e:
    raise DataFormatError(f'{archive}: corrupt or truncated archive ({type(e).__name__}: {e}).'
                          ) from e
  missing = [f for f in spec['train'] + spec['test'] if f not in members]
  if missing:
    raise DataFormatError(f'{archive}: archive lacks {missing} (is it the python version, '
                          f'{spec["archive"]}?).')
  out = {}
  for split in ('train', 'test'):
    parts = [parse_cifar_batch(members[f], name, f'{archive}:{f}') for f in spec[split]]
    out[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
  return out



# ---------------------------------------------------------------------------------------------
# SVHN cropped digits (.mat)
# ---------------------------------------------------------------------------------------------

SVHN_FILES = {'train': 'train_32x32.mat', 'test': 'test_32x32.mat'}


def read_svhn_mat(path: str) -> tuple[np.ndarray, np.ndarray]:
  """train_32x32.mat / test_32x32.mat -> (uint8 [N, 32, 32, 3], int32 [N]); label 10 -> 0."""
  import scipy.io  # pylint: disable=g-import-not-at-top  (only SVHN needs scipy)
  try:
    mat = scipy.io.loadmat(path)
  except Exception as e:  # scipy raises ValueError/TypeError/OSError on bad files
    raise DataFormatError(f'{path}: not a readable MATLAB file (truncated or corrupt: '
                          f'{type(e).__name__}: {e}).') from e
  if 'X' not in mat or 'y' not in mat:
    raise DataFormatError(f'{path}: needs variables X and y; found '
                          f'{sorted(k for k in mat if not k.startswith("__"))}.')
  x, y = np.asarray(mat['X']), np.asarray(mat['y'])
  if x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (32, 32, 3):
    raise DataFormatError(f'{path}: X is {x.dtype} {x.shape}; expected uint8 [32, 32, 3, N].')
  y = y.reshape(-1)
  if y.shape[0] != x.shape[3]:
    raise DataFormatError(f'{path}: {y.shape[0]} labels for {x.shape[3]} images.')
  if y.size and (y.min() < 1 or y.max() > 10):
    raise DataFormatError(f'{path}: labels range [{y.min()}, {y.max()}]; SVHN uses 1..10 '
                          '(10 = digit 0).')
  labels = np.where(y == 10, 0, y).astype(np.int32)
  images = np.ascontiguousarray(x.transpose(3, 0, 1, 2))
  return images, labels


# ---------------------------------------------------------------------------------------------
# War and Peace (plain text)
# ---------------------------------------------------------------------------------------------

TOLSTOI_FILES = ('war_and_peace.txt', 'pg2600.txt', '2600-0.txt', 'input.txt')


def read_text(path: str) -> str:
  """Reads UTF-8 text; drops a byte-order mark and normalises CRLF/CR line ends to LF."""
  with open(path, 'rb') as f:
    raw = f.read()
  try:
    text = raw.decode('utf-8-sig')
  except UnicodeDecodeError as e:
    raise DataFormatError(f'{path}: not UTF-8 text ({e}).') from e
  return text.replace('\r\n', '\n').replace('\r', '\n')


def strip_gutenberg(text: str) -> str:
  """Removes Project Gutenberg's header, licence and the table of contents.

  Rule (documented in BUILD_NOTES.md):
  1. Keep the text strictly between the line starting '*** START OF' and the line starting
     '*** END OF' (the Gutenberg markers). Without markers the text is taken as already clean
     (e.g. DeepOBS's prepared input.txt).
  2. Table of contents: if a line reading 'Contents' (any case) appears, the first non-empty line
     after it is the first entry (e.g. 'BOOK ONE: 1805'); the contents run up to the next
     occurrence of that same line, where the novel starts. Lines before 'Contents' (the title)
     are kept, as DeepOBS's sed commands kept them.
  3. Leading and trailing blank lines are removed; the text ends with one newline.
  """
  lines = text.split('\n')
  start = next((i for i, l in enumerate(lines) if l.lstrip().startswith('*** START OF')), None)
  end = next((i for i, l in enumerate(lines) if l.lstrip().startswith('*** END OF')), None)
  if start is not None:
    lines = lines[start + 1:(end if end is not None and end > start else len(lines))]
  contents = next((i for i, l in enumerate(lines) if l.strip().lower() == 'contents'), None)
  if contents is not None:
    first = next((i for i in range(contents + 1, len(lines)) if lines[i].strip()), None)
    if first is not None:
      entry = lines[first].strip()
      body = next((i for i in range(first + 1, len(lines)) if lines[i].strip() == entry), None)
      if body is not None:
        lines = lines[:contents] + lines[body:]
  while lines and not lines[0].strip():
    lines.pop(0)
  while lines and not lines[-1].strip():
    lines.pop()
  return '\n'.join(lines) + '\n'


def char_vocabulary(text: str) -> tuple[str, ...]:
  """Distinct characters by descending count, ties in order of first appearance.

  Matches DeepOBS's `sorted(Counter(text).items(), key=lambda x: -x[1])`: Counter keeps first-
  appearance order and Python's sort is stable.
  """
  codes = np.frombuffer(text.encode('utf-32-le'), dtype=np.uint32)
  uniq, first, count = np.unique(codes, return_index=True, return_counts=True)
  order = np.lexsort((first, -count))  # last key is primary: count desc, then first appearance
  return tuple(chr(int(u)) for u in uniq[order])


def encode_text(text: str, vocabulary: tuple[str, ...]) -> np.ndarray:
  """Text -> int32 ids under `vocabulary`."""
  codes = np.frombuffer(text.encode('utf-32-le'), dtype=np.uint32)
  vocab_codes = np.array([ord(c) for c in vocabulary], dtype=np.uint32)
  order = np.argsort(vocab_codes)
  pos = np.searchsorted(vocab_codes[order], codes)
  pos = np.minimum(pos, len(vocab_codes) - 1)
  if not np.all(vocab_codes[order][pos] == codes):
    raise ValueError('text contains characters outside the vocabulary')
  return order[pos].astype(np.int32)
