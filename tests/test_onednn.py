"""oneDNN convolutions (jaxbench.problems.onednn) equal lax's: values and both gradients."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxbench.errors import ConfigError
from jaxbench.problems import nets, onednn

DN = ("NHWC", "HWIO", "NHWC")

# (input NHWC, kernel HWIO, strides, padding): the paper's layer kinds — 5x5 SAME with 1 and 32
# input channels (2c2d), 5x5 VALID on 3 channels (3c3d), 3x3 SAME, strided (All-CNN-C, VAE
# encoder), 1x1 (All-CNN-C, WRN shortcuts), uneven SAME padding and explicit padding pairs.
CONVS = [
  ((2, 12, 12, 1), (5, 5, 1, 8), (1, 1), "SAME"),
  ((2, 14, 14, 32), (5, 5, 32, 16), (1, 1), "SAME"),
  ((2, 16, 16, 3), (5, 5, 3, 8), (1, 1), "VALID"),
  ((2, 8, 8, 6), (3, 3, 6, 5), (2, 2), "SAME"),
  ((2, 7, 9, 4), (4, 4, 4, 3), (2, 2), "SAME"),
  ((2, 6, 6, 4), (1, 1, 4, 7), (1, 1), "VALID"),
  ((2, 9, 9, 2), (3, 3, 2, 3), (2, 1), ((1, 0), (2, 1))),
]

# Conv-transposes (kernel [kh, kw, out, in]): the VAE decoder's 4x4/2 SAME, odd sizes, VALID.
TRANSPOSES = [
  ((2, 7, 7, 8), (4, 4, 6, 8), (2, 2), "SAME"),
  ((2, 5, 6, 3), (3, 3, 4, 3), (2, 2), "SAME"),
  ((2, 5, 6, 3), (3, 3, 4, 3), (1, 1), "VALID"),
  ((2, 4, 4, 2), (2, 2, 3, 2), (3, 3), "VALID"),
]


def _rand(shape, seed):
  return jnp.asarray(np.random.RandomState(seed).normal(size=shape).astype(np.float32))


def _check(ref, ours, x, k):
  y_ref = ref(x, k)
  y = jax.jit(ours)(x, k)
  assert y.shape == y_ref.shape
  cot = _rand(y_ref.shape, 9)
  g_ref = jax.grad(lambda a, b: jnp.sum(ref(a, b) * cot), argnums=(0, 1))(x, k)
  g = jax.jit(jax.grad(lambda a, b: jnp.sum(ours(a, b) * cot), argnums=(0, 1)))(x, k)
  for got, want in zip((y,) + g, (y_ref,) + g_ref):
    scale = float(jnp.max(jnp.abs(want)))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=2e-5 * scale)


@pytest.mark.parametrize("x_shape,k_shape,strides,padding", CONVS)
def test_onednn_conv_equals_lax_forward_and_gradients(x_shape, k_shape, strides, padding):
  _check(lambda x, k: lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=DN),
         lambda x, k: onednn.conv(x, k, strides, padding), _rand(x_shape, 0), _rand(k_shape, 1))


@pytest.mark.parametrize("x_shape,k_shape,strides,padding", TRANSPOSES)
def test_onednn_conv_transpose_equals_lax(x_shape, k_shape, strides, padding):
  _check(lambda x, k: lax.conv_transpose(x, k, strides, padding, transpose_kernel=True),
         lambda x, k: onednn.conv_transpose(x, k, strides, padding),
         _rand(x_shape, 2), _rand(k_shape, 3))


def test_onednn_conv_on_a_hand_worked_example():
  # 1x3x3x1 input 1..9, 2x2 kernel of ones, VALID: each output sums a 2x2 window.
  x = jnp.arange(1.0, 10.0, dtype=jnp.float32).reshape(1, 3, 3, 1)
  y = onednn.conv(x, jnp.ones((2, 2, 1, 1), jnp.float32), (1, 1), "VALID")
  np.testing.assert_array_equal(np.asarray(y).reshape(2, 2), [[12.0, 16.0], [24.0, 28.0]])


def test_vmapped_runs_equal_each_run_alone():
  # The engine's vmap strategy: each run is one oneDNN call; every run must get what it gets
  # alone on lax's path.
  x, k = _rand((3, 2, 8, 8, 4), 4), _rand((3, 3, 3, 4, 5), 5)
  batched = jax.jit(jax.vmap(lambda a, b: onednn.conv(a, b, (1, 1), "SAME")))(x, k)
  for run in range(3):
    alone = lax.conv_general_dilated(x[run], k[run], (1, 1), "SAME", dimension_numbers=DN)
    np.testing.assert_allclose(np.asarray(batched[run]), np.asarray(alone), rtol=0,
                               atol=2e-5 * float(jnp.max(jnp.abs(alone))))


def test_a_system_without_onednn_gets_a_one_line_error_naming_the_packages(monkeypatch):
  monkeypatch.setattr(onednn, "missing", lambda: ["the oneDNN library (libdnnl)"])
  onednn._register.cache_clear()  # pylint: disable=protected-access
  try:
    with pytest.raises(ConfigError, match=r"needs the oneDNN library.*apt-get install libdnnl-dev"):
      onednn.conv(jnp.ones((1, 4, 4, 1)), jnp.ones((2, 2, 1, 1)), (1, 1), "VALID")
  finally:
    onednn._register.cache_clear()  # pylint: disable=protected-access


def test_the_build_lands_in_the_cache_folder(tmp_path, monkeypatch):
  monkeypatch.setenv("JAXBENCH_CACHE", str(tmp_path))
  path = onednn._library_path()  # pylint: disable=protected-access
  assert path.startswith(str(tmp_path)) and path.endswith("libjaxbench_onednn.so")
  onednn._build(path)  # pylint: disable=protected-access
  assert (tmp_path / path[len(str(tmp_path)) + 1:]).exists()


def test_conv_modules_accept_onednn():
  model = nets.TwoCTwoD(10, conv_impl="onednn")
  x = jnp.zeros((1, 28, 28, 1))
  variables = model.init(jax.random.PRNGKey(0), x)
  assert model.apply(variables, x).shape == (1, 10)


# -- LSTM layers (onednn.lstm) against XLA's scan of the TF1 cell ---------------------------

def _lstm_args(batch, steps, inputs, hidden, seed):
  rng = np.random.RandomState(seed)
  normal = lambda *shape, scale=0.5: jnp.asarray(  # noqa: E731
      rng.normal(size=shape).astype(np.float32) * scale)
  return (normal(batch, steps, inputs), normal(inputs + hidden, 4 * hidden, scale=0.3),
          normal(4 * hidden), normal(batch, hidden), normal(batch, hidden))


def _xla_lstm(x, kernel, bias, c0, h0):
  layer = nets.TFLSTMLayer(h0.shape[-1])
  carry = {"lstm": {"c": c0, "h": h0}}
  out, state = layer.apply({"params": {"kernel": kernel, "bias": bias}, "carry": carry["lstm"]},
                           x, mutable=["carry"])
  return out, state["carry"]["c"], state["carry"]["h"]


@pytest.mark.parametrize("batch,steps,inputs,hidden",
                         [(3, 7, 5, 4), (2, 1, 3, 6), (50, 50, 128, 128)])
def test_onednn_lstm_equals_the_xla_scan_forward_and_gradients(batch, steps, inputs, hidden):
  """Outputs, final (c, h), and the gradients of a loss on all three with respect to the
  input, kernel, bias and initial state (the TF1 gate order and the forget bias must map)."""
  args = _lstm_args(batch, steps, inputs, hidden, seed=steps)
  cots = [_rand(s, 7 + i) for i, s in enumerate([(batch, steps, hidden), (batch, hidden),
                                                 (batch, hidden)])]
  loss = lambda f: lambda *a: sum(jnp.sum(o * c) for o, c in zip(f(*a), cots))  # noqa: E731
  want = _xla_lstm(*args)
  got = jax.jit(lambda *a: onednn.lstm(*a))(*args)
  g_want = jax.grad(loss(_xla_lstm), argnums=(0, 1, 2, 3, 4))(*args)
  g_got = jax.jit(jax.grad(loss(onednn.lstm), argnums=(0, 1, 2, 3, 4)))(*args)
  for a, b in zip(got + g_got, want + g_want):
    assert a.shape == b.shape
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0,
                               atol=2e-5 * float(jnp.max(jnp.abs(b))))


def test_onednn_lstm_with_zero_weights_is_the_closed_form():
  """kernel = 0, bias = 0: every gate is sigmoid(0) = 1/2 except the forget gate's
  sigmoid(0 + 1) and the candidate tanh(0) = 0, so c_t = sigmoid(1) c_{t-1}, h_t = tanh(c_t)/2."""
  x, _, _, c0, h0 = _lstm_args(2, 3, 4, 5, seed=1)
  out, c, h = onednn.lstm(x, jnp.zeros((9, 20)), jnp.zeros(20), c0, h0)
  forget = 1 / (1 + np.exp(-1.0))
  cells = [np.asarray(c0) * forget ** t for t in (1, 2, 3)]
  np.testing.assert_allclose(np.asarray(out), np.stack([np.tanh(v) / 2 for v in cells], 1),
                             atol=1e-6)
  np.testing.assert_allclose(np.asarray(c), cells[-1], atol=1e-6)
  np.testing.assert_allclose(np.asarray(h), np.tanh(cells[-1]) / 2, atol=1e-6)


def test_vmapped_lstm_runs_equal_each_run_alone():
  runs = [_lstm_args(4, 6, 5, 3, seed=s) for s in (3, 4)]
  stacked = [jnp.stack(parts) for parts in zip(*runs)]
  together = jax.jit(jax.vmap(onednn.lstm))(*stacked)
  for r, args in enumerate(runs):
    for a, b in zip(together, onednn.lstm(*args)):
      np.testing.assert_array_equal(np.asarray(a[r]), np.asarray(b))


def test_char_rnn_trains_the_same_with_either_lstm():
  """The model (embedding, dropout, two layers, softmax) in train mode: same loss and
  parameter gradients with lstm_impl 'xla' and 'onednn' (same parameters: the module paths)."""
  ids = jnp.asarray(np.random.RandomState(0).randint(0, 83, (5, 7)), jnp.int32)
  rngs = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}
  results = []
  for impl in nets.RNN_IMPLS:
    model = nets.CharRNN(83, lstm_impl=impl)
    variables = model.init(rngs, ids)

    def loss(params, model=model, variables=variables):
      logits, _ = model.apply({**variables, "params": params}, ids, train=True,
                              rngs={"dropout": jax.random.PRNGKey(5)}, mutable=["carry"])
      return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), ids[..., None], -1))

    results.append(jax.value_and_grad(loss)(variables["params"]))
  (loss_x, grad_x), (loss_o, grad_o) = results
  np.testing.assert_allclose(float(loss_o), float(loss_x), rtol=1e-6)
  for a, b in zip(jax.tree.leaves(grad_o), jax.tree.leaves(grad_x)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0,
                               atol=2e-5 * float(jnp.max(jnp.abs(b))))


def test_unknown_lstm_impl_names_the_choices():
  with pytest.raises(ConfigError, match=r"lstm_impl='cudnn'; valid choices: xla, onednn"):
    nets.CharRNN(83, lstm_impl="cudnn").init(jax.random.PRNGKey(0), jnp.zeros((2, 3), jnp.int32))
