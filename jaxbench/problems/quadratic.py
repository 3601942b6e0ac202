"""The noisy quadratic (quadratic_deep) and the noisy 2-D test functions.

quadratic_deep's Hessian is a fixed property of the problem: it is built with numpy, exactly as
DeepOBS builds it, from one `np.random.RandomState(42)` (eigenvalues first, then the rotation), so
that it is bit-for-bit the matrix DeepOBS used. Its *data* are generated in jaxbench.data.

DeepOBS keeps that generator at module level and draws from it in every `quadratic_deep(...)`
constructor, so the k-th instance created in one Python process got the k-th draw (eigenvalues
then rotation, repeated from the same generator). Draw 0 is the defined problem; `hessian_draw=k`
rebuilds the k-th, which the published records mix (SPEC section 8).
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxbench.data.specs import QUADRATIC_DIM
from jaxbench.errors import ConfigError
from jaxbench.problems import initializers

QUADRATIC_SEED = 42


def random_rotation(dim: int, rng: np.random.RandomState) -> np.ndarray:
  """A Haar-random rotation in SO(dim) by Diaconis & Shahshahani's subgroup algorithm.

  Follows DeepOBS's `random_rotation` draw for draw: one uniform for the 2-D start, then one
  normal vector of size d + 1 for each d = 2, ..., dim - 1, then the sign flip.
  """
  if dim < 2:
    raise ValueError(f'random_rotation needs dim >= 2, got {dim}')
  t = 2.0 * np.pi * rng.uniform()
  rotation = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
  for d in range(2, dim):
    v = rng.normal(size=(d + 1, 1))
    v = v / np.sqrt(v.T @ v)                 # a uniform point on the unit sphere S^d
    e = np.zeros((d + 1, 1))
    e[0, 0] = 1.0
    x = (e - v) / np.sqrt((e - v).T @ (e - v))  # Householder vector mapping e to v
    embedded = np.zeros((d + 1, d + 1))
    embedded[0, 0] = 1.0
    embedded[1:, 1:] = rotation
    rotation = embedded - 2.0 * np.outer(x, x.T @ embedded)
  return -rotation


def check_hessian_draw(hessian_draw: int) -> int:
  if (not isinstance(hessian_draw, (int, np.integer)) or isinstance(hessian_draw, bool)
      or hessian_draw < 0):
    raise ConfigError(f'hessian_draw={hessian_draw!r} must be an int >= 0 (0 = the defined '
                      'quadratic_deep Hessian, k = the k-th DeepOBS draw in one process)')
  return int(hessian_draw)


def quadratic_deep_eigenvalues_and_rotation(hessian_draw: int = 0
                                            ) -> tuple[np.ndarray, np.ndarray]:
  """(lambda, R) of draw `hessian_draw` from one RandomState(42): per draw, 90 eigenvalues in
  (0, 1), 10 in (30, 60), then R; draw k is what DeepOBS's k-th instance in a process got."""
  rng = np.random.RandomState(QUADRATIC_SEED)
  for _ in range(check_hessian_draw(hessian_draw) + 1):
    eigenvalues = np.concatenate([rng.uniform(0.0, 1.0, 90), rng.uniform(30.0, 60.0, 10)])
    rotation = random_rotation(QUADRATIC_DIM, rng)
  return eigenvalues, rotation


@functools.lru_cache(maxsize=None)
def quadratic_deep_hessian(hessian_draw: int = 0) -> np.ndarray:
  """Q = R^T diag(lambda) R in float64 (DeepOBS casts it to float32 in the graph).

  Memoised (it costs ~100 small numpy steps per draw) and returned read-only so the cache stays
  constant.
  """
  eigenvalues, rotation = quadratic_deep_eigenvalues_and_rotation(hessian_draw)
  hessian = rotation.T @ np.diag(eigenvalues) @ rotation
  hessian.setflags(write=False)
  return hessian


class NoisyQuadratic(nn.Module):
  """quadratic_deep: per-example loss 0.5 (theta - x)^T Q (theta - x); theta starts at 1.0.

  hessian_draw: which DeepOBS draw Q is (0: the defined problem)."""
  hessian_draw: int = 0

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    del train
    theta = self.param('theta', initializers.constant(1.0), (QUADRATIC_DIM,))
    diff = theta[None, :] - x
    q = jnp.asarray(quadratic_deep_hessian(self.hessian_draw), jnp.float32)
    return 0.5 * jnp.einsum('bi,ij,bj->b', diff, q, diff)


# ---------------------------------------------------------------------------------------------
# Noisy 2-D test functions: loss f(u, v) + u x + v y with (x, y) ~ N(0, 1) per example.


def rosenbrock(u: jax.Array, v: jax.Array) -> jax.Array:
  return (1.0 - u) ** 2 + 100.0 * (v - u ** 2) ** 2


def beale(u: jax.Array, v: jax.Array) -> jax.Array:
  return ((1.5 - u + u * v) ** 2 + (2.25 - u + u * v ** 2) ** 2
          + (2.625 - u + u * v ** 3) ** 2)


def branin(u: jax.Array, v: jax.Array) -> jax.Array:
  b = 5.1 / (4.0 * math.pi ** 2)
  c = 5.0 / math.pi
  t = 1.0 / (8.0 * math.pi)
  return (v - b * u ** 2 + c * u - 6.0) ** 2 + 10.0 * (1.0 - t) * jnp.cos(u) + 10.0


TWO_D_FUNCTIONS: dict[str, tuple[Callable[[jax.Array, jax.Array], jax.Array],
                                 tuple[float, float]]] = {
    'rosenbrock': (rosenbrock, (-0.5, 1.5)),
    'beale': (beale, (-4.5, 4.5)),
    'branin': (branin, (2.5, 12.5)),
}


class NoisyTwoD(nn.Module):
  """Scalar parameters u, v; inputs [B, 2] holding (x, y); per-example f(u, v) + u x + v y."""
  function: str

  @nn.compact
  def __call__(self, xy: jax.Array, *, train: bool = False) -> jax.Array:
    del train
    fn, (u0, v0) = TWO_D_FUNCTIONS[self.function]
    u = self.param('u', initializers.constant(u0), ())
    v = self.param('v', initializers.constant(v0), ())
    return fn(u, v) + u * xy[:, 0] + v * xy[:, 1]
