"""quadratic_deep and two_d: Hessian, rotation, closed-form losses at the start point."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from jaxbench import problems
from jaxbench.problems import quadratic


def _spec_lambda_and_rotation() -> tuple[np.ndarray, np.ndarray]:
  """SPEC P1 recipe, written independently: R_d = -(Householder(x) @ block_diag(1, R_{d-1}))."""
  rng = np.random.RandomState(42)
  lam = np.concatenate([rng.uniform(0, 1, 90), rng.uniform(30, 60, 10)])
  t = 2 * np.pi * rng.uniform()
  r = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
  for d in range(2, 100):
    v = rng.normal(size=d + 1)
    v /= np.linalg.norm(v)
    e = np.eye(d + 1)[0]
    x = (e - v) / np.linalg.norm(e - v)
    r = (np.eye(d + 1) - 2 * np.outer(x, x)) @ scipy.linalg.block_diag(1.0, r)
  return lam, -r


def test_hessian_eigenvalues_are_the_drawn_lambda():
  lam, _ = _spec_lambda_and_rotation()
  eig = np.linalg.eigvalsh(quadratic.quadratic_deep_hessian())
  np.testing.assert_allclose(eig, np.sort(lam), atol=1e-9)
  assert np.sum(eig > 29) == 10 and np.all(eig[:90] < 1)


def test_rotation_is_special_orthogonal_and_matches_spec_recipe():
  lam_ref, rot_ref = _spec_lambda_and_rotation()
  lam, rot = quadratic.quadratic_deep_eigenvalues_and_rotation()
  np.testing.assert_array_equal(lam, lam_ref)
  np.testing.assert_allclose(rot, rot_ref, atol=1e-12)
  np.testing.assert_allclose(rot @ rot.T, np.eye(100), atol=1e-12)
  assert np.linalg.det(rot) == pytest.approx(1.0, abs=1e-9)
  np.testing.assert_allclose(quadratic.quadratic_deep_hessian(),
                             rot_ref.T @ np.diag(lam_ref) @ rot_ref, atol=1e-12)


def test_loss_at_init_on_test_set_matches_closed_form():
  problem = problems.get('quadratic_deep')
  variables = problem.init(jax.random.PRNGKey(0))
  np.testing.assert_array_equal(np.asarray(variables['params']['theta']), np.ones(100))
  x = np.random.RandomState(43).normal(0.0, 0.6, (1000, 100))   # SPEC's test split
  lam, rot = _spec_lambda_and_rotation()
  # 0.5 (1 - x)^T Q (1 - x) = 0.5 * sum_k lam_k (R (1 - x))_k^2
  expected = 0.5 * np.sum(lam * ((1.0 - x) @ rot.T) ** 2, axis=1)
  out = problem.apply(variables, jnp.asarray(x, jnp.float32), jnp.zeros(1000, jnp.int32),
                      train=False, rng=jax.random.PRNGKey(1))
  assert out.correct is None
  np.testing.assert_allclose(np.asarray(out.loss), expected, rtol=2e-5)
  assert float(jnp.mean(out.loss)) == pytest.approx(expected.mean(), rel=1e-5)
  assert float(problem.regularizer(variables['params'])) == 0.0


def test_hessian_of_objective_is_q():
  problem = problems.get('quadratic_deep')
  variables = problem.init(jax.random.PRNGKey(0))
  x = jnp.asarray(np.random.RandomState(0).normal(size=(7, 100)), jnp.float32)

  def objective(theta):
    v = {'params': {'theta': theta}}
    return jnp.mean(problem.apply(v, x, None, train=True, rng=jax.random.PRNGKey(0)).loss)

  hess = jax.hessian(objective)(variables['params']['theta'])
  np.testing.assert_allclose(np.asarray(hess), quadratic.quadratic_deep_hessian(), atol=1e-4)


# Values of the test functions at the start points, worked out by hand.
_B = 5.1 / (4 * math.pi ** 2)
_C = 5 / math.pi
_T = 1 / (8 * math.pi)
TWO_D_START = {
    'two_d_rosenbrock': ((-0.5, 1.5), (1 - (-0.5)) ** 2 + 100 * (1.5 - 0.25) ** 2),   # 158.5
    'two_d_beale': ((-4.5, 4.5), (1.5 + 4.5 - 4.5 * 4.5) ** 2 + (2.25 + 4.5 - 4.5 * 4.5 ** 2) ** 2
                    + (2.625 + 4.5 - 4.5 * 4.5 ** 3) ** 2),
    'two_d_branin': ((2.5, 12.5), (12.5 - _B * 6.25 + _C * 2.5 - 6) ** 2
                     + 10 * (1 - _T) * math.cos(2.5) + 10),
}


@pytest.mark.parametrize('name', sorted(TWO_D_START))
def test_two_d_loss_at_start(name):
  (u0, v0), f_start = TWO_D_START[name]
  problem = problems.get(name)
  assert problem.dataset == 'two_d' and problem.metric == 'loss' and not problem.has_accuracy
  variables = problem.init(jax.random.PRNGKey(0))
  assert float(variables['params']['u']) == u0 and float(variables['params']['v']) == v0
  zeros = jnp.zeros((5, 2), jnp.float32)
  out = problem.apply(variables, zeros, None, train=False, rng=jax.random.PRNGKey(0))
  np.testing.assert_allclose(np.asarray(out.loss), np.full(5, f_start), rtol=1e-6)
  xy = jnp.asarray([[1.0, 0.0], [0.0, 2.0], [-1.0, 3.0]], jnp.float32)
  out = problem.apply(variables, xy, None, train=True, rng=jax.random.PRNGKey(0))
  expected = [f_start + u0, f_start + 2 * v0, f_start - u0 + 3 * v0]
  np.testing.assert_allclose(np.asarray(out.loss), expected, rtol=1e-6)
