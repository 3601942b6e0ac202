"""TensorFlow-1 initialisers with TF1's exact semantics.

The benchmark's models were initialised by TF1 (DeepOBS 1.2). These functions reproduce those
distributions (not the random streams): the fan computation of TF's `_compute_fans`, truncation at
two standard deviations by redrawing, and the 0.87962566 correction that TF (>= 1.11) and Keras
apply in `VarianceScaling(distribution='truncated_normal')`, which is what `glorot_normal` is.

All initialisers have flax's signature `init(key, shape, dtype=jnp.float32) -> Array`.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

Initializer = Callable[..., jax.Array]

# Standard deviation of a standard normal truncated to [-2, 2]
# (scipy.stats.truncnorm.std(a=-2, b=2)); TF's VarianceScaling divides by it.
TRUNCATED_NORMAL_STD_FACTOR = 0.87962566103423978


def tf_fans(shape: Sequence[int]) -> tuple[float, float]:
  """Fan-in and fan-out exactly as TF1's `init_ops._compute_fans`.

  Scalars count as (1, 1); vectors as (n, n) (this matters for variables created with
  `tf.get_variable` and no initializer, e.g. the char-RNN's softmax bias); matrices as
  (rows, cols); convolution kernels [..., in, out] multiply by the receptive field size.
  """
  if len(shape) < 1:
    return 1.0, 1.0
  if len(shape) == 1:
    return float(shape[0]), float(shape[0])
  if len(shape) == 2:
    return float(shape[0]), float(shape[1])
  receptive_field = math.prod(shape[:-2])
  return float(shape[-2] * receptive_field), float(shape[-1] * receptive_field)


def truncated_normal(stddev: float) -> Initializer:
  """TF1 `truncated_normal_initializer(stddev)`: N(0, stddev^2) redrawn beyond 2 stddev.

  No variance correction: the realised standard deviation is 0.8796 * stddev. Sampling by
  inverse CDF (jax.random.truncated_normal) gives the same distribution as TF's redrawing.
  """
  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    return stddev * jax.random.truncated_normal(key, -2.0, 2.0, tuple(shape), dtype)
  return init


def glorot_normal() -> Initializer:
  """TF1 `glorot_normal_initializer` / Keras `glorot_normal`.

  `VarianceScaling(scale=1, mode='fan_avg', distribution='truncated_normal')`: a normal with
  std sqrt(2 / (fan_in + fan_out)) / 0.87962566, truncated at two of those standard deviations,
  so the realised std is sqrt(2 / (fan_in + fan_out)).
  """
  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    fan_in, fan_out = tf_fans(shape)
    stddev = math.sqrt(1.0 / max(1.0, (fan_in + fan_out) / 2.0)) / TRUNCATED_NORMAL_STD_FACTOR
    return stddev * jax.random.truncated_normal(key, -2.0, 2.0, tuple(shape), dtype)
  return init


def glorot_uniform() -> Initializer:
  """TF1 `glorot_uniform_initializer`: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)).

  Also TF1's default for `tf.get_variable` without an initializer.
  """
  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    fan_in, fan_out = tf_fans(shape)
    limit = math.sqrt(3.0 / max(1.0, (fan_in + fan_out) / 2.0))
    return jax.random.uniform(key, tuple(shape), dtype, -limit, limit)
  return init


def constant(value: float) -> Initializer:
  """TF1 `constant_initializer(value)` (biases 0.05, 0.1, 0, and the quadratic's theta = 1)."""
  def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
    del key
    return jnp.full(tuple(shape), value, dtype)
  return init
