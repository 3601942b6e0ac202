"""One conformance suite over the whole registry (the optax contrib `_common_test.py` idea).

For each optimizer, three compiled programs on a tiny mixed-rank pytree (matrix, vector, 4-D
kernel) and a convex quadratic:
  A  jit, concrete defaults, seed 0, the learning rate given as a schedule;
  B  jit(vmap) over 3 rows: (defaults, seed 0), (defaults, seed 1), (sampled values, seed 0), every
     numeric search-space hyperparameter a traced array, the learning rate a float.
Then: A decreases the loss; B row 0 == A (traced == concrete, float == schedule); every row is
finite; the state's structure, shapes and dtypes are those of `init`. (Two compilations per
optimizer keep the suite short.)
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxbench import optimizers
from jaxbench.tuning.space import IntUniform

SHAPES = {'w': (3, 2), 'b': (2,), 'kernel': (2, 2, 1, 3)}
STEPS = 10
U = 0.3  # the uniform number behind the "sampled" row


def init_params(key: jax.Array) -> dict:
  keys = jax.random.split(key, len(SHAPES))
  return {name: 1.0 + 0.5 * jax.random.normal(k, shape)
          for k, (name, shape) in zip(keys, sorted(SHAPES.items()))}


def loss_fn(params: dict) -> jax.Array:
  """A convex quadratic with curvatures between 0.5 and 2 (minimum 0 at params = 0)."""
  total = 0.0
  for leaf in jax.tree.leaves(params):
    curvature = jnp.linspace(0.5, 2.0, leaf.size).reshape(leaf.shape)
    total = total + 0.5 * jnp.sum(curvature * leaf**2)
  return total


def train(name: str, hyperparams: dict, params: dict):
  opt = optimizers.get(name, **hyperparams)

  def step(carry, _):
    p, state = carry
    updates, state = opt.update(jax.grad(loss_fn)(p), state, p)
    return (optax.apply_updates(p, updates), state), None

  (params, state), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=STEPS)
  return params, state


def sampled(name: str) -> dict:
  return {hp: dist.transform(U) for hp, dist in optimizers.search_space(name).items()}


def as_arrays(values: dict) -> dict:
  return {hp: jnp.asarray(v, jnp.int32 if isinstance(v, int) and not isinstance(v, bool)
                          else jnp.float32) for hp, v in values.items()}


def assert_same_layout(state, reference) -> None:
  assert jax.tree.structure(state) == jax.tree.structure(reference)
  for leaf, ref in zip(jax.tree.leaves(state), jax.tree.leaves(reference)):
    assert leaf.shape == ref.shape and leaf.dtype == ref.dtype, (leaf, ref)


@pytest.mark.parametrize('name', optimizers.names())
def test_conformance(name):
  key0, key1 = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
  params0 = init_params(key0)
  # Every numeric hyperparameter (not only the tuned ones) goes in as a traced array.
  defaults = optimizers.numeric_defaults(name)
  assert set(optimizers.defaults(name)) - set(defaults) <= {'form'}
  sample = {**defaults, **sampled(name)}

  # A: jit, concrete defaults, the learning rate given as a (constant) schedule.
  rate = optimizers.defaults(name)['learning_rate']
  schedule = lambda count: rate * jnp.ones_like(count, jnp.float32)
  # Every optimizer accepts the run's base rate (AdaBound's bounds need it with a schedule).
  with_schedule = {'learning_rate': schedule, 'base_learning_rate': rate}
  params_a, state_a = jax.jit(lambda p: train(name, with_schedule, p))(params0)
  assert float(loss_fn(params_a)) < float(loss_fn(params0)), 'defaults do not decrease the loss'

  # B: vmap over seeds and over traced hyperparameters (a float learning rate).
  rows = {hp: jnp.stack([as_arrays(defaults)[hp], as_arrays(defaults)[hp],
                         as_arrays(sample)[hp]]) for hp in defaults}
  params_rows = jax.vmap(init_params)(jnp.stack([key0, key1, key0]))
  params_b, state_b = jax.jit(jax.vmap(lambda hps, p: train(name, hps, p)))(rows, params_rows)
  for leaf in jax.tree.leaves((params_b, state_b)):
    assert bool(jnp.all(jnp.isfinite(leaf))), 'non-finite value under vmap'
  row = lambda tree, i: jax.tree.map(lambda x: x[i], tree)
  # Traced values compute what concrete ones do (and a schedule what a float does).
  for a, b in zip(jax.tree.leaves(params_a), jax.tree.leaves(row(params_b, 0))):
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
  assert float(loss_fn(row(params_b, 1))) < float(loss_fn(row(params_rows, 1)))
  assert not np.allclose(row(params_b, 1)['w'], row(params_b, 0)['w'])  # the seeds differ
  # The state keeps init's structure, shapes and dtypes, whatever the values.
  for i in range(3):
    assert_same_layout(row(state_b, i), optimizers.get(name).init(params0))
  assert_same_layout(state_a, optimizers.get(name, **with_schedule).init(params0))


@pytest.mark.parametrize('name', optimizers.names())
def test_bad_hyperparameters_raise(name):
  defaults = optimizers.defaults(name)
  with pytest.raises(ValueError, match='learning_rate=-0.1'):
    optimizers.get(name, learning_rate=-0.1)
  with pytest.raises(ValueError, match='not_a_hyperparameter'):
    optimizers.get(name, not_a_hyperparameter=1.0)
  bad = {'b1': 1.0, 'b2': -0.1, 'rho': 1.5, 'eps': -1e-8, 'k': 0, 'alpha': 0.0,
         'final_lr': 0.0, 'gamma': -1.0, 'weight_decay': -0.1, 'form': 'no_such_form',
         'initial_accumulator_value': -1.0, 'threshold': 3.0}
  for hp, value in bad.items():
    if hp in defaults:
      with pytest.raises(ValueError, match=hp):
        optimizers.get(name, **{hp: value})
  if 'k' in defaults:
    with pytest.raises(ValueError, match='integer'):
      optimizers.get(name, k=2.5)
  with pytest.raises(ValueError, match='nan'):
    optimizers.get(name, learning_rate=float('nan'))


def test_unknown_name_lists_the_known_ones():
  with pytest.raises(KeyError, match='adam'):
    optimizers.get('adamm')
  with pytest.raises(ValueError, match='lookahead_radam'):
    optimizers.defaults('no_such_optimizer')


def test_traced_values_skip_the_range_check():
  """Inside jit the value is unknown at construction; building must not fail."""
  params = {'w': jnp.ones(2)}

  @jax.jit
  def first_update(lr, b1):
    opt = optimizers.get('adam', learning_rate=lr, b1=b1)
    return opt.update(params, opt.init(params), params)[0]

  assert first_update(jnp.float32(-0.1), jnp.float32(1.5))['w'].shape == (2,)


def test_search_spaces_are_spec_section_3():
  """Transcribed from SPEC section 3."""
  from jaxbench.tuning.space import LogUniform, OneMinusLogUniform
  lr, b1, b2 = LogUniform(1e-4, 1.0), LogUniform(0.5, 0.999), LogUniform(0.8, 0.999)
  rho = OneMinusLogUniform(1e-4, 1.0)
  lookahead = {'alpha': LogUniform(1e-4, 1.0), 'k': IntUniform(1, 20)}
  bound = {'final_lr': LogUniform(1e-3, 0.5), 'gamma': LogUniform(1e-4, 1e-1)}
  adam_like = {'learning_rate': lr, 'b1': b1, 'b2': b2}
  expected = {
      'sgd': {'learning_rate': lr},
      'momentum': {'learning_rate': lr, 'rho': rho},
      'nag': {'learning_rate': lr, 'rho': rho},
      'adam': adam_like, 'amsgrad': adam_like, 'nadam': adam_like, 'radam': adam_like,
      'adabelief': adam_like,
      'adabound': {**adam_like, **bound}, 'amsbound': {**adam_like, **bound},
      'adadelta': {'learning_rate': lr, 'rho': rho},
      'adagrad': {'learning_rate': lr},
      'rmsprop': {'learning_rate': lr, 'rho': rho},
      'lookahead_momentum': {'learning_rate': lr, 'rho': rho, **lookahead},
      'lookahead_radam': {**adam_like, **lookahead},
  }
  for name in optimizers.paper_names():
    assert optimizers.search_space(name) == expected[name], name
  assert list(expected) == optimizers.paper_names()
  # Every registered optimizer tunes the learning rate under the shared name.
  for name in optimizers.names():
    assert 'learning_rate' in optimizers.search_space(name)


def test_muon_orthogonalises_every_matrix_and_kernel():
  """Muon's direction for a rank >= 2 leaf, flattened to (fan_in, out), has orthonormal-ish
  columns (singular values near 1 after Newton-Schulz); a vector takes the Adam fallback."""
  params = init_params(jax.random.PRNGKey(3))
  opt = optimizers.get('muon', learning_rate=1.0, weight_decay=0.0)
  grads = jax.tree.map(lambda x: x * jnp.linspace(0.1, 3.0, x.size).reshape(x.shape), params)
  updates, _ = opt.update(grads, opt.init(params), params)
  for name in ('w', 'kernel'):
    matrix = np.asarray(updates[name]).reshape(-1, updates[name].shape[-1])
    singular = np.linalg.svd(matrix, compute_uv=False)
    assert np.all(singular > 0.3) and np.all(singular < 1.5 * math.sqrt(max(matrix.shape))), name
  # The fallback is optax's Nesterov Adam at rate 0.05 * lr; its first step is
  # -rate (b1 (1-b1)/(1-b1^2) + 1) sign(g) with b1 = 0.9.
  nesterov_first = 0.9 * 0.1 / (1 - 0.81) + 1
  np.testing.assert_allclose(updates['b'], -0.05 * nesterov_first * np.sign(grads['b']),
                             rtol=1e-4)


@pytest.mark.parametrize('name', ['adam', 'amsgrad', 'nadam', 'amsbound'])
def test_own_transforms_keep_bfloat16_state(name):
  """jaxbench's own transforms keep the params' dtype in the state even when the
  hyperparameters are traced float32 scalars (scan would reject a promoted carry)."""
  params = {'w': jnp.ones((2, 2), jnp.bfloat16)}
  hyperparams = {hp: jnp.float32(d.transform(0.5)) if hp != 'k' else jnp.int32(2)
                 for hp, d in optimizers.search_space(name).items()}

  @jax.jit
  def run(hps):
    opt = optimizers.get(name, **hps)
    def step(carry, _):
      p, state = carry
      u, state = opt.update(p, state, p)
      return (optax.apply_updates(p, u), state), None
    return jax.lax.scan(step, (params, opt.init(params)), None, length=3)[0]

  new_params, state = run(hyperparams)
  assert new_params['w'].dtype == jnp.bfloat16
  assert_same_layout(state, optimizers.get(name).init(params))


def _two_updates(opt, grads_list, params):
  """The updates of `opt` for the gradients in turn (eager: tiny trees, no compilation)."""
  state, out = opt.init(params), []
  for grads in grads_list:
    updates, state = opt.update(grads, state, params)
    out.append(updates)
  return out, state


def _close(a, b) -> None:
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('name', optimizers.names())
def test_wrappers(name):
  """Every registry optimizer under optax's standard wrappers (issue 8, defect 8):
  inject_hyperparams(get), chain, MultiSteps and apply_if_finite, against the bare optimizer."""
  params = init_params(jax.random.PRNGKey(0))
  grads = jax.grad(loss_fn)(params)
  rate = optimizers.defaults(name)['learning_rate']
  bare, _ = _two_updates(optimizers.get(name), [grads, grads], params)

  # inject_hyperparams over the registry's own entry point: the rate becomes traced state.
  injected = optax.inject_hyperparams(optimizers.get)(name, learning_rate=rate)
  updates, state = _two_updates(injected, [grads, grads], params)
  _close(updates, bare)
  np.testing.assert_allclose(state.hyperparams['learning_rate'], rate, rtol=1e-6)

  _close(_two_updates(optax.chain(optax.identity(), optimizers.get(name)), [grads, grads],
                      params)[0], bare)

  # MultiSteps(k=2): nothing on the first call, then the inner update of the mean gradient.
  multi, _ = _two_updates(optax.MultiSteps(optimizers.get(name), every_k_schedule=2),
                          [grads, grads], params)
  _close(multi[0], jax.tree.map(jnp.zeros_like, params))
  _close(multi[1], bare[0])

  # apply_if_finite: a NaN gradient is skipped (zero update), then the run goes on unchanged.
  nan_grads = jax.tree.map(lambda g: jnp.full_like(g, jnp.nan), grads)
  guarded, state = _two_updates(optax.apply_if_finite(optimizers.get(name), 3),
                                [nan_grads, grads], params)
  _close(guarded[0], jax.tree.map(jnp.zeros_like, params))
  _close(guarded[1], bare[0])
  assert int(state.total_notfinite) == 1
