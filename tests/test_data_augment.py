"""On-device augmentation and standardization, checked against closed forms and statistics."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbench.data import augment


def test_standardize_matches_formula():
  rng = np.random.RandomState(0)
  images = rng.randint(0, 256, (4, 8, 8, 3)).astype(np.uint8)
  got = np.asarray(augment.standardize(images))
  assert got.dtype == np.float32
  x = images.astype(np.float64)
  for i in range(4):
    expected = (x[i] - x[i].mean()) / max(x[i].std(), 1 / np.sqrt(192))
    np.testing.assert_allclose(got[i], expected, rtol=1e-5, atol=1e-5)
    assert abs(got[i].mean()) < 1e-5 and abs(got[i].std() - 1) < 1e-5
  np.testing.assert_allclose(augment.standardize(images.astype(np.float32)), got, atol=1e-6)
  # A constant image has std 0 < 1/sqrt(192): the result is all zeros, not NaN.
  np.testing.assert_array_equal(augment.standardize(np.full((8, 8, 3), 7, np.uint8)), 0.0)
  # Tiny spread: divided by 1/sqrt(num_elements) instead of the std.
  tiny = np.zeros((8, 8, 3), np.float32)
  tiny[0, 0, 0] = 0.01
  expected = (tiny - tiny.mean()) * np.sqrt(192)
  np.testing.assert_allclose(augment.standardize(tiny), expected, rtol=1e-5, atol=1e-7)


def test_crop_offsets_within_range_and_uniform():
  # Pixel (h, w) holds 1 + 32 h + w, so the output reveals where the crop started.
  image = (1 + np.arange(32)[:, None] * 32 + np.arange(32)[None, :]).astype(np.float32)[..., None]
  keys = jax.random.split(jax.random.PRNGKey(0), 500)
  crops = np.asarray(jax.vmap(augment.pad_and_random_crop, in_axes=(None, 0))(image, keys))
  # out[i, j] = padded[i + dy, j + dx] = image[i + dy - 2, j + dx - 2]; out[2, 2] = image[dy, dx].
  code = crops[:, 2, 2, 0].astype(int) - 1
  dy, dx = code // 32, code % 32
  assert dy.min() >= 0 and dy.max() <= 4 and dx.min() >= 0 and dx.max() <= 4
  for offsets in (dy, dx):
    freq = np.bincount(offsets, minlength=5) / 500
    np.testing.assert_allclose(freq, 0.2, atol=0.06)   # 5 equally likely offsets
  for crop, y, x in zip(crops, dy, dx):
    if y <= 2:
      np.testing.assert_array_equal(crop[:2 - y], 0)   # zero padding above the image
    else:
      np.testing.assert_array_equal(crop[32 - (y - 2):], 0)   # ... or below it
    if y <= 2 and x <= 2:
      assert crop[2 - y, 2 - x, 0] == 1                 # the original corner pixel
  # Every crop is a 32x32 window of the padded image.
  assert crops.shape == (500, 32, 32, 1)


def test_flip_probability_half():
  image = np.arange(4 * 4 * 3, dtype=np.float32).reshape(4, 4, 3)
  keys = jax.random.split(jax.random.PRNGKey(1), 2000)
  out = np.asarray(jax.vmap(augment.random_flip_left_right, in_axes=(None, 0))(image, keys))
  flipped = np.all(out == image[:, ::-1], axis=(1, 2, 3))
  kept = np.all(out == image, axis=(1, 2, 3))
  assert np.all(flipped ^ kept)
  assert abs(flipped.mean() - 0.5) < 0.04   # binomial std 0.011


def test_full_pipeline_flips_half_the_time_only_with_flip():
  # Grey image, bright left half: saturation leaves grey alone, contrast and standardization
  # keep the sign of (left - right), a crop shifts it by at most 2 columns.
  image = np.zeros((32, 32, 3), np.uint8)
  image[:, :16] = 200
  batch = np.broadcast_to(image, (600, 32, 32, 3))
  def left_minus_right(out):
    return np.asarray(out[:, :, :12].mean(axis=(1, 2, 3)) - out[:, :, 20:].mean(axis=(1, 2, 3)))
  with_flip = left_minus_right(augment.augment_and_standardize(
      jnp.asarray(batch), jax.random.PRNGKey(2), flip=True))
  without = left_minus_right(augment.augment_and_standardize(
      jnp.asarray(batch), jax.random.PRNGKey(2), flip=False))
  assert np.all(without > 0)
  assert abs((with_flip < 0).mean() - 0.5) < 0.07   # binomial std 0.02


def test_adjust_contrast_closed_form():
  rng = np.random.RandomState(3)
  image = rng.uniform(0, 255, (5, 6, 3)).astype(np.float32)
  mean = image.mean(axis=(0, 1))
  np.testing.assert_allclose(augment.adjust_contrast(image, 1.7), (image - mean) * 1.7 + mean,
                             rtol=1e-5, atol=1e-3)
  constant = np.full((4, 4, 3), 9.0, np.float32)
  np.testing.assert_allclose(augment.adjust_contrast(constant, 0.3), constant)


def test_adjust_saturation_published_example_and_closed_form():
  # The example in tf.image.adjust_saturation's documentation.
  x = np.array([[[1., 2., 3.], [4., 5., 6.]], [[7., 8., 9.], [10., 11., 12.]]], np.float32)
  expected = np.array([[[2., 2.5, 3.], [5., 5.5, 6.]], [[8., 8.5, 9.], [11., 11.5, 12.]]])
  np.testing.assert_allclose(augment.adjust_saturation(x, 0.5), expected, rtol=1e-6)
  # Keeping hue and value and scaling S = (max - min) / max by f, clipped to 1, moves every
  # channel along the line to the maximum: x' = v - (v - x) * min(f, v / (v - min)).
  rng = np.random.RandomState(4)
  pixels = rng.uniform(0, 255, (500, 3))
  v, lo = pixels.max(axis=1, keepdims=True), pixels.min(axis=1, keepdims=True)
  for f in (0.5, 1.0, 1.37, 10.0):
    expected = v - (v - pixels) * np.minimum(f, v / (v - lo))
    got = augment.adjust_saturation(pixels.astype(np.float32), f)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-3)
  # Grey pixels have no saturation to scale; all-negative pixels have V <= 0, hence S = 0 in
  # TF's kernel, and come back grey at V.
  grey = np.full((2, 3), 77.0, np.float32)
  np.testing.assert_allclose(augment.adjust_saturation(grey, 1.5), grey)
  np.testing.assert_allclose(augment.adjust_saturation(np.array([-0.1, -0.2, -0.3], np.float32),
                                                       1.2), [-0.1, -0.1, -0.1], rtol=1e-6)


def test_pipeline_output_independence_and_determinism():
  rng = np.random.RandomState(5)
  image = rng.randint(0, 256, (32, 32, 3)).astype(np.uint8)
  batch = jnp.asarray(np.broadcast_to(image, (8, 32, 32, 3)))
  fn = jax.jit(lambda b, k: augment.augment_and_standardize(b, k, flip=True))
  out = np.asarray(fn(batch, jax.random.PRNGKey(0)))
  assert out.shape == (8, 32, 32, 3) and out.dtype == np.float32
  np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-4)
  np.testing.assert_allclose(out.std(axis=(1, 2, 3)), 1, atol=1e-4)
  # Identical inputs, different per-example randomness.
  assert len({out[i].tobytes() for i in range(8)}) == 8
  np.testing.assert_array_equal(out, fn(batch, jax.random.PRNGKey(0)))
  assert not np.array_equal(out, fn(batch, jax.random.PRNGKey(1)))
  # vmappable over runs (one key per run), as the engine uses it.
  runs = jax.vmap(fn, in_axes=(None, 0))(batch, jax.random.split(jax.random.PRNGKey(0), 3))
  assert runs.shape == (3, 8, 32, 32, 3)
  np.testing.assert_array_equal(runs[0], fn(batch, jax.random.split(jax.random.PRNGKey(0), 3)[0]))


def test_rejects_non_rgb():
  with pytest.raises(ValueError, match=r'\[B, H, W, 3\]'):
    augment.augment_and_standardize(jnp.zeros((2, 28, 28, 1)), jax.random.PRNGKey(0), flip=True)
