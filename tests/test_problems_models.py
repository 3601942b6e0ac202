"""Every problem: registry, parameter counts worked out by hand, shapes, losses, training modes."""
from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbench import problems
from jaxbench.problems import nets

KEY = jax.random.PRNGKey(0)
# Tests compile ~40 programs; XLA:CPU's backend optimisation dominates their compile time and is
# pointless for one or two executions (WRN-40-4 grad: 7.3 -> 3.8 CPU s), so the tests turn it off
# per jit (no global state). Results agree to float32 rounding.
_jit = functools.partial(jax.jit, compiler_options={'xla_backend_optimization_level': 0})
# Model inits use the 'rbg' key implementation: compiling threefry for ~100 parameter tensors
# dominates these tests on CPU (WRN-40-4: 12.6 s vs 5 s of CPU time), and problems must accept
# any key implementation anyway. The initialiser statistics are tested with threefry keys.
INIT_KEY = jax.random.key(0, impl='rbg')


def _variables(name: str, batch_size: int | None = None):
  """Initial variables, computed once per problem for the whole module (the batch size only
  matters for the char-RNN's carry)."""
  return _cached_variables(name, batch_size if name == 'tolstoi_char_rnn' else None)


@functools.lru_cache(maxsize=None)
def _cached_variables(name: str, batch_size: int | None):
  # Optimised compile here: unoptimised code draws 10M VAE parameters 5x slower.
  return jax.jit(problems.get(name, batch_size=batch_size).init)(INIT_KEY)

# (dataset, batch size, epochs, metric, weight decay): SPEC section 1 and DeepOBS's
# DEFAULT_TEST_PROBLEMS_SETTINGS / constructor defaults.
TABLE = {
    'quadratic_deep': ('quadratic_deep', 128, 100, 'loss', None),
    'mnist_vae': ('mnist', 64, 50, 'loss', None),
    'fmnist_vae': ('fashion_mnist', 64, 100, 'loss', None),
    'mnist_2c2d': ('mnist', 128, 100, 'accuracy', None),
    'fmnist_2c2d': ('fashion_mnist', 128, 100, 'accuracy', None),
    'cifar10_3c3d': ('cifar10', 128, 100, 'accuracy', 0.002),
    'cifar100_3c3d': ('cifar100', 128, 100, 'accuracy', 0.002),
    'svhn_3c3d': ('svhn', 128, 100, 'accuracy', 0.002),
    'cifar100_allcnnc': ('cifar100', 256, 350, 'accuracy', 5e-4),
    'svhn_wrn164': ('svhn', 128, 160, 'accuracy', 5e-4),
    'cifar100_wrn404': ('cifar100', 128, 160, 'accuracy', 5e-4),
    'tolstoi_char_rnn': ('tolstoi', 50, 200, 'accuracy', None),
    'mnist_logreg': ('mnist', 128, 50, 'accuracy', None),
    'fmnist_logreg': ('fashion_mnist', 128, 50, 'accuracy', None),
    'mnist_mlp': ('mnist', 128, 100, 'accuracy', None),
    'fmnist_mlp': ('fashion_mnist', 128, 100, 'accuracy', None),
    'two_d_rosenbrock': ('two_d', 128, 100, 'loss', None),
    'two_d_beale': ('two_d', 128, 100, 'loss', None),
    'two_d_branin': ('two_d', 128, 100, 'loss', None),
}


def _conv(k: int, c_in: int, c_out: int, bias: bool = True) -> int:
  return k * k * c_in * c_out + (c_out if bias else 0)


def _dense(n_in: int, n_out: int) -> int:
  return n_in * n_out + n_out


def _3c3d(classes: int) -> int:
  return (_conv(5, 3, 64) + _conv(3, 64, 96) + _conv(3, 96, 128)
          + _dense(3 * 3 * 128, 512) + _dense(512, 256) + _dense(256, classes))


def _wrn(units: int, classes: int, k: int = 4) -> int:
  """Pre-activation WRN: BN has 2 params per channel, convs no bias."""
  total = _conv(3, 3, 16, bias=False)
  c_in = 16
  for width in (16 * k, 32 * k, 64 * k):
    # first unit: BN(c_in), 1x1 shortcut, conv3x3 c_in->width, BN(width), conv3x3 width->width
    total += 2 * c_in + _conv(1, c_in, width, False) + _conv(3, c_in, width, False)
    total += 2 * width + _conv(3, width, width, False)
    # other units: BN, conv, BN, conv
    total += (units - 1) * (2 * (2 * width + _conv(3, width, width, False)))
    c_in = width
  return total + 2 * c_in + _dense(c_in, classes)


_VAE = (_conv(4, 1, 64) + _conv(4, 64, 64) + _conv(4, 64, 64)          # encoder convs
        + 2 * _dense(7 * 7 * 64, 8)                                       # mean, s heads
        + _dense(8, 24) + _dense(24, 49)                                  # decoder dense
        + _conv(4, 1, 64) + _conv(4, 64, 64) + _conv(4, 64, 64)           # conv-transposes
        + _dense(14 * 14 * 64, 28 * 28))                                  # output layer
_2C2D = _conv(5, 1, 32) + _conv(5, 32, 64) + _dense(7 * 7 * 64, 1024) + _dense(1024, 10)
_ALLCNNC = (_conv(3, 3, 96) + 2 * _conv(3, 96, 96) + _conv(3, 96, 192) + 2 * _conv(3, 192, 192)
            + _conv(3, 192, 192) + _conv(1, 192, 192) + _conv(1, 192, 100))
_CHAR_RNN = 83 * 128 + 2 * ((128 + 128) * 4 * 128 + 4 * 128) + _dense(128, 83)
_MLP = _dense(784, 1000) + _dense(1000, 500) + _dense(500, 100) + _dense(100, 10)
_LOGREG = _dense(784, 10)

PARAM_COUNTS = {
    'quadratic_deep': 100, 'mnist_vae': _VAE, 'fmnist_vae': _VAE,
    'mnist_2c2d': _2C2D, 'fmnist_2c2d': _2C2D,
    'cifar10_3c3d': _3c3d(10), 'cifar100_3c3d': _3c3d(100), 'svhn_3c3d': _3c3d(10),
    'cifar100_allcnnc': _ALLCNNC, 'svhn_wrn164': _wrn(2, 10), 'cifar100_wrn404': _wrn(6, 100),
    'tolstoi_char_rnn': _CHAR_RNN, 'mnist_logreg': _LOGREG, 'fmnist_logreg': _LOGREG,
    'mnist_mlp': _MLP, 'fmnist_mlp': _MLP,
    'two_d_rosenbrock': 2, 'two_d_beale': 2, 'two_d_branin': 2,
}

INPUTS = {  # per-example preprocessed input shape and dtype, number of classes
    'mnist': ((28, 28, 1), jnp.float32, 10), 'fashion_mnist': ((28, 28, 1), jnp.float32, 10),
    'cifar10': ((32, 32, 3), jnp.float32, 10), 'cifar100': ((32, 32, 3), jnp.float32, 100),
    'svhn': ((32, 32, 3), jnp.float32, 10), 'quadratic_deep': ((100,), jnp.float32, None),
    'two_d': ((2,), jnp.float32, None), 'tolstoi': ((50,), jnp.int32, 83),
}


def _batch(problem, batch: int, seed: int = 0):
  """A fixed random batch of preprocessed inputs and targets of the problem's true shapes."""
  shape, dtype, classes = INPUTS[problem.dataset]
  rng = np.random.RandomState(seed)
  if dtype == jnp.int32:
    x = jnp.asarray(rng.randint(0, classes, (batch,) + shape), jnp.int32)
    y = jnp.asarray(rng.randint(0, classes, (batch,) + shape), jnp.int32)
    return x, y
  if problem.dataset in ('mnist', 'fashion_mnist'):
    x = rng.uniform(0.0, 1.0, (batch,) + shape)
  else:
    x = rng.normal(0.0, 1.0, (batch,) + shape)
  y = rng.randint(0, classes or 1, batch)
  return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


def _count(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def test_names_and_unknown_name():
  assert problems.names() == sorted(TABLE)
  with pytest.raises(KeyError, match='nope.*cifar10_3c3d.*two_d_rosenbrock'):
    problems.get('nope')
  with pytest.raises(ValueError, match='batch_size must be a positive int, got 0'):
    problems.get('mnist_mlp', batch_size=0)


@pytest.mark.parametrize('name', sorted(TABLE))
def test_table(name):
  problem = problems.get(name)
  dataset, batch, epochs, metric, wd = TABLE[name]
  assert (problem.name, problem.dataset, problem.batch_size, problem.num_epochs) == (
      name, dataset, batch, epochs)
  assert problem.metric == metric and problem.weight_decay == wd
  assert problem.has_accuracy == (metric == 'accuracy')
  assert problem.shuffle == (name != 'tolstoi_char_rnn')
  assert problems.get(name) is problem   # cached: usable as a static jit argument
  other = problems.get(name, batch_size=7, num_epochs=3)
  assert (other.batch_size, other.num_epochs) == (7, 3)


@pytest.mark.parametrize('name', sorted(TABLE))
def test_parameter_count_and_output_shapes(name):
  """Shapes only (jax.eval_shape): no compute, so even WRN-40-4 costs nothing here."""
  problem = problems.get(name, batch_size=2)
  variables = jax.eval_shape(problem.init, KEY)
  assert _count(variables['params']) == PARAM_COUNTS[name]
  x, y = _batch(problem, 2)
  out = jax.eval_shape(lambda v: problem.apply(v, x, y, train=True, rng=KEY), variables)
  assert out.loss.shape == (2,)
  assert (out.correct is not None) == problem.has_accuracy
  if out.correct is not None:
    assert out.correct.shape == (2,)
  assert jax.tree.map(lambda a: a.shape, out.model_state) == jax.tree.map(
      lambda a: a.shape, {k: v for k, v in variables.items() if k != 'params'})


@pytest.mark.parametrize('module,shape,out_shape', [
    (nets.TwoCTwoD(10), (2, 28, 28, 1), (2, 10)),
    (nets.ThreeCThreeD(100), (2, 32, 32, 3), (2, 100)),
    (nets.AllCNNC(100), (2, 32, 32, 3), (2, 100)),
    (nets.WideResNet(2, 4, 10), (2, 32, 32, 3), (2, 10)),
    (nets.MLP(10), (2, 28, 28, 1), (2, 10)),
    (nets.LogReg(10), (2, 28, 28, 1), (2, 10)),
    (nets.CharRNN(83), (2, 50), (2, 50, 83)),
])
def test_logit_shapes(module, shape, out_shape):
  dtype = jnp.int32 if len(shape) == 2 else jnp.float32
  x = jnp.zeros(shape, dtype)
  variables = jax.eval_shape(lambda: module.init({'params': KEY, 'dropout': KEY}, x))
  out = jax.eval_shape(lambda v: module.apply(v, x, mutable=['carry']), variables)
  assert out[0].shape == out_shape


def test_vae_output_shapes():
  x = jnp.zeros((2, 28, 28, 1))
  rngs = {'params': KEY, 'dropout': KEY, 'sample': KEY}
  variables = jax.eval_shape(lambda: nets.VAE().init(rngs, x))
  img, mean, s = jax.eval_shape(lambda v: nets.VAE().apply(v, x, rngs={'sample': KEY}), variables)
  assert img.shape == (2, 28, 28) and mean.shape == (2, 8) and s.shape == (2, 8)


# ---------------------------------------------------------------------------------------------
# Every problem end to end through the public API, on synthetic data of its true shapes.

HAS_DROPOUT_OR_SAMPLING = {'mnist_vae', 'fmnist_vae', 'cifar100_allcnnc', 'tolstoi_char_rnn'}
# mnist/fmnist twins share the module: initialise one of them only (cheaper on CPU).
SAME_MODEL_AS = {'mnist_vae': 'fmnist_vae', 'mnist_2c2d': 'fmnist_2c2d',
                 'mnist_logreg': 'fmnist_logreg', 'mnist_mlp': 'fmnist_mlp'}
E2E_BATCH = 4


def _key(seed: int) -> jax.Array:
  """rbg keys compile much faster than threefry on CPU (dropout masks, augmentation draws)."""
  return jax.random.key(seed, impl='rbg')


# The big models get no separate forward test: this end-to-end test is their init + forward.
BIG = ('cifar100_allcnnc', 'svhn_wrn164', 'cifar100_wrn404')   # ~5-15 s of CPU each


@pytest.mark.parametrize('name', [pytest.param(n, marks=pytest.mark.slow) if n in BIG else n
                                  for n in sorted(TABLE)])
def test_trains_through_public_api_on_synthetic_data(name):
  """data.load(synthetic) -> preprocess -> apply -> SGD: finite losses, each step lowers the
  objective on its batch, evaluation is deterministic, training noise only where SPEC has it."""
  from jaxbench import data
  problem = problems.get(name, batch_size=E2E_BATCH)
  dataset = data.load(problem.dataset, batch_size=E2E_BATCH, source='synthetic')
  variables = _variables(SAME_MODEL_AS.get(name, name), E2E_BATCH)

  @_jit
  def train_step(variables, raw, targets, key):
    """Objective, and the objective after a normalised SGD step on the same batch and rng."""
    augment_key, dropout_key = jax.random.split(key)
    x = problem.preprocess(raw, augment_key, True)

    def objective(params):
      out = problem.apply({**variables, 'params': params}, x, targets, train=True,
                          rng=dropout_key)
      return jnp.mean(out.loss) + problem.regularizer(params), out

    (loss, out), grads = jax.value_and_grad(objective, has_aux=True)(variables['params'])
    norm = jnp.sqrt(sum(jnp.sum(g ** 2) for g in jax.tree.leaves(grads)))
    # first-order decrease of this step: 1e-3 * |g|
    params = jax.tree.map(lambda p, g: p - 1e-3 / norm * g, variables['params'], grads)
    loss_after = objective(params)[0]
    return {**out.model_state, 'params': params}, loss, loss_after, out.loss

  @_jit
  def eval_step(variables, raw, targets, key):
    return problem.apply(variables, problem.preprocess(raw, key, False), targets, train=False,
                         rng=key)

  train = dataset.train
  state = variables
  for step in range(3):   # consecutive batches, as the char-RNN's ordered data needs
    rows = slice(step * E2E_BATCH, (step + 1) * E2E_BATCH)
    state, loss, loss_after, _ = train_step(state, train.inputs[rows], train.targets[rows],
                                            _key(step))
    assert np.isfinite(float(loss)) and float(loss_after) < float(loss), (step, loss, loss_after)

  test_x, test_y = dataset.test.inputs[:E2E_BATCH], dataset.test.targets[:E2E_BATCH]
  first = eval_step(state, test_x, test_y, _key(7))
  second = eval_step(state, test_x, test_y, _key(7))
  np.testing.assert_array_equal(np.asarray(first.loss), np.asarray(second.loss))
  assert np.all(np.isfinite(np.asarray(first.loss)))
  # Evaluation leaves BatchNorm statistics alone; the char-RNN's carry runs on through it.
  before = {k: v for k, v in state.items() if k != 'params'}
  for collection, value in first.model_state.items():
    unchanged = jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), value,
                                          before[collection]))
    assert unchanged == (collection != 'carry'), collection
  if problem.has_accuracy:
    assert set(np.unique(np.asarray(first.correct))) <= set(np.linspace(0, 1, 51))

  # Training noise: dropout / sampling / augmentation change the loss with the key; else not.
  x, y = train.inputs[:E2E_BATCH], train.targets[:E2E_BATCH]
  loss_a = float(train_step(variables, x, y, _key(0))[1])
  loss_b = float(train_step(variables, x, y, _key(1))[1])
  augmented = problem.dataset in ('cifar10', 'cifar100', 'svhn')
  if name in HAS_DROPOUT_OR_SAMPLING or augmented:
    assert loss_a != loss_b
  else:
    assert loss_a == loss_b
  if not (name in HAS_DROPOUT_OR_SAMPLING or augmented or 'wrn' in name):
    # No dropout, augmentation or BatchNorm: the training-mode loss is the evaluation loss.
    per_example = train_step(variables, x, y, _key(0))[3]
    np.testing.assert_allclose(np.asarray(eval_step(variables, x, y, _key(0)).loss),
                               np.asarray(per_example), rtol=1e-5)


def test_initial_values_follow_spec():
  v = _variables('fmnist_2c2d')['params']
  np.testing.assert_array_equal(np.asarray(v['Conv_0']['bias']), np.full(32, 0.05, np.float32))
  w = np.asarray(v['Dense_0']['kernel'])
  assert np.abs(w).max() <= 0.1 and w.std() == pytest.approx(0.05 * 0.8796, rel=0.01)
  v = _variables('cifar100_allcnnc')['params']
  np.testing.assert_array_equal(np.asarray(v['Conv_8']['bias']), np.full(100, 0.1, np.float32))
  k = np.asarray(v['Conv_3']['kernel'])   # 3x3x96x192, Glorot normal
  assert k.std() == pytest.approx(math.sqrt(2 / (9 * 96 + 9 * 192)), rel=0.02)
  v = _variables('mnist_logreg')['params']
  assert all(float(jnp.abs(a).max()) == 0.0 for a in jax.tree.leaves(v))
  v = _variables('tolstoi_char_rnn', E2E_BATCH)['params']
  lim = math.sqrt(6 / (256 + 512))      # Glorot uniform over the joint [256, 512] LSTM kernel
  k = np.asarray(v['lstm_0']['kernel'])
  assert k.shape == (256, 512) and np.abs(k).max() <= lim and np.abs(k).max() > 0.99 * lim
  np.testing.assert_array_equal(np.asarray(v['lstm_1']['bias']), np.zeros(512, np.float32))
  b = np.asarray(v['softmax']['bias'])  # tf.get_variable default: Glorot uniform, fans (83, 83)
  assert np.abs(b).max() <= math.sqrt(6 / 166) and np.abs(b).max() > 0.5 * math.sqrt(6 / 166)


def test_regularizer_decays_kernels_only():
  problem = problems.get('cifar10_3c3d')
  params = _variables('cifar10_3c3d')['params']
  names = ['Conv_0', 'Conv_1', 'Conv_2', 'Dense_0', 'Dense_1', 'Dense_2']
  expected = 0.5 * 0.002 * sum(np.sum(np.asarray(params[n]['kernel'], np.float64) ** 2)
                               for n in names)
  assert float(problem.regularizer(params)) == pytest.approx(expected, rel=1e-5)
  ones = jax.tree.map(jnp.ones_like, params)
  kernels = sum(int(np.prod(params[n]['kernel'].shape)) for n in names)
  assert float(problem.regularizer(ones)) == pytest.approx(0.5 * 0.002 * kernels, rel=1e-6)
  # BatchNorm scale/bias and biases are not decayed: WRN with all-zero kernels has 0 penalty.
  wrn = problems.get('svhn_wrn164')
  wrn_params = jax.eval_shape(wrn.init, KEY)['params']
  zeros_but_bn = jax.tree_util.tree_map_with_path(
      lambda path, a: jnp.zeros(a.shape) if path[-1].key == 'kernel' else jnp.ones(a.shape),
      wrn_params)
  assert float(wrn.regularizer(zeros_but_bn)) == 0.0
  assert float(problems.get('mnist_mlp').regularizer(params)) == 0.0


def test_classification_loss_matches_numpy():
  problem = problems.get('mnist_logreg')
  rng = np.random.RandomState(0)
  w, b = rng.normal(size=(784, 10)), rng.normal(size=10)
  variables = {'params': {'Dense_0': {'kernel': jnp.asarray(w, jnp.float32),
                                      'bias': jnp.asarray(b, jnp.float32)}}}
  x, y = _batch(problem, 6)
  out = problem.apply(variables, x, y, train=True, rng=KEY)
  logits = np.asarray(x, np.float64).reshape(6, 784) @ w + b
  log_z = np.log(np.sum(np.exp(logits - logits.max(1, keepdims=True)), 1)) + logits.max(1)
  y = np.asarray(y)
  np.testing.assert_allclose(np.asarray(out.loss), log_z - logits[np.arange(6), y], rtol=1e-4)
  np.testing.assert_array_equal(np.asarray(out.correct), (logits.argmax(1) == y).astype(float))


def test_vae_loss_is_squared_error_plus_kl():
  problem = problems.get('mnist_vae')
  variables = _variables('fmnist_vae')
  x, _ = _batch(problem, 3)
  rng = jax.random.PRNGKey(5)
  out = _jit(lambda v: problem.apply(v, x, None, train=False, rng=rng))(variables)
  # The problem splits its rng into (dropout, sample) keys; eval uses only the sample key.
  _, sample_key = jax.random.split(rng)
  img, mean, s = _jit(lambda v: nets.VAE().apply(v, x, train=False,
                                                    rngs={'sample': sample_key}))(variables)
  img, mean, s = (np.asarray(a, np.float64) for a in (img, mean, s))
  expected = (np.sum((img - np.asarray(x)[..., 0]) ** 2, axis=(1, 2))
              - 0.5 * np.sum(1 + 2 * s - mean ** 2 - np.exp(2 * s), axis=1))
  np.testing.assert_allclose(np.asarray(out.loss), expected, rtol=1e-5)
  assert out.correct is None


@pytest.mark.parametrize('stride,size', [(2, 14), (1, 7)])
def test_conv_transpose_is_tf_gradient_of_same_conv(stride, size):
  """TF's conv2d_transpose is the input-gradient of a SAME conv: check ours is exactly that
  (stride 2: 7 -> 14 as the VAE's first conv-transpose; stride 1 pads 4x4 kernels (1, 2))."""
  x = jax.random.normal(KEY, (2, 7, 7, 3))
  layer = nn.ConvTranspose(5, (4, 4), strides=(stride, stride), padding='SAME',
                           transpose_kernel=True, use_bias=False)
  variables = layer.init(KEY, x)
  kernel = variables['params']['kernel']          # TF layout [h, w, out, in]
  forward = lambda y: jax.lax.conv_general_dilated(y, kernel, (stride, stride), 'SAME',
                                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  _, vjp = jax.vjp(forward, jnp.zeros((2, size, size, 5)))
  np.testing.assert_allclose(np.asarray(layer.apply(variables, x)), np.asarray(vjp(x)[0]),
                             atol=1e-5)


def test_batchnorm_tf_momentum_convention_and_train_only_updates():
  model = nets.WideResNet(num_units=1, width=1, num_classes=10)
  x = jax.random.normal(KEY, (4, 8, 8, 3)) * 2.0 + 1.0
  variables = jax.jit(model.init)(INIT_KEY, x)
  assert float(jnp.abs(variables['batch_stats']['BatchNorm_0']['mean']).max()) == 0.0
  _, updates = _jit(lambda v: model.apply(v, x, train=True, mutable=['batch_stats']))(
      variables)
  # The first BN normalises conv_0(x); its batch moments are over N, H, W (biased variance).
  h = np.asarray(jax.lax.conv_general_dilated(
      x, variables['params']['Conv_0']['kernel'], (1, 1), 'SAME',
      dimension_numbers=('NHWC', 'HWIO', 'NHWC')), np.float64)
  stats = updates['batch_stats']['BatchNorm_0']
  np.testing.assert_allclose(np.asarray(stats['mean']), 0.9 * 0 + 0.1 * h.mean((0, 1, 2)),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(np.asarray(stats['var']), 0.9 * 1 + 0.1 * h.var((0, 1, 2)),
                             rtol=1e-4)
  # Eval: running averages used (output independent of the batch's other examples).
  evaluate = _jit(lambda v, inputs: model.apply(v, inputs, train=False))
  single = evaluate(variables, x[:1])
  np.testing.assert_allclose(np.asarray(evaluate(variables, x)[:1]),
                             np.asarray(single), rtol=1e-5, atol=1e-6)


def _np_tf_lstm(ids, params, c0, h0):
  """TF1 LSTMCell x2 in numpy: concat([x, h]) @ W + b, gates (i, j, f, o), forget bias 1."""
  sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))
  x = np.asarray(params['embedding'], np.float64)[ids]
  c, h = [np.array(a, np.float64) for a in c0], [np.array(a, np.float64) for a in h0]
  outputs = []
  for t in range(ids.shape[1]):
    inp = x[:, t]
    for layer in range(2):
      p = params[f'lstm_{layer}']
      z = np.concatenate([inp, h[layer]], 1) @ np.asarray(p['kernel'], np.float64) + p['bias']
      i, j, f, o = np.split(z, 4, axis=1)
      c[layer] = sigmoid(f + 1.0) * c[layer] + sigmoid(i) * np.tanh(j)
      h[layer] = sigmoid(o) * np.tanh(c[layer])
      inp = h[layer]
    outputs.append(inp @ np.asarray(params['softmax']['kernel']) + params['softmax']['bias'])
  return np.stack(outputs, 1), c, h


def test_char_rnn_is_tf_lstm_and_carries_state():
  problem = problems.get('tolstoi_char_rnn', batch_size=3)
  variables = _variables('tolstoi_char_rnn', 3)
  params = jax.tree.map(np.asarray, variables['params'])
  rng = np.random.RandomState(0)
  params['lstm_0']['bias'] = rng.normal(size=512).astype(np.float32)   # exercise the gate order
  variables = {**variables, 'params': params}
  assert jax.tree.map(lambda a: a.shape, variables['carry']) == {
      'lstm_0': {'c': (3, 128), 'h': (3, 128)}, 'lstm_1': {'c': (3, 128), 'h': (3, 128)}}
  ids = rng.randint(0, 83, (3, 100))
  targets = rng.randint(0, 83, (3, 100))
  apply = _jit(lambda v, x, y: problem.apply(v, x, y, train=False, rng=KEY))

  zeros = [np.zeros((3, 128))] * 2
  logits, c, h = _np_tf_lstm(ids, params, zeros, zeros)
  first = apply(variables, jnp.asarray(ids[:, :50]), jnp.asarray(targets[:, :50]))
  second = apply({**variables, **first.model_state}, jnp.asarray(ids[:, 50:]),
                 jnp.asarray(targets[:, 50:]))
  for out, sl in ((first, slice(0, 50)), (second, slice(50, 100))):
    lg = logits[:, sl]
    log_z = np.log(np.sum(np.exp(lg - lg.max(2, keepdims=True)), 2)) + lg.max(2)
    nll = log_z - np.take_along_axis(lg, targets[:, sl, None], 2)[..., 0]
    np.testing.assert_allclose(np.asarray(out.loss), nll.mean(1), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(out.correct),
                               (lg.argmax(2) == targets[:, sl]).mean(1), atol=1e-6)
  np.testing.assert_allclose(np.asarray(second.model_state['carry']['lstm_1']['h']), h[1],
                             atol=1e-4)
  # reset_state zeroes the carry (start of each epoch / evaluation pass).
  reset = problem.reset_state(second.model_state)
  assert all(float(jnp.abs(a).max()) == 0.0 for a in jax.tree.leaves(reset['carry']))
  again = apply({**variables, **reset}, jnp.asarray(ids[:, :50]), jnp.asarray(targets[:, :50]))
  np.testing.assert_allclose(np.asarray(again.loss), np.asarray(first.loss), rtol=1e-6)
  with pytest.raises(ValueError, match='carry holds 3 rows but the batch has 2'):
    problem.apply(variables, jnp.asarray(ids[:2, :50]), jnp.asarray(targets[:2, :50]),
                  train=False, rng=KEY)


def test_preprocess():
  raw = jnp.asarray(np.random.RandomState(0).randint(0, 256, (2, 28, 28, 1)), jnp.uint8)
  out = problems.get('fmnist_2c2d').preprocess(raw, KEY, True)
  assert out.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(out), np.asarray(raw) / 255.0, rtol=1e-6)
  from jaxbench.data import augment
  images = jnp.asarray(np.random.RandomState(1).randint(0, 256, (2, 32, 32, 3)), jnp.uint8)
  for name in ('cifar10_3c3d', 'svhn_wrn164'):
    problem = problems.get(name)
    np.testing.assert_array_equal(np.asarray(problem.preprocess(images, KEY, False)),
                                  np.asarray(augment.standardize(images)))
  np.testing.assert_array_equal(
      np.asarray(problems.get('cifar100_allcnnc').preprocess(images, KEY, True)),
      np.asarray(augment.augment_and_standardize(images, KEY, flip=True)))
  np.testing.assert_array_equal(
      np.asarray(problems.get('svhn_3c3d').preprocess(images, KEY, True)),
      np.asarray(augment.augment_and_standardize(images, KEY, flip=False)))
  ids = jnp.arange(10, dtype=jnp.int32).reshape(2, 5)
  assert problems.get('tolstoi_char_rnn').preprocess(ids, KEY, True) is ids


@pytest.mark.parametrize('name,steps,learning_rate,min_accuracy', [
    ('fmnist_logreg', 100, 0.1, 0.65), ('fmnist_mlp', 60, 0.1, 0.3)])
def test_fmnist_problems_learn_on_real_fashion_mnist(name, steps, learning_rate, min_accuracy):
  """The offline default data (Debian's Fashion-MNIST) through preprocess: plain SGD learns.

  Zero-initialised logreg predicts class 0 everywhere (10% on the balanced test set); a few
  dozen SGD steps on pixels / 255 must reach well above chance.
  """
  from jaxbench import data
  problem = problems.get(name)
  dataset = data.load('fashion_mnist', batch_size=problem.batch_size)
  variables = _variables(name)
  batch = problem.batch_size
  inputs = dataset.train.inputs[:steps * batch].reshape((steps, batch, 28, 28, 1))
  targets = dataset.train.targets[:steps * batch].reshape((steps, batch))

  @_jit
  def train(params):
    def step(params, xy):
      x = problem.preprocess(xy[0], KEY, True)
      grads = jax.grad(lambda p: jnp.mean(problem.apply(
          {'params': p}, x, xy[1], train=True, rng=KEY).loss))(params)
      return jax.tree.map(lambda p, g: p - learning_rate * g, params, grads), None
    return jax.lax.scan(step, params, (inputs, targets))[0]

  @_jit
  def accuracy(params):
    x = problem.preprocess(dataset.test.inputs[:2000], KEY, False)
    out = problem.apply({'params': params}, x, dataset.test.targets[:2000], train=False, rng=KEY)
    return jnp.mean(out.correct)

  before = float(accuracy(variables['params']))
  after = float(accuracy(train(variables['params'])))
  assert before < 0.3 and after > min_accuracy, (before, after)
