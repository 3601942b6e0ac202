"""Max-pool on XLA:CPU: lax.reduce_window (flax nn.max_pool) vs a max over strided views.

Why: in jaxlib 0.10.2 the gradient of reduce_window-max is an argmax reduce-window that writes
four full-size int32 index arrays, then a scatter; in the engine's fmnist_2c2d step those iotas,
reduce-windows and scatters took ~110 of ~274 ms (profile in BUILD_NOTES.md). The max over
the size*size strided views has the same values and gradients (checked below) and its gradient
is a few selects. `strided_max_pool` is the proposed drop-in for jaxbench/problems/nets.py's
`_max_pool` (problems owner's file; the lead applies it).

  XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution \
      python benchmarks/max_pool_ab.py --repeats=6
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from jaxbench.problems import nets


def strided_max_pool(x: jax.Array, size: int, stride: int) -> jax.Array:
  """TF/flax 'SAME' max-pool (NHWC) as the maximum of size*size strided views (pad: -inf).

  This is the problems' own pooling since it won this A/B (jaxbench.problems.nets._max_pool).
  """
  return nets._max_pool(x, size, stride)  # pylint: disable=protected-access


def check_equivalence() -> None:
  """Values and gradients equal flax's nn.max_pool(padding='SAME') on the problems' shapes."""
  rng = np.random.RandomState(0)
  for shape, size, stride in (((4, 28, 28, 32), 2, 2), ((4, 14, 14, 64), 2, 2),
                              ((4, 28, 28, 64), 3, 2), ((4, 12, 12, 96), 3, 2),
                              ((4, 6, 6, 128), 3, 2)):
    x = jnp.asarray(np.maximum(rng.normal(size=shape), 0).astype(np.float32))  # relu'd: ties
    ref = lambda t: nn.max_pool(t, (size, size), (stride, stride), padding="SAME")
    new = lambda t: strided_max_pool(t, size, stride)
    g = jnp.asarray(rng.normal(size=ref(x).shape).astype(np.float32))
    assert ref(x).shape == new(x).shape, (shape, ref(x).shape, new(x).shape)
    np.testing.assert_array_equal(np.asarray(ref(x)), np.asarray(new(x)))
    # Gradients of relu'd inputs, as in the nets (ties only among zeros, whose relu grad is 0).
    f = lambda pool: jax.grad(lambda t: jnp.sum(pool(jax.nn.relu(t)) * g))(x - 0.1)
    np.testing.assert_allclose(np.asarray(f(ref)), np.asarray(f(new)), rtol=0, atol=1e-6)
    print(f"equal: {shape} pool {size}/{stride} -> {ref(x).shape}")


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--repeats", type=int, default=6)
  args = ap.parse_args()
  check_equivalence()
  pools = {"reduce_window": lambda t: nn.max_pool(t, (2, 2), (2, 2), padding="SAME"),
           "strided_max": lambda t: strided_max_pool(t, 2, 2)}

  class TwoC2D(nn.Module):
    pool: str

    @nn.compact
    def __call__(self, x):
      pool = pools[self.pool]
      x = pool(nn.relu(nn.Conv(32, (5, 5), padding="SAME")(x)))
      x = pool(nn.relu(nn.Conv(64, (5, 5), padding="SAME")(x)))
      x = nn.relu(nn.Dense(1024)(x.reshape(x.shape[0], -1)))
      return nn.Dense(10)(x)

  rng = np.random.RandomState(0)
  x = jnp.asarray(rng.rand(128, 28, 28, 1).astype(np.float32))
  y = jnp.asarray(rng.randint(0, 10, 128).astype(np.int32))
  opt = optax.adam(1e-3)
  steps, states = {}, {}
  for name in pools:
    net = TwoC2D(name)
    params = net.init(jax.random.PRNGKey(0), x[:1])

    def loss(p, net=net):
      return optax.softmax_cross_entropy_with_integer_labels(net.apply(p, x), y).mean()

    @jax.jit
    def step(s, loss=loss):
      p, o = s
      g = jax.grad(loss)(p)
      u, o = opt.update(g, o, p)
      return optax.apply_updates(p, u), o
    steps[name], states[name] = step, (params, opt.init(params))
    states[name] = jax.block_until_ready(step(states[name]))
  times = {name: [] for name in pools}
  for _ in range(args.repeats):
    for name in pools:  # interleaved, so both see the same machine load
      for _ in range(3):
        started = time.perf_counter()
        states[name] = jax.block_until_ready(steps[name](states[name]))
        times[name].append(time.perf_counter() - started)
  for name, ts in times.items():
    print(f"{name:14s} step min {min(ts) * 1e3:7.1f} ms  median {statistics.median(ts) * 1e3:7.1f} ms")


if __name__ == "__main__":
  main()
