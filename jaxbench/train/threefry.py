"""Threefry-2x32 on XLA:CPU as one fused elementwise computation: the same bits, 2-3x faster.

Why: every random number in jax.random (dropout masks, the VAE's samples, augmentation, data
order) comes from the `threefry2x32` primitive. On CPU, JAX lowers it as a `fori_loop` of five
round groups (jax/_src/random/threefry2x32.py, `use_rolled_loops=True`, chosen there for compile
time): an XLA while loop whose every iteration reads and writes the whole counter arrays. On
other platforms JAX lowers the same function unrolled, which XLA fuses into one elementwise
pass. Measured on this 2-core VM (BUILD_NOTES, "Threefry on XLA:CPU"): 320,000 random words
1.75 -> 0.51 ms; the char-RNN's four dropout masks per step 8.0 -> 3.9 ms.

`enable()` registers, for the 'cpu' platform, the unrolled lowering for outputs of at least
MIN_UNROLLED_WORDS words and a looped one (like JAX's) below, where XLA would otherwise fuse the
hash into broadcasting consumers (see MIN_UNROLLED_WORDS). The engine calls it when it builds a
Trainer; programs compiled before keep theirs. Both are Random123's Threefry-2x32 with 20
rounds, exactly what jax.random computes, so every number is unchanged (tests/test_threefry.py:
Random123's known-answer vectors, and jax.random's keys, splits, bits and samples against a
process that never imported jaxbench). JAXBENCH_UNROLLED_THREEFRY=0 keeps JAX's lowering.
"""
from __future__ import annotations

import os

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import threefry2x32_p
from jax.interpreters import mlir

ENV = "JAXBENCH_UNROLLED_THREEFRY"
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _round_group(x1, x2, rotations):
  for rotation in rotations:
    x1 = x1 + x2
    x2 = x1 ^ ((x2 << rotation) | (x2 >> (np.uint32(32) - rotation)))
  return x1, x2


def threefry2x32(key1, key2, x1, x2):
  """Threefry-2x32-20 of the counters (x1, x2) under the key (key1, key2), all uint32 arrays
  (broadcast against each other): the 5 groups of 4 rounds, a key injection after each."""
  keys = (key1, key2, key1 ^ key2 ^ _PARITY)
  x1, x2 = x1 + keys[0], x2 + keys[1]
  for group in range(5):
    x1, x2 = _round_group(x1, x2, [np.uint32(r) for r in _ROTATIONS[group % 2]])
    x1 = x1 + keys[(group + 1) % 3]
    x2 = x2 + keys[(group + 2) % 3] + np.uint32(group + 1)
  return x1, x2


def threefry2x32_looped(key1, key2, x1, x2):
  """The same function with the 5 round groups in a `fori_loop` (as JAX lowers it on CPU):
  XLA materialises its result instead of fusing the hash into the consumers."""
  key1, key2, x1, x2 = jnp.broadcast_arrays(key1, key2, x1, x2)
  keys = jnp.stack([key1, key2, key1 ^ key2 ^ _PARITY])
  rotations = jnp.asarray(_ROTATIONS, np.uint32)

  def group(g, x):
    x1, x2 = _round_group(*x, [rotations[g % 2, r] for r in range(4)])
    return (x1 + keys[(g + 1) % 3],
            x2 + keys[(g + 2) % 3] + (g + 1).astype(np.uint32))

  return lax.fori_loop(0, 5, group, (x1 + keys[0], x2 + keys[1]))


# Below this many output words the looped form is lowered: small random arrays (the per-image
# augmentation scalars of the CIFAR/SVHN problems) are often broadcast into much larger
# consumers, and XLA then fuses the unrolled hash into them and recomputes it per consumer
# element (cifar10_3c3d's augmentation: 2.8 ms -> 213 ms; an optimization_barrier does not
# help, XLA:CPU expands barriers before fusion). Dropout masks and the like are far larger.
MIN_UNROLLED_WORDS = 1 << 16
_UNROLLED = mlir.lower_fun(threefry2x32, multiple_results=True)
_LOOPED = mlir.lower_fun(threefry2x32_looped, multiple_results=True)


def _lowering(ctx, *args):
  words = int(np.prod(ctx.avals_out[0].shape))
  return (_UNROLLED if words >= MIN_UNROLLED_WORDS else _LOOPED)(ctx, *args)


def enable() -> bool:
  """Makes XLA:CPU programs lowered from now on use the unrolled Threefry; returns whether it is
  in use (False when JAXBENCH_UNROLLED_THREEFRY=0)."""
  if os.environ.get(ENV) == "0":
    return False
  # Out of line, as JAX emits its generic (unrolled) rule: one function called by every use.
  mlir.register_lowering(threefry2x32_p, _lowering, platform="cpu", inline=False)
  return True
