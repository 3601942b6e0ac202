"""On-device image preprocessing: DeepOBS's CIFAR/SVHN training augmentation and per-image
standardization (SPEC "Data preprocessing").

Everything is jittable and vectorised over the batch (vmap over examples, no Python loops), so it
runs inside the compiled training step. Each example gets its own randomness from
`jax.random.split(key, batch)`; the caller passes a fresh per-run, per-step key.

The training pipeline reproduces DeepOBS's tf.image calls, in their order and in the [0, 255]
float value range DeepOBS used:
  resize_image_with_crop_or_pad(36, 36)  -> zero padding, 2 pixels per side
  random_crop(32, 32, 3)                 -> offsets uniform in {0, ..., 4} per axis
  random_flip_left_right                 -> with probability 1/2 (CIFAR only)
  random_brightness(63/255)              -> + delta ~ U[-63/255, 63/255)
  random_saturation(0.5, 1.5)            -> TF's AdjustSaturation kernel, see adjust_saturation
  random_contrast(0.2, 1.8)              -> (x - channel mean) * f + channel mean
  per_image_standardization
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

PAD = 2
BRIGHTNESS_MAX_DELTA = 63.0 / 255.0
SATURATION_RANGE = (0.5, 1.5)
CONTRAST_RANGE = (0.2, 1.8)


@jax.jit
def standardize(images: jax.Array) -> jax.Array:
  """Per-image standardization over each image's pixels and channels (the last three axes).

  (x - mean) / max(std, 1/sqrt(num_elements)), as tf.image.per_image_standardization; works for
  uint8 or float input, one image [H, W, C] or a batch [..., H, W, C]. Returns float32.
  The std is the population std computed two-pass (jnp.std); TF1 used sqrt(E[x^2] - E[x]^2),
  equal up to float32 rounding.
  """
  x = jnp.asarray(images).astype(jnp.float32)
  axes = (-3, -2, -1)
  num_elements = x.shape[-3] * x.shape[-2] * x.shape[-1]
  mean = jnp.mean(x, axis=axes, keepdims=True)
  std = jnp.std(x, axis=axes, keepdims=True)
  return (x - mean) / jnp.maximum(std, 1.0 / jnp.sqrt(jnp.float32(num_elements)))


@jax.jit
def adjust_saturation(image: jax.Array, factor: jax.Array) -> jax.Array:
  """TF's AdjustSaturation kernel, vectorised over pixels: RGB -> HSV, S <- clip(S * factor,
  0, 1), HSV -> RGB, with the kernel's exact branch rules.

  The kernel works on any value range (DeepOBS feeds [0, 255] floats): V is the channel maximum,
  S = (max - min) / V when V > 0 else 0, H in [0, 1). Same algorithm in float32; results can
  differ from TensorFlow's in the last bit (TF adds the double constants 2/6 and 4/6).
  """
  r, g, b = image[..., 0], image[..., 1], image[..., 2]
  v = jnp.maximum(r, jnp.maximum(g, b))
  spread = v - jnp.minimum(r, jnp.minimum(g, b))
  s = jnp.where(v > 0, spread / jnp.where(v > 0, v, 1.0), 0.0)
  norm = 1.0 / (6.0 * jnp.where(spread > 0, spread, 1.0))
  h = jnp.where(r == v, norm * (g - b),
                jnp.where(g == v, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0))
  h = jnp.where(spread <= 0, 0.0, h)
  h = jnp.where(h < 0, h + 1.0, h)
  s = jnp.clip(s * factor, 0.0, 1.0)
  # hsv_to_rgb
  c = s * v
  m = v - c
  dh = h * 6.0
  category = jnp.floor(dh).astype(jnp.int32)   # static_cast<int>; dh >= 0
  fmodu = jnp.mod(dh, 2.0)                       # the kernel's "+= 2 / -= 2" loops, for dh >= 0
  x = c * (1.0 - jnp.abs(fmodu - 1.0))
  zero = jnp.zeros_like(c)
  table = [(c, x, zero), (x, c, zero), (zero, c, x), (zero, x, c), (x, zero, c), (c, zero, x)]
  def pick(channel):
    return jnp.select([category == k for k in range(6)], [t[channel] for t in table], zero)
  return jnp.stack([pick(0) + m, pick(1) + m, pick(2) + m], axis=-1)


@jax.jit
def adjust_contrast(image: jax.Array, factor: jax.Array) -> jax.Array:
  """tf.image.adjust_contrast: each channel's deviations from its spatial mean scaled."""
  mean = jnp.mean(image, axis=(-3, -2), keepdims=True)
  return (image - mean) * factor + mean


def random_crop_offsets(key: jax.Array, pad: int = PAD) -> jax.Array:
  """(row, col) offsets of a crop from a 2*pad larger image: uniform in {0, ..., 2*pad}."""
  return jax.random.randint(key, (2,), 0, 2 * pad + 1)


def pad_and_random_crop(image: jax.Array, key: jax.Array) -> jax.Array:
  """Zero-pads [H, W, C] by PAD per side and crops a random [H, W, C] window back out."""
  height, width, channels = image.shape
  padded = jnp.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)))
  offsets = random_crop_offsets(key)
  return jax.lax.dynamic_slice(padded, (offsets[0], offsets[1], 0), (height, width, channels))


def random_flip_left_right(image: jax.Array, key: jax.Array) -> jax.Array:
  """Mirrors [H, W, C] along the width with probability 1/2."""
  return jnp.where(jax.random.uniform(key) < 0.5, image[:, ::-1, :], image)


def augment_one(image: jax.Array, key: jax.Array, *, flip: bool) -> jax.Array:
  """The training pipeline for one image [H, W, 3] (uint8 or float) -> float32."""
  k_crop, k_flip, k_bright, k_sat, k_con = jax.random.split(key, 5)
  x = pad_and_random_crop(image.astype(jnp.float32), k_crop)
  if flip:
    x = random_flip_left_right(x, k_flip)
  x = x + jax.random.uniform(k_bright, (), minval=-BRIGHTNESS_MAX_DELTA,
                             maxval=BRIGHTNESS_MAX_DELTA)
  x = adjust_saturation(x, jax.random.uniform(k_sat, (), minval=SATURATION_RANGE[0],
                                              maxval=SATURATION_RANGE[1]))
  x = adjust_contrast(x, jax.random.uniform(k_con, (), minval=CONTRAST_RANGE[0],
                                            maxval=CONTRAST_RANGE[1]))
  return standardize(x)


def augment_and_standardize(images: jax.Array, key: jax.Array, *, flip: bool) -> jax.Array:
  """DeepOBS's CIFAR training pipeline (flip=False for SVHN) on a batch [B, H, W, 3] -> float32.

  Independent randomness per example (one key per example split from `key`).
  """
  if images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f'augment_and_standardize needs RGB images [B, H, W, 3]; got shape '
                     f'{images.shape}.')
  keys = jax.random.split(key, images.shape[0])
  return jax.vmap(lambda im, k: augment_one(im, k, flip=flip))(images, keys)
