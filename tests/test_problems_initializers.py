"""TF1 initialiser semantics: bounds, standard deviations and fans, against closed forms."""
from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from jaxbench.problems import initializers

# std of a standard normal truncated to [-2, 2]: sqrt(1 - 2*2*phi(2) / (2*Phi(2) - 1)),
# computed here from the normal pdf/cdf, not from the module's constant.
_PHI2 = math.exp(-2.0) / math.sqrt(2.0 * math.pi)
_MASS2 = math.erf(2.0 / math.sqrt(2.0))
TRUNC_STD = math.sqrt(1.0 - 4.0 * _PHI2 / _MASS2)


def test_truncation_constant_matches_closed_form():
  assert TRUNC_STD == pytest.approx(initializers.TRUNCATED_NORMAL_STD_FACTOR, abs=1e-12)


def test_truncated_normal_is_tf1_semantics_without_rescaling():
  x = np.asarray(initializers.truncated_normal(0.05)(jax.random.PRNGKey(0), (400, 500)))
  assert np.all(np.abs(x) <= 2 * 0.05)
  # Not rescaled: realised std is 0.05 * 0.8796 (TF1 truncated_normal_initializer), not 0.05.
  assert x.std() == pytest.approx(0.05 * TRUNC_STD, rel=0.01)
  assert x.mean() == pytest.approx(0.0, abs=1e-3)
  # Shape of a truncated (redrawn) normal: P(|z| < 1 | |z| < 2) = erf(1/sqrt2) / erf(2/sqrt2).
  inside_one_sigma = np.mean(np.abs(x) < 0.05)
  assert inside_one_sigma == pytest.approx(math.erf(1 / math.sqrt(2)) / _MASS2, abs=0.005)


def test_glorot_normal_conv_kernel():
  shape = (5, 5, 64, 32)
  fan_in, fan_out = 5 * 5 * 64, 5 * 5 * 32
  target_std = math.sqrt(2.0 / (fan_in + fan_out))
  x = np.asarray(initializers.glorot_normal()(jax.random.PRNGKey(1), shape))
  # TF >= 1.11 divides the untruncated std by 0.8796 so that the realised std is Glorot's.
  assert x.std() == pytest.approx(target_std, rel=0.01)
  assert np.abs(x).max() <= 2 * target_std / TRUNC_STD * (1 + 1e-6)
  assert np.abs(x).max() > 1.9 * target_std / TRUNC_STD


def test_glorot_uniform_bounds_and_variance():
  shape = (256, 512)
  limit = math.sqrt(6.0 / (256 + 512))
  x = np.asarray(initializers.glorot_uniform()(jax.random.PRNGKey(2), shape))
  assert np.abs(x).max() <= limit
  assert np.abs(x).max() > 0.99 * limit
  assert x.var() == pytest.approx(limit ** 2 / 3.0, rel=0.02)


def test_tf_fans_follow_tf1_rules():
  assert initializers.tf_fans(()) == (1.0, 1.0)
  assert initializers.tf_fans((83,)) == (83.0, 83.0)   # TF1 treats vectors as (n, n)
  assert initializers.tf_fans((128, 83)) == (128.0, 83.0)
  assert initializers.tf_fans((3, 3, 16, 64)) == (9.0 * 16, 9.0 * 64)


def test_glorot_uniform_vector_uses_tf1_fans():
  x = np.asarray(initializers.glorot_uniform()(jax.random.PRNGKey(3), (20000,)))
  limit = math.sqrt(6.0 / (20000 + 20000))
  assert np.abs(x).max() <= limit and np.abs(x).max() > 0.99 * limit


def test_constant():
  x = np.asarray(initializers.constant(0.1)(jax.random.PRNGKey(0), (3, 2)))
  np.testing.assert_array_equal(x, np.full((3, 2), 0.1, np.float32))
