"""The DeepOBS architectures, each written once (flax.linen, NHWC).

Layer for layer the TF1 graphs of DeepOBS 1.2 (`deepobs/tensorflow/testproblems/_*.py`), with
TF1's initialisers (see initializers.py). Paddings: flax's 'SAME'/'VALID' and max-pool 'SAME'
match TF's (TF pads SAME asymmetrically with the extra pixel at the end, as lax does; max-pool
padding never wins a max).

Parameter naming matters: the regularizer decays every leaf called 'kernel' (conv and dense
weights) and nothing else (biases, BatchNorm scale/bias, embeddings, theta, u, v).

Convolutions have two implementations with the same parameters (names, shapes, initial values)
and the same numbers up to float32 rounding, chosen by each conv model's `conv_impl` attribute:
  'xla'    — `lax.conv_general_dilated` / `lax.conv_transpose` (flax's own path; the reference);
  'matmul' — im2col by shifted strided slices concatenated on the channel axis, then ONE
             `dot_general` with the kernel reshaped to [kh*kw*in, out]. The slices' transpose is
             pads and adds (no scatter), and under `vmap` over runs the product becomes a
             batched matmul instead of a grouped convolution. On XLA:CPU (jax 0.10.2) it
             measured 0.41-0.93x of 'xla' per step, so 'xla' stays the default everywhere;
             BUILD_NOTES.md, "Convolution and recurrent performance ... (session 3)".
  'onednn' — oneDNN's convolution primitives (forward, input and weight gradient) as XLA FFI
             custom calls (onednn.py); the policy's choice on CPU where the system has oneDNN.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxbench.errors import ConfigError
from jaxbench.problems import initializers as init
from jaxbench.problems import onednn

_zeros = init.constant(0.0)
CONV_IMPLS = ('xla', 'matmul', 'onednn')
# How the LSTM layers run: XLA's scan of the TF1 cell, or oneDNN's LSTM primitive (CPU).
RNN_IMPLS = ('xla', 'onednn')
_DIMENSION_NUMBERS = ('NHWC', 'HWIO', 'NHWC')


def _check_conv_impl(conv_impl: str) -> None:
  if conv_impl not in CONV_IMPLS:
    raise ConfigError(f'conv_impl={conv_impl!r}; valid choices: {", ".join(CONV_IMPLS)}')


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
  """TF/lax 'SAME' padding of one spatial axis: the extra pixel goes at the end."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def conv_matmul(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                padding: Any) -> jax.Array:
  """NHWC x HWIO convolution as im2col + one matrix product (same values as lax's).

  `padding` is 'SAME', 'VALID' or ((top, bottom), (left, right)). The patches are
  kh*kw strided views of the padded input concatenated on the channel axis in (i, j, channel)
  order, which is the row-major order of `kernel.reshape(kh * kw * in, out)`.
  """
  kh, kw, cin, cout = kernel.shape
  sh, sw = strides
  if padding == 'SAME':
    pads = (_same_padding(x.shape[1], kh, sh), _same_padding(x.shape[2], kw, sw))
  elif padding == 'VALID':
    pads = ((0, 0), (0, 0))
  else:
    pads = tuple(tuple(p) for p in padding)
  if any(p for pair in pads for p in pair):
    x = jnp.pad(x, ((0, 0),) + pads + ((0, 0),))
  out_h = (x.shape[1] - kh) // sh + 1
  out_w = (x.shape[2] - kw) // sw + 1
  views = [x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw, :]
           for i in range(kh) for j in range(kw)]
  patches = views[0] if len(views) == 1 else jnp.concatenate(views, axis=-1)
  return lax.dot_general(patches, kernel.reshape(kh * kw * cin, cout),
                         (((3,), (0,)), ((), ())))


def conv_transpose_matmul(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                          padding: str) -> jax.Array:
  """`lax.conv_transpose(x, kernel, strides, padding, transpose_kernel=True)` by conv_matmul.

  As lax does it: the input dilated by the stride (zeros between pixels: `lax.pad`'s interior
  padding, whose transpose is a strided slice) and padded, then a stride-1 convolution with the
  spatially flipped kernel whose in/out axes are swapped (the kernel is [kh, kw, out, in]).
  """
  kh, kw = kernel.shape[:2]
  pads = [lax_conv_transpose_padding(k, s, padding) for k, s in zip((kh, kw), strides)]
  x = lax.pad(x, jnp.zeros((), x.dtype),
              ((0, 0, 0),) + tuple((a, b, s - 1) for (a, b), s in zip(pads, strides))
              + ((0, 0, 0),))
  kernel = jnp.swapaxes(kernel[::-1, ::-1], 2, 3)
  return conv_matmul(x, kernel, (1, 1), 'VALID')


def lax_conv_transpose_padding(kernel: int, stride: int, padding: str) -> tuple[int, int]:
  """The padding `lax.conv_transpose` puts around the dilated input ('SAME' or 'VALID')."""
  if padding == 'SAME':
    total = kernel + stride - 2
    before = kernel - 1 if stride > kernel - 1 else -(-total // 2)
  elif padding == 'VALID':
    total = kernel + stride - 2 + max(kernel - stride, 0)
    before = kernel - 1
  else:
    raise ConfigError(f'conv-transpose padding={padding!r}; valid choices: SAME, VALID')
  return before, total - before


def _conv_kernel(module: nn.Module, channels: tuple[int, int]) -> jax.Array:
  """`Conv`'s / `ConvTranspose`'s 'kernel' parameter, kernel_size + channels, after checking
  the module's conv_impl."""
  _check_conv_impl(module.conv_impl)
  return module.param('kernel', module.kernel_init, tuple(module.kernel_size) + channels,
                      jnp.float32)


class Conv(nn.Module):
  """A 2-D NHWC convolution with flax `nn.Conv`'s parameters ('kernel' HWIO, 'bias').

  conv_impl 'xla' computes exactly what `nn.Conv` computes (`lax.conv_general_dilated`);
  'matmul' computes `conv_matmul` (equal up to float32 summation order).
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: Any = 'SAME'
  use_bias: bool = True
  kernel_init: Callable = init.glorot_uniform()
  bias_init: Callable = _zeros
  conv_impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = _conv_kernel(self, (x.shape[-1], self.features))
    strides = tuple(self.strides)
    if self.conv_impl == 'matmul':
      y = conv_matmul(x, kernel, strides, self.padding)
    elif self.conv_impl == 'onednn':
      y = onednn.conv(x, kernel, strides, self.padding)
    else:
      y = lax.conv_general_dilated(x, kernel, strides, self.padding,
                                   dimension_numbers=_DIMENSION_NUMBERS)
    if self.use_bias:
      y = y + self.param('bias', self.bias_init, (self.features,), jnp.float32)
    return y


class ConvTranspose(nn.Module):
  """TF's `conv2d_transpose` (flax `nn.ConvTranspose(transpose_kernel=True)`), same parameters:
  'kernel' [kh, kw, features, in] and 'bias'. conv_impl as for `Conv`.
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1)
  padding: str = 'SAME'
  kernel_init: Callable = init.glorot_uniform()
  bias_init: Callable = _zeros
  conv_impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = _conv_kernel(self, (self.features, x.shape[-1]))
    strides = tuple(self.strides)
    if self.conv_impl == 'matmul':
      y = conv_transpose_matmul(x, kernel, strides, self.padding)
    elif self.conv_impl == 'onednn':
      y = onednn.conv_transpose(x, kernel, strides, self.padding)
    else:
      y = lax.conv_transpose(x, kernel, strides, self.padding, transpose_kernel=True)
    return y + self.param('bias', self.bias_init, (self.features,), jnp.float32)


def _flatten(x: jax.Array) -> jax.Array:
  """Row-major flatten of NHWC, the order of TF's reshape."""
  return x.reshape((x.shape[0], -1))


def _pool_input(x: jax.Array, size: int, stride: int) -> tuple[jax.Array, tuple[int, int]]:
  """The -inf padded input of a TF 'SAME' max-pool and its output (height, width)."""
  out = (-(-x.shape[1] // stride), -(-x.shape[2] // stride))
  pads = lax.padtype_to_pads(x.shape[1:3], (size, size), (stride, stride), 'SAME')
  if any(p for pair in pads for p in pair):
    x = jnp.pad(x, ((0, 0),) + tuple(pads) + ((0, 0),), constant_values=-jnp.inf)
  return x, out


def _max_pool(x: jax.Array, size: int, stride: int) -> jax.Array:
  """TF 'SAME' max-pool (NHWC): the -inf padded input's maximum over `size` strided row views,
  then over `size` strided column views of that (separable: 2*size views, not size*size).

  Same values as `nn.max_pool(..., padding='SAME')` (TF pads the extra pixel at the end). Why not
  `nn.max_pool`: on XLA:CPU the gradient of reduce-window max materialises argmax index arrays
  and a scatter (~110 of 274 ms of the fmnist_2c2d step); the views' gradient is a few selects
  (1.6x on the 2c2d step). Why separable: the gradient of size*size views was one loop fusion
  re-deriving every view's tie mask per input pixel (the largest fusion of the 2c2d step);
  rows-then-columns needs 2*size masks (3x3/2 pools: 6 instead of 9). Notes and measurements in
  BUILD_NOTES.md (`benchmarks/max_pool_ab.py`). Gradients differ from reduce-window's only at
  exact ties inside a window, which after a relu occur among zeros whose upstream gradient is
  zero anyway.
  """
  x, (out_h, out_w) = _pool_input(x, size, stride)
  rows = None
  for i in range(size):
    view = x[:, i:i + (out_h - 1) * stride + 1:stride]
    rows = view if rows is None else jnp.maximum(rows, view)
  out = None
  for j in range(size):
    view = rows[:, :, j:j + (out_w - 1) * stride + 1:stride]
    out = view if out is None else jnp.maximum(out, view)
  return out


class LogReg(nn.Module):
  """Logistic regression: flatten -> dense classes; weights and biases start at 0."""
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    del train
    return nn.Dense(self.num_classes, kernel_init=_zeros, bias_init=_zeros)(_flatten(x))


class MLP(nn.Module):
  """784 -> 1000 -> 500 -> 100 -> classes, relu, truncated normal(0.03) kernels, zero biases."""
  num_classes: int

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    del train
    dense = functools.partial(
        nn.Dense, kernel_init=init.truncated_normal(0.03), bias_init=_zeros)
    x = _flatten(x)
    for width in (1000, 500, 100):
      x = nn.relu(dense(width)(x))
    return dense(self.num_classes)(x)


class TwoCTwoD(nn.Module):
  """2c2d: two 5x5 'same' convs (32, 64) with 2x2 max-pools, dense 1024, dense classes.

  Kernels TF1 truncated normal std 0.05, biases 0.05 (DeepOBS `_2c2d`).
  """
  num_classes: int
  conv_impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    del train
    kernel_init, bias_init = init.truncated_normal(0.05), init.constant(0.05)
    conv = functools.partial(Conv, kernel_size=(5, 5), padding='SAME', kernel_init=kernel_init,
                             bias_init=bias_init, conv_impl=self.conv_impl)
    dense = functools.partial(nn.Dense, kernel_init=kernel_init, bias_init=bias_init)
    x = _max_pool(nn.relu(conv(32)(x)), 2, 2)
    x = _max_pool(nn.relu(conv(64)(x)), 2, 2)
    x = nn.relu(dense(1024)(_flatten(x)))
    return dense(self.num_classes)(x)


class ThreeCThreeD(nn.Module):
  """3c3d: conv 64 5x5 valid, conv 96 3x3 valid, conv 128 3x3 same, each relu + 3x3/2 max-pool;
  dense 512, 256, classes. Glorot-normal conv kernels, Glorot-uniform dense kernels, zero biases.
  """
  num_classes: int
  conv_impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    del train
    conv = functools.partial(Conv, kernel_init=init.glorot_normal(), bias_init=_zeros,
                             conv_impl=self.conv_impl)
    dense = functools.partial(nn.Dense, kernel_init=init.glorot_uniform(), bias_init=_zeros)
    x = _max_pool(nn.relu(conv(64, (5, 5), padding='VALID')(x)), 3, 2)
    x = _max_pool(nn.relu(conv(96, (3, 3), padding='VALID')(x)), 3, 2)
    x = _max_pool(nn.relu(conv(128, (3, 3), padding='SAME')(x)), 3, 2)
    x = _flatten(x)                           # 3 * 3 * 128 for 32x32 inputs
    x = nn.relu(dense(512)(x))
    x = nn.relu(dense(256)(x))
    return dense(self.num_classes)(x)


class AllCNNC(nn.Module):
  """All-CNN-C (Springenberg et al.) as in DeepOBS: Glorot-normal kernels, biases 0.1.

  Every conv, the last (classes-wide 1x1) one included, is followed by relu, so the logits
  (its global average) are non-negative, as in DeepOBS.
  """
  num_classes: int
  conv_impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    conv = functools.partial(Conv, kernel_init=init.glorot_normal(),
                             bias_init=init.constant(0.1), conv_impl=self.conv_impl)
    x = nn.Dropout(0.2, deterministic=not train)(x)
    x = nn.relu(conv(96, (3, 3), padding='SAME')(x))
    x = nn.relu(conv(96, (3, 3), padding='SAME')(x))
    x = nn.relu(conv(96, (3, 3), strides=(2, 2), padding='SAME')(x))
    x = nn.Dropout(0.5, deterministic=not train)(x)
    x = nn.relu(conv(192, (3, 3), padding='SAME')(x))
    x = nn.relu(conv(192, (3, 3), padding='SAME')(x))
    x = nn.relu(conv(192, (3, 3), strides=(2, 2), padding='SAME')(x))
    x = nn.Dropout(0.5, deterministic=not train)(x)
    x = nn.relu(conv(192, (3, 3), padding='VALID')(x))
    x = nn.relu(conv(192, (1, 1), padding='SAME')(x))
    x = nn.relu(conv(self.num_classes, (1, 1), padding='SAME')(x))
    return jnp.mean(x, axis=(1, 2))


class WideResNet(nn.Module):
  """Pre-activation Wide ResNet (DeepOBS `_wrn`): depth 6 * units + 4, widening factor `width`.

  BatchNorm statistics live in the 'batch_stats' collection and are updated in train mode only;
  flax's `momentum` is the decay of the running average (new = 0.9 old + 0.1 batch), the same
  convention as TF's `batch_normalization(momentum=0.9)`.
  """
  num_units: int
  width: int
  num_classes: int
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  conv_impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    conv = functools.partial(Conv, padding='SAME', use_bias=False,
                             kernel_init=init.glorot_uniform(), conv_impl=self.conv_impl)
    batch_norm = functools.partial(
        nn.BatchNorm, use_running_average=not train, momentum=self.bn_momentum,
        epsilon=self.bn_epsilon, use_fast_variance=False)
    filters = [16, 16 * self.width, 32 * self.width, 64 * self.width]
    strides = [1, 2, 2]
    x = conv(16, (3, 3))(x)
    for group in range(3):
      stride, features = strides[group], filters[group + 1]
      # First unit: the shortcut branches off *after* the pre-activation.
      x = nn.relu(batch_norm()(x))
      if filters[group] == features:
        # Equal widths occur only in the first group, whose stride is 1 (DeepOBS's max-pool
        # shortcut for a strided unit of unchanged width is unreachable in WRN-16-4/40-4).
        shortcut = x
      else:
        shortcut = conv(features, (1, 1), strides=(stride, stride))(x)
      x = conv(features, (3, 3), strides=(stride, stride))(x)
      x = nn.relu(batch_norm()(x))
      x = conv(features, (3, 3))(x)
      x = x + shortcut
      for _ in range(1, self.num_units):
        residual = nn.relu(batch_norm()(x))
        residual = conv(features, (3, 3))(residual)
        residual = nn.relu(batch_norm()(residual))
        residual = conv(features, (3, 3))(residual)
        x = x + residual
    x = nn.relu(batch_norm()(x))
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, kernel_init=init.glorot_uniform(), bias_init=_zeros)(x)


def lrelu(x: jax.Array) -> jax.Array:
  """DeepOBS's leaky relu: max(x, 0.3 x)."""
  return jnp.maximum(x, 0.3 * x)


class VAE(nn.Module):
  """DeepOBS's convolutional VAE (`_vae`) for 28x28x1 inputs in [0, 1].

  Returns (reconstruction [B, 28, 28], mean [B, n_latent], s [B, n_latent]) where s is the log
  standard deviation. The latent noise uses the 'sample' rng, which is drawn in eval mode too
  (the engine passes a fixed key there, so evaluation is deterministic).
  Glorot-uniform kernels, zero biases (TF1 layer defaults). Conv-transposes are TF's
  `conv2d_transpose` (the gradient of a 'SAME' conv: flax `transpose_kernel=True`).
  """
  n_latent: int = 8
  conv_impl: str = 'xla'

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False):
    kernel_init = init.glorot_uniform()
    conv = functools.partial(Conv, kernel_size=(4, 4), padding='SAME',
                             kernel_init=kernel_init, bias_init=_zeros, conv_impl=self.conv_impl)
    conv_t = functools.partial(ConvTranspose, kernel_size=(4, 4), padding='SAME',
                               kernel_init=kernel_init, bias_init=_zeros,
                               conv_impl=self.conv_impl)
    dense = functools.partial(nn.Dense, kernel_init=kernel_init, bias_init=_zeros)
    dropout = functools.partial(nn.Dropout, 0.2, deterministic=not train)

    batch = x.shape[0]
    h = x.reshape((batch, 28, 28, 1))
    h = dropout()(lrelu(conv(64, strides=(2, 2))(h)))
    h = dropout()(lrelu(conv(64, strides=(2, 2))(h)))
    h = dropout()(lrelu(conv(64, strides=(1, 1))(h)))
    h = _flatten(h)
    mean = dense(self.n_latent)(h)
    log_std = 0.5 * dense(self.n_latent)(h)
    eps = jax.random.normal(self.make_rng('sample'), (batch, self.n_latent), mean.dtype)
    z = mean + eps * jnp.exp(log_std)

    d = lrelu(dense(24)(z))
    d = lrelu(dense(24 * 2 + 1)(d))
    d = d.reshape((batch, 7, 7, 1))
    d = dropout()(nn.relu(conv_t(64, strides=(2, 2))(d)))
    d = dropout()(nn.relu(conv_t(64, strides=(1, 1))(d)))
    d = nn.relu(conv_t(64, strides=(1, 1))(d))
    d = nn.sigmoid(dense(28 * 28)(_flatten(d)))
    return d.reshape((batch, 28, 28)), mean, log_std


class TFLSTMLayer(nn.Module):
  """One layer of TF1's `LSTMCell` run over a sequence, its state carried across calls.

  TF1 semantics: one kernel [input + hidden, 4 hidden] acting on concat(input, h_prev) (so the
  Glorot-uniform fans are those of the joint matrix), one zero-initialised bias per gate, gate
  order (i, j, f, o) with j the cell candidate, forget_bias 1.0 added as a constant:
    c = sigmoid(f + 1) c_prev + sigmoid(i) tanh(j);  h = sigmoid(o) tanh(c).
  The state (c, h), each [batch, hidden], lives in the 'carry' collection; it is read at the
  start of the call and written back at its end (when 'carry' is mutable and not initialising).
  """
  hidden: int
  forget_bias: float = 1.0
  unroll: int = 1
  lstm_impl: str = 'xla'   # RNN_IMPLS: XLA's scan below, or oneDNN's LSTM (onednn.lstm)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    batch, _, input_size = x.shape
    kernel = self.param('kernel', init.glorot_uniform(),
                        (input_size + self.hidden, 4 * self.hidden))
    bias = self.param('bias', _zeros, (4 * self.hidden,))
    c_var = self.variable('carry', 'c', jnp.zeros, (batch, self.hidden), x.dtype)
    h_var = self.variable('carry', 'h', jnp.zeros, (batch, self.hidden), x.dtype)
    if c_var.value.shape[0] != batch:
      raise ValueError(
          f'LSTM carry holds {c_var.value.shape[0]} rows but the batch has {batch}: the char-RNN '
          'carries its state row by row, so every batch (training and evaluation) must have the '
          "problem's batch size; build the problem with get(name, batch_size=...)")
    if self.lstm_impl not in RNN_IMPLS:
      raise ConfigError(f'lstm_impl={self.lstm_impl!r}; valid choices: {", ".join(RNN_IMPLS)}')
    if self.lstm_impl == 'onednn':
      outputs, c, h = onednn.lstm(x, kernel, bias, c_var.value, h_var.value, self.forget_bias)
    else:
      outputs, c, h = self._scan(x, kernel, bias, c_var.value, h_var.value)
    if not self.is_initializing() and self.is_mutable_collection('carry'):
      c_var.value, h_var.value = c, h
    return outputs

  def _scan(self, x, kernel, bias, c0, h0):
    # TF1's own form: one matmul of concat(x_t, h) per time step. Computing the input half for
    # all time steps outside the loop (x @ kernel[:input], one big matmul) measured 1.2-1.4x
    # slower on XLA:CPU: the loop's gate fusions then read dynamic slices of the stacked
    # [T, B, 4H] projection (BUILD_NOTES, "Performance IV").
    def step(carry, x_t):
      c, h = carry
      gates = jnp.concatenate([x_t, h], axis=-1) @ kernel + bias
      i, j, f, o = jnp.split(gates, 4, axis=-1)
      c = nn.sigmoid(f + self.forget_bias) * c + nn.sigmoid(i) * jnp.tanh(j)
      h = nn.sigmoid(o) * jnp.tanh(c)
      return (c, h), h

    (c, h), outputs = jax.lax.scan(step, (c0, h0), jnp.swapaxes(x, 0, 1), unroll=self.unroll)
    return jnp.swapaxes(outputs, 0, 1), c, h


class CharRNN(nn.Module):
  """DeepOBS tolstoi_char_rnn: embedding -> 2 x (dropout, LSTM 128, dropout) -> dense vocab.

  Each layer is a TF1 `DropoutWrapper(LSTMCell)` with input and output keep probability 0.8 in
  training: between the layers the output dropout of layer 1 and the input dropout of layer 2
  are both applied, as in DeepOBS. Masks are fresh at every time step (TF's non-variational
  dropout). Variables made by `tf.get_variable` without an initializer (embedding, softmax
  weight *and bias*) get TF1's default Glorot-uniform. Returns logits [B, T, vocab].
  """
  vocab_size: int = 83
  hidden: int = 128
  num_layers: int = 2
  keep_prob: float = 0.8
  unroll: int = 1
  lstm_impl: str = 'xla'   # RNN_IMPLS (the strategy policy's choice, Strategy.rnn_impl)

  @nn.compact
  def __call__(self, ids: jax.Array, *, train: bool = False) -> jax.Array:
    embedding = self.param('embedding', init.glorot_uniform(), (self.vocab_size, self.hidden))
    x = jnp.take(embedding, ids, axis=0)
    rate = 1.0 - self.keep_prob
    for layer in range(self.num_layers):
      x = nn.Dropout(rate, deterministic=not train)(x)
      x = TFLSTMLayer(self.hidden, unroll=self.unroll, lstm_impl=self.lstm_impl,
                      name=f'lstm_{layer}')(x)
      x = nn.Dropout(rate, deterministic=not train)(x)
    return nn.Dense(self.vocab_size, kernel_init=init.glorot_uniform(),
                    bias_init=init.glorot_uniform(), name='softmax')(x)
