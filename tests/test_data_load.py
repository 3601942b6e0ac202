"""`jaxbench.data.load`: splits, lookup order, sources, error messages, generated data."""
from __future__ import annotations

import gzip
import math
import os
import struct

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbench import data
from jaxbench.data import loader
from jaxbench.errors import DataError, JaxbenchError

DEBIAN_FMNIST = '/usr/share/datasets/fashion-mnist'


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
  """No user data dirs leak into the lookup: HOME, $JAXBENCH_DATA_DIR, $TFDS_DATA_DIR are empty."""
  home = tmp_path / 'home'
  home.mkdir()
  monkeypatch.setenv('HOME', str(home))
  monkeypatch.delenv('JAXBENCH_DATA_DIR', raising=False)
  monkeypatch.setenv('TFDS_DATA_DIR', str(tmp_path / 'tfds_empty'))


def write_idx(path, array, gz=True):
  payload = struct.pack('>BBBB', 0, 0, 8, array.ndim) + b''.join(
      struct.pack('>I', d) for d in array.shape) + array.astype(np.uint8).tobytes()
  with open(path, 'wb') as f:
    f.write(gzip.compress(payload) if gz else payload)


def make_mnist_dir(directory, n_train=60, n_test=12, marker=0, gz=True):
  """Image i of the training file is the constant i (plus marker), so splits are traceable."""
  os.makedirs(directory, exist_ok=True)
  ext = '.gz' if gz else ''
  train = (np.arange(n_train) + marker)[:, None, None] * np.ones((1, 28, 28))
  test = (200 + np.arange(n_test))[:, None, None] * np.ones((1, 28, 28))
  write_idx(os.path.join(directory, 'train-images-idx3-ubyte' + ext), train, gz)
  write_idx(os.path.join(directory, 'train-labels-idx1-ubyte' + ext), np.arange(n_train) % 10, gz)
  write_idx(os.path.join(directory, 't10k-images-idx3-ubyte' + ext), test, gz)
  write_idx(os.path.join(directory, 't10k-labels-idx1-ubyte' + ext), np.arange(n_test) % 10, gz)


def first_pixels(split):
  return np.asarray(split.inputs[:, 0, 0, 0]).astype(int)


@pytest.mark.parametrize('gz', [True, False])
def test_image_splits_sizes_and_disjointness(tmp_path, gz):
  make_mnist_dir(tmp_path / 'd', gz=gz)
  ds = data.load('mnist', batch_size=8, data_dir=str(tmp_path / 'd'))
  # 60 training examples: validation keeps SPEC's fraction 10,000 / 60,000 -> 10.
  assert (ds.valid.size, ds.train.size, ds.test.size, ds.train_eval.size) == (10, 50, 12, 12)
  np.testing.assert_array_equal(first_pixels(ds.valid), np.arange(10))       # first N
  np.testing.assert_array_equal(first_pixels(ds.train), np.arange(10, 60))   # the rest
  np.testing.assert_array_equal(first_pixels(ds.test), 200 + np.arange(12))
  assert set(first_pixels(ds.train_eval)) <= set(first_pixels(ds.train))
  np.testing.assert_array_equal(np.asarray(ds.train.targets), np.arange(10, 60) % 10)
  assert ds.train.inputs.dtype == jnp.uint8 and ds.train.inputs.shape[1:] == (28, 28, 1)
  assert ds.train.targets.dtype == jnp.int32
  assert isinstance(ds.train.inputs, jax.Array)
  assert ds.source == f'files:{tmp_path / "d"}' and ds.shuffle and ds.num_classes == 10


def test_valid_size_is_spec_value_for_official_sizes():
  assert loader.valid_size('mnist', 60000) == 10000
  assert loader.valid_size('cifar100', 50000) == 10000
  assert loader.valid_size('svhn', 73257) == 26032


def test_lookup_order(tmp_path, monkeypatch):
  arg_dir, env_dir, user_dir = tmp_path / 'arg', tmp_path / 'env', tmp_path / 'home/jaxbench_data'
  make_mnist_dir(arg_dir, marker=1)
  make_mnist_dir(env_dir / 'fashion_mnist', marker=2)   # the documented per-dataset subfolder
  make_mnist_dir(user_dir / 'fashion_mnist', marker=3)
  monkeypatch.setattr(loader, 'SYSTEM_DIRS', {'fashion_mnist': (str(tmp_path / 'sys'),)})
  make_mnist_dir(tmp_path / 'sys', marker=4)
  monkeypatch.setenv('JAXBENCH_DATA_DIR', str(env_dir))
  load = lambda **kw: data.load('fashion_mnist', batch_size=4, **kw)
  assert load(data_dir=str(arg_dir)).source == f'files:{arg_dir}'
  assert first_pixels(load(data_dir=str(arg_dir)).valid)[0] == 1
  assert load().source == f'files:{env_dir / "fashion_mnist"}'
  monkeypatch.delenv('JAXBENCH_DATA_DIR')
  assert load().source == f'files:{user_dir / "fashion_mnist"}'
  os.rename(user_dir, tmp_path / 'moved')
  ds = load()
  assert ds.source == f'files:{tmp_path / "sys"}' and first_pixels(ds.valid)[0] == 4
  # An explicit data_dir is used or fails: never a silent fall-back to the system copy.
  with pytest.raises(data.DataNotFoundError, match='nothing does not exist'):
    load(data_dir=str(tmp_path / 'nothing'))


def test_explicit_data_dir_lacking_a_file_names_it(tmp_path, monkeypatch):
  monkeypatch.setattr(loader, 'SYSTEM_DIRS', {'fashion_mnist': (str(tmp_path / 'sys'),)})
  make_mnist_dir(tmp_path / 'sys', marker=4)           # a complete copy elsewhere
  make_mnist_dir(tmp_path / 'mine', marker=1)
  os.remove(tmp_path / 'mine' / 't10k-labels-idx1-ubyte.gz')
  with pytest.raises(data.DataNotFoundError) as info:
    data.load('fashion_mnist', batch_size=4, data_dir=str(tmp_path / 'mine'))
  message = str(info.value)
  assert f'{tmp_path / "mine"} lacks t10k-labels-idx1-ubyte.gz' in message
  assert 'train-images' not in message.split('\n')[0]     # only the missing file is named
  assert str(tmp_path / 'sys') not in message
  # An expected failure of jaxbench (one line on the command line), and still an OSError.
  assert isinstance(info.value, JaxbenchError) and isinstance(info.value, FileNotFoundError)
  assert issubclass(data.DataNotFoundError, DataError)
  assert issubclass(data.DataFormatError, DataError) and issubclass(data.DataFormatError,
                                                                    ValueError)


def test_missing_data_message(tmp_path, monkeypatch):
  monkeypatch.setattr(loader, 'SYSTEM_DIRS', {})
  monkeypatch.setenv('JAXBENCH_DATA_DIR', str(tmp_path / 'mine'))
  with pytest.raises(data.DataNotFoundError) as info:
    data.load('fashion_mnist', batch_size=4)
  msg = str(info.value)
  for expected in ('train-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz',
                   str(tmp_path / 'mine'), str(tmp_path / 'mine' / 'fashion_mnist'),
                   str(tmp_path / 'tfds_empty'), 'apt-get install dataset-fashion-mnist',
                   "pip install 'jaxbench[prepare]'", "tfds.data_source('fashion_mnist')",
                   'curl -L http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'):
    assert expected in msg, expected
  with pytest.raises(data.DataNotFoundError) as info:
    data.load('svhn', batch_size=4, source='files')
  msg = str(info.value)
  assert 'train_32x32.mat' in msg and 'http://ufldl.stanford.edu/housenumbers/' in msg
  assert 'tfds' not in msg.split('To obtain it')[0]   # source='files' searches files only
  with pytest.raises(data.DataNotFoundError, match='pg2600.txt'):
    data.load('tolstoi', batch_size=4)
  with pytest.raises(data.DataNotFoundError, match='cifar-100-python.tar.gz'):
    data.load('cifar100', batch_size=4)


def test_bad_names_and_batch_size(tmp_path):
  with pytest.raises(ValueError, match='Unknown dataset .imagenet.*fashion_mnist'):
    data.load('imagenet', batch_size=4)
  with pytest.raises(ValueError, match='Unknown source .web.*synthetic'):
    data.load('mnist', batch_size=4, source='web')
  with pytest.raises(ValueError, match='only serves'):
    data.load('mnist', batch_size=4, source='generated')
  make_mnist_dir(tmp_path / 'd')
  with pytest.raises(ValueError, match='batch_size 51 is larger than the mnist training split'):
    data.load('mnist', batch_size=51, data_dir=str(tmp_path / 'd'))
  with pytest.raises(ValueError, match='larger than the two_d training split'):
    data.load('two_d', batch_size=10001)


def test_wrong_file_contents_fail_clearly(tmp_path):
  d = tmp_path / 'd'
  make_mnist_dir(d)
  write_idx(d / 'train-images-idx3-ubyte.gz', np.zeros((60, 32, 32)))
  with pytest.raises(data.DataFormatError, match='dimensions'):
    data.load('mnist', batch_size=4, data_dir=str(d))


def test_cifar_and_svhn_from_files(tmp_path):
  import pickle
  import scipy.io
  folder = tmp_path / 'c' / 'cifar-10-batches-py'
  folder.mkdir(parents=True)
  for i, name in enumerate([f'data_batch_{k}' for k in range(1, 6)] + ['test_batch']):
    rows = np.full((10, 3072), i, np.uint8)
    with open(folder / name, 'wb') as f:
      pickle.dump({b'data': rows, b'labels': [i] * 10}, f)
  ds = data.load('cifar10', batch_size=8, data_dir=str(tmp_path / 'c'))
  # 50 training images -> validation 50 * 10,000 / 50,000 = 10 = all of data_batch_1.
  assert (ds.valid.size, ds.train.size, ds.test.size) == (10, 40, 10)
  assert set(np.asarray(ds.valid.targets)) == {0} and set(np.asarray(ds.test.targets)) == {5}
  assert ds.train.inputs.shape[1:] == (32, 32, 3)
  svhn = tmp_path / 's' / 'svhn'
  svhn.mkdir(parents=True)
  x = np.zeros((32, 32, 3, 30), np.uint8)
  scipy.io.savemat(svhn / 'train_32x32.mat', {'X': x, 'y': np.full((30, 1), 10, np.uint8)})
  scipy.io.savemat(svhn / 'test_32x32.mat', {'X': x[..., :7], 'y': np.ones((7, 1), np.uint8)})
  ds = data.load('svhn', batch_size=4, data_dir=str(tmp_path / 's'))
  # validation = round(30 * 26,032 / 73,257) = 11
  assert (ds.valid.size, ds.train.size, ds.test.size) == (11, 19, 7)
  assert set(np.asarray(ds.train.targets)) == {0}


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FMNIST), reason='Debian dataset-fashion-mnist '
                    'is not installed (apt-get install dataset-fashion-mnist)')
def test_debian_fashion_mnist_found_without_configuration():
  ds = data.load('fashion_mnist', batch_size=128)
  assert ds.source == f'files:{DEBIAN_FMNIST}'
  assert (ds.train.size, ds.valid.size, ds.test.size, ds.train_eval.size) == (
      50000, 10000, 10000, 10000)
  assert ds.train.inputs.shape == (50000, 28, 28, 1) and ds.train.inputs.dtype == jnp.uint8
  # Published facts about Fashion-MNIST: 6,000 training and 1,000 test images per class.
  official = np.concatenate([np.asarray(ds.valid.targets), np.asarray(ds.train.targets)])
  np.testing.assert_array_equal(np.bincount(official), [6000] * 10)
  np.testing.assert_array_equal(np.bincount(np.asarray(ds.test.targets)), [1000] * 10)


def test_tfds_source_with_mock_data():
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=30):
    ds = data.load('fashion_mnist', batch_size=5, source='tfds')
    svhn = data.load('svhn', batch_size=5, source='tfds')
  # 30 training examples -> validation 30 * 10,000 / 60,000 = 5.
  assert (ds.valid.size, ds.train.size, ds.test.size, ds.train_eval.size) == (5, 25, 30, 25)
  assert ds.train.inputs.shape == (25, 28, 28, 1) and ds.train.inputs.dtype == jnp.uint8
  assert ds.source.startswith('tfds:')
  assert svhn.train.inputs.shape[1:] == (32, 32, 3)
  labels = np.asarray(svhn.test.targets)
  assert labels.min() >= 0 and labels.max() <= 9


def test_tfds_prepared_copy_detected_in_lookup(tmp_path):
  version = tmp_path / 'tfds' / 'cifar10' / '3.0.2'
  version.mkdir(parents=True)
  (version / 'dataset_info.json').write_text('{}')
  assert not loader._tfds_prepared('cifar10', str(tmp_path / 'tfds'))  # TFRecord-only copy
  (version / 'cifar10-train.array_record-00000-of-00001').write_bytes(b'')
  assert loader._tfds_prepared('cifar10', str(tmp_path / 'tfds'))


def test_synthetic_shapes_and_ranges():
  for name, shape, classes in [('mnist', (28, 28, 1), 10), ('cifar100', (32, 32, 3), 100),
                               ('svhn', (32, 32, 3), 10)]:
    ds = data.load(name, batch_size=16, source='synthetic', synthetic_size=300)
    for split in (ds.train, ds.valid, ds.test, ds.train_eval):
      assert split.inputs.shape[1:] == shape and split.inputs.dtype == jnp.uint8
      assert split.targets.dtype == jnp.int32
      t = np.asarray(split.targets)
      assert t.min() >= 0 and t.max() < classes
    assert ds.train.size + ds.valid.size == 300 and ds.source == 'synthetic'
  text = data.load('tolstoi', batch_size=4, source='synthetic', synthetic_size=20000)
  assert text.train.inputs.shape[1] == 50 and text.num_classes == 83
  assert int(jnp.max(text.train.inputs)) < 83


def test_quadratic_deep_data_equals_randomstate_draws():
  ds = data.load('quadratic_deep', batch_size=128)
  for split, seed in ((ds.train, 42), (ds.test, 43), (ds.valid, 44)):
    expected = np.random.RandomState(seed).normal(0.0, 0.6, (1000, 100)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(split.inputs), expected)
    assert split.inputs.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(split.targets), np.zeros(1000))
  assert ds.train_eval is ds.train and ds.source == 'generated'


def test_two_d_data_equals_deepobs_draws():
  ds = data.load('two_d', batch_size=128)
  for split, seed in ((ds.train, 42), (ds.valid, 44)):
    rng = np.random.RandomState(seed)
    x = rng.normal(0.0, 1.0, 10000)    # all x first ...
    y = rng.normal(0.0, 1.0, 10000)    # ... then all y, from the same generator
    np.testing.assert_array_equal(np.asarray(split.inputs[:, 0]), np.float32(x))
    np.testing.assert_array_equal(np.asarray(split.inputs[:, 1]), np.float32(y))
  np.testing.assert_array_equal(np.asarray(ds.test.inputs), np.zeros((10000, 2)))
  assert ds.train_eval is ds.train


def test_tolstoi_from_file(tmp_path):
  words = ['the ', 'war ', 'and ', 'peace ', 'prince ', 'andrew ', 'natasha ']
  rng = np.random.RandomState(0)
  body = ''.join(words[i] for i in rng.randint(0, len(words), 2000))
  content = ('header\n*** START OF THE PROJECT GUTENBERG EBOOK 2600 ***\n' + body +
             '\n*** END OF THE PROJECT GUTENBERG EBOOK 2600 ***\nlicence\n')
  (tmp_path / 'tolstoi').mkdir()
  (tmp_path / 'tolstoi' / 'war_and_peace.txt').write_text(content, encoding='utf-8')
  batch = 4
  ds = data.load('tolstoi', batch_size=batch, data_dir=str(tmp_path))
  text = body + '\n'  # the lines between the markers, blank edge lines dropped
  n = len(text)
  assert ds.vocabulary[0] == max(set(text), key=text.count)   # most frequent character first
  ids = np.array([ds.vocabulary.index(c) for c in text])
  train_part = math.ceil(0.8 * n)
  valid_len = math.ceil(0.1 * train_part)
  train_ids = ids[:train_part - valid_len]
  nb = (len(train_ids) - 1) // (batch * 50)
  assert ds.train.inputs.shape == (nb * batch, 50) and ds.train.inputs.dtype == jnp.int32
  stream = train_ids[:nb * batch * 50].reshape(batch, -1)
  inputs, targets = np.asarray(ds.train.inputs), np.asarray(ds.train.targets)
  for t in range(nb):
    np.testing.assert_array_equal(inputs[t * batch:(t + 1) * batch], stream[:, t * 50:(t + 1) * 50])
  # Row i of batch t+1 continues row i of batch t; targets are the next characters.
  np.testing.assert_array_equal(inputs[batch:, 0], targets[:-batch, -1])
  np.testing.assert_array_equal(targets[:, :-1], inputs[:, 1:])
  valid_ids = ids[train_part - valid_len:train_part]
  np.testing.assert_array_equal(np.asarray(ds.valid.inputs)[0], valid_ids[0:50])
  np.testing.assert_array_equal(np.asarray(ds.test.inputs)[0], ids[train_part:train_part + 50])
  assert not ds.shuffle and ds.batch_size == batch and ds.num_classes == len(set(text))
  assert ds.train_eval.size == min(ds.test.size, ds.train.size)
  with pytest.raises(ValueError, match='too short for one batch'):
    data.load('tolstoi', batch_size=200, data_dir=str(tmp_path))


def test_epoch_permutation_and_batching_helpers():
  key = jax.random.PRNGKey(3)
  p0 = data.epoch_permutation(key, 0, 100)
  bits = np.asarray(jax.random.bits(jax.random.fold_in(key, 0), (100,), jnp.uint32))
  np.testing.assert_array_equal(p0, np.argsort(bits, kind='stable'))
  assert sorted(np.asarray(p0).tolist()) == list(range(100))
  assert not np.array_equal(p0, data.epoch_permutation(key, 1, 100))
  assert data.num_train_steps(50000, 128) == 390   # floor: the partial batch is dropped
  with pytest.raises(ValueError, match='larger than the training split'):
    data.num_train_steps(10, 11)
  assert data.num_eval_batches(10000, 128) == 79   # ceil: every example evaluated
  idx, m = data.eval_batch_indices(10, 4, 2)
  np.testing.assert_array_equal(idx, [8, 9, 9, 9])
  np.testing.assert_array_equal(m, [1, 1, 0, 0])
  np.testing.assert_array_equal(data.train_batch_indices(p0, 2, 8), np.asarray(p0)[16:24])


def test_tfds_source_without_prepared_copy_explains(tmp_path):
  with pytest.raises(data.DataNotFoundError) as info:
    data.load('cifar10', batch_size=4, source='tfds', data_dir=str(tmp_path / 'empty'))
  msg = str(info.value)
  assert "pip install 'jaxbench[prepare]'" in msg and 'TensorFlow' in msg
  assert "tfds.data_source('cifar10')" in msg
