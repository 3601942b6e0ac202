"""File-format readers, on small files written here in the exact original formats."""
from __future__ import annotations

import collections
import gzip
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import scipy.io

from jaxbench.data import readers
from jaxbench.data import text as text_lib
from jaxbench.data.readers import DataFormatError


def idx_bytes(array: np.ndarray, magic_type: int = 0x08) -> bytes:
  """IDX written by hand: 0x00 0x00 <type> <ndim>, big-endian uint32 dims, then the data."""
  header = struct.pack('>BBBB', 0, 0, magic_type, array.ndim)
  header += b''.join(struct.pack('>I', d) for d in array.shape)
  return header + array.astype(np.uint8).tobytes()


def write(path, payload: bytes, gz: bool = False):
  with open(path, 'wb') as f:
    f.write(gzip.compress(payload) if gz else payload)
  return str(path)


@pytest.mark.parametrize('gz', [True, False])
def test_idx_round_trip(tmp_path, gz):
  rng = np.random.RandomState(0)
  images = rng.randint(0, 256, (7, 28, 28)).astype(np.uint8)
  labels = rng.randint(0, 10, 7).astype(np.uint8)
  ipath = write(tmp_path / 'img', idx_bytes(images), gz)
  lpath = write(tmp_path / 'lab', idx_bytes(labels), gz)
  got = readers.read_idx_images(ipath)
  assert got.shape == (7, 28, 28, 1) and got.dtype == np.uint8
  np.testing.assert_array_equal(got[..., 0], images)
  got_labels = readers.read_idx_labels(lpath)
  assert got_labels.dtype == np.int32
  np.testing.assert_array_equal(got_labels, labels)


def test_idx_errors(tmp_path):
  images = np.zeros((3, 28, 28), np.uint8)
  good = idx_bytes(images)
  bad_magic = write(tmp_path / 'm', b'\x01\x02' + good[2:])
  with pytest.raises(DataFormatError, match='magic'):
    readers.read_idx_images(bad_magic)
  truncated = write(tmp_path / 't', good[:-5])
  with pytest.raises(DataFormatError, match='truncated'):
    readers.read_idx_images(truncated)
  trailing = write(tmp_path / 'x', good + b'\x00')
  with pytest.raises(DataFormatError, match='trailing'):
    readers.read_idx_images(trailing)
  wrong_dims = write(tmp_path / 'd', idx_bytes(np.zeros((3, 27, 28), np.uint8)))
  with pytest.raises(DataFormatError, match='dimensions'):
    readers.read_idx_images(wrong_dims)
  labels_as_images = write(tmp_path / 'l', idx_bytes(np.zeros(5, np.uint8)))
  with pytest.raises(DataFormatError, match='1 dimensions; expected 3'):
    readers.read_idx_images(labels_as_images)
  int32_images = write(tmp_path / 'i', struct.pack('>BBBB', 0, 0, 0x0C, 3) +
                       struct.pack('>III', 1, 28, 28) + np.zeros(784, '>i4').tobytes())
  with pytest.raises(DataFormatError, match='expected uint8'):
    readers.read_idx_images(int32_images)
  # A uint8 file whose dtype byte was damaged to int32's code: a dtype error, not "truncated".
  damaged_code = write(tmp_path / 'c', good[:2] + b'\x0c' + good[3:])
  with pytest.raises(DataFormatError, match=r'dtype code 0x0c \(int32\); expected uint8\. '
                     r'Valid codes: 0x08 \(uint8\), 0x09 \(int8\)'):
    readers.read_idx_images(damaged_code)
  unknown_code = write(tmp_path / 'u', good[:2] + b'\x07' + good[3:])
  with pytest.raises(DataFormatError, match=r'bad IDX dtype code 0x07; valid codes: 0x08'):
    readers.read_idx_images(unknown_code)
  bad_labels = write(tmp_path / 'bl', idx_bytes(np.array([0, 3, 12], np.uint8)))
  with pytest.raises(DataFormatError, match=r'\[0, 12\]'):
    readers.read_idx_labels(bad_labels)
  cut_gzip = write(tmp_path / 'g.gz', gzip.compress(good)[:-20])
  with pytest.raises(DataFormatError, match='gzip'):
    readers.read_idx_images(cut_gzip)


def cifar_pickle(images_nhwc: np.ndarray, labels, label_key=b'labels') -> bytes:
  # The original layout: each row is 1024 red, then 1024 green, then 1024 blue values, row-major.
  n = images_nhwc.shape[0]
  rows = np.empty((n, 3072), np.uint8)
  for i in range(n):
    for c in range(3):
      rows[i, c * 1024:(c + 1) * 1024] = images_nhwc[i, :, :, c].reshape(-1)
  return pickle.dumps({b'batch_label': b'x', b'data': rows, label_key: list(labels),
                       b'filenames': [b'f'] * n}, protocol=2)


def make_cifar10(tmp_path, per_batch=3, archive=False):
  rng = np.random.RandomState(1)
  folder = tmp_path / 'cifar-10-batches-py'
  folder.mkdir(parents=True)
  expected = {'train': ([], []), 'test': ([], [])}
  names = [(f'data_batch_{i}', 'train') for i in range(1, 6)] + [('test_batch', 'test')]
  for name, split in names:
    imgs = rng.randint(0, 256, (per_batch, 32, 32, 3)).astype(np.uint8)
    labs = rng.randint(0, 10, per_batch)
    write(folder / name, cifar_pickle(imgs, labs))
    expected[split][0].append(imgs)
    expected[split][1].append(labs)
  if archive:
    with tarfile.open(tmp_path / 'cifar-10-python.tar.gz', 'w:gz') as tar:
      tar.add(folder, arcname='cifar-10-batches-py')
    for name, _ in names:
      os.remove(folder / name)
    folder.rmdir()
  return {k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in expected.items()}


@pytest.mark.parametrize('archive', [False, True])
def test_cifar10_batches_and_archive(tmp_path, archive):
  expected = make_cifar10(tmp_path, archive=archive)
  got = readers.read_cifar('cifar10', str(tmp_path))
  for split in ('train', 'test'):
    np.testing.assert_array_equal(got[split][0], expected[split][0])
    np.testing.assert_array_equal(got[split][1], expected[split][1])
    assert got[split][0].shape[1:] == (32, 32, 3) and got[split][1].dtype == np.int32
  assert got['train'][0].shape[0] == 15 and got['test'][0].shape[0] == 3
  # A single pixel checked against the CHW row-major byte layout: red of pixel (h=2, w=5).
  with open_member(tmp_path, archive, 'data_batch_1') as payload:
    row = pickle.loads(payload, encoding='bytes')[b'data'][0]
  assert got['train'][0][0, 2, 5, 0] == row[0 * 1024 + 2 * 32 + 5]
  assert got['train'][0][0, 2, 5, 2] == row[2 * 1024 + 2 * 32 + 5]


class open_member:  # pylint: disable=invalid-name
  def __init__(self, tmp_path, archive, name):
    self.tmp_path, self.archive, self.name = tmp_path, archive, name

  def __enter__(self):
    if self.archive:
      with tarfile.open(self.tmp_path / 'cifar-10-python.tar.gz') as tar:
        return tar.extractfile(f'cifar-10-batches-py/{self.name}').read()
    return (self.tmp_path / 'cifar-10-batches-py' / self.name).read_bytes()

  def __exit__(self, *args):
    return False


def test_cifar100_fine_labels(tmp_path):
  rng = np.random.RandomState(2)
  folder = tmp_path / 'cifar-100-python'
  folder.mkdir()
  train = rng.randint(0, 256, (4, 32, 32, 3)).astype(np.uint8)
  test = rng.randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
  write(folder / 'train', cifar_pickle(train, [99, 0, 57, 3], b'fine_labels'))
  write(folder / 'test', cifar_pickle(test, [1, 98], b'fine_labels'))
  got = readers.read_cifar('cifar100', str(tmp_path))
  np.testing.assert_array_equal(got['train'][0], train)
  np.testing.assert_array_equal(got['train'][1], [99, 0, 57, 3])
  np.testing.assert_array_equal(got['test'][1], [1, 98])


def test_cifar_errors(tmp_path):
  make_cifar10(tmp_path, archive=True)
  archive = tmp_path / 'cifar-10-python.tar.gz'
  payload = archive.read_bytes()
  archive.write_bytes(payload[:len(payload) // 2])
  with pytest.raises(DataFormatError, match='truncated'):
    readers.read_cifar('cifar10', str(tmp_path))
  with pytest.raises(DataFormatError, match=r'expected uint8 \[N, 3072\]'):
    readers.parse_cifar_batch(pickle.dumps({b'data': np.zeros((2, 3000), np.uint8),
                                            b'labels': [0, 1]}), 'cifar10', 'x')
  with pytest.raises(DataFormatError, match='missing keys'):
    readers.parse_cifar_batch(pickle.dumps({b'data': np.zeros((2, 3072), np.uint8)}),
                              'cifar10', 'x')
  with pytest.raises(DataFormatError, match='truncated or corrupt'):
    readers.parse_cifar_batch(pickle.dumps({b'data': b'x' * 100})[:30], 'cifar10', 'x')
  with pytest.raises(DataFormatError, match=r'\[0, 10\]'):
    readers.parse_cifar_batch(pickle.dumps({b'data': np.zeros((2, 3072), np.uint8),
                                            b'labels': [0, 10]}), 'cifar10', 'x')


def test_svhn_mat(tmp_path):
  rng = np.random.RandomState(3)
  x = rng.randint(0, 256, (32, 32, 3, 5)).astype(np.uint8)
  y = np.array([[10], [1], [9], [10], [5]], np.uint8)
  path = str(tmp_path / 'train_32x32.mat')
  scipy.io.savemat(path, {'X': x, 'y': y})
  images, labels = readers.read_svhn_mat(path)
  assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
  np.testing.assert_array_equal(images[3], x[:, :, :, 3])
  np.testing.assert_array_equal(labels, [0, 1, 9, 0, 5])  # 10 means the digit 0
  bad = str(tmp_path / 'bad.mat')
  scipy.io.savemat(bad, {'X': x[:, :, :2], 'y': y})
  with pytest.raises(DataFormatError, match=r'expected uint8 \[32, 32, 3, N\]'):
    readers.read_svhn_mat(bad)
  cut = tmp_path / 'cut.mat'
  cut.write_bytes(open(path, 'rb').read()[:500])
  with pytest.raises(DataFormatError, match='truncated or corrupt'):
    readers.read_svhn_mat(str(cut))


def test_vocabulary_order():
  text = 'abracadabra!'
  # counts: a 5, b 2, r 2, c 1, d 1, ! 1; ties in order of first appearance
  assert readers.char_vocabulary(text) == ('a', 'b', 'r', 'c', 'd', '!')
  # DeepOBS's own recipe gives the same order
  deepobs = tuple(c for c, _ in sorted(collections.Counter(text).items(), key=lambda x: -x[1]))
  assert readers.char_vocabulary(text) == deepobs
  ids = readers.encode_text(text, readers.char_vocabulary(text))
  np.testing.assert_array_equal(ids, [0, 1, 2, 0, 3, 0, 4, 0, 1, 2, 0, 5])


GUTENBERG = (
    '\ufeffThe Project Gutenberg eBook of War and Peace\r\n'
    'licence blah\r\n'
    '*** START OF THE PROJECT GUTENBERG EBOOK WAR AND PEACE ***\r\n'
    '\r\n'
    'WAR AND PEACE\r\n'
    '\r\n'
    '    Contents\r\n'   # the real pg2600.txt indents its table of contents
    '\r\n'
    '    BOOK ONE: 1805\r\n'
    '    CHAPTER I\r\n'
    '\r\n'
    'BOOK ONE: 1805\r\n'
    '\r\n'
    'CHAPTER I\r\n'
    '"Well, Prince."\r\n'
    '\r\n'
    '*** END OF THE PROJECT GUTENBERG EBOOK WAR AND PEACE ***\r\n'
    'more licence\r\n')


def test_strip_gutenberg(tmp_path):
  path = tmp_path / 'pg2600.txt'
  path.write_bytes(GUTENBERG.encode('utf-8'))
  text = readers.strip_gutenberg(readers.read_text(str(path)))
  assert text == 'WAR AND PEACE\n\nBOOK ONE: 1805\n\nCHAPTER I\n"Well, Prince."\n'
  # An already clean text (no markers, no contents) passes through.
  assert readers.strip_gutenberg('abc\ndef\n') == 'abc\ndef\n'


def test_char_rnn_batches_continuity():
  batch, seq = 3, 4
  ids = np.arange(100)
  inputs, targets = text_lib.char_rnn_batches(ids, batch, seq)
  # num_batches = floor((100 - 1) / 12) = 8; 96 ids used, reshaped to 3 rows of 32.
  assert inputs.shape == (8 * batch, seq) and inputs.dtype == np.int32
  np.testing.assert_array_equal(targets, inputs + 1)
  # Batch 0 holds the first 4 ids of each row of the (3, 32) stream.
  np.testing.assert_array_equal(inputs[:3], [[0, 1, 2, 3], [32, 33, 34, 35], [64, 65, 66, 67]])
  for t in range(7):
    for i in range(batch):
      assert inputs[(t + 1) * batch + i, 0] == inputs[t * batch + i, -1] + 1
  with pytest.raises(ValueError, match='too short for one batch'):
    text_lib.char_rnn_batches(np.arange(12), batch, seq)  # needs 13 ids


def test_split_ids_contiguous_and_disjoint():
  ids = np.arange(1001)
  parts = text_lib.split_ids(ids)
  # train part = ceil(0.8 * 1001) = 801 ids; valid = its last ceil(80.1) = 81; test = 200.
  assert len(parts['train']) == 720 and len(parts['valid']) == 81 and len(parts['test']) == 200
  np.testing.assert_array_equal(np.concatenate([parts['train'], parts['valid'], parts['test']]),
                                ids)
