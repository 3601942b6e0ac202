"""Lookahead, SWA, the BatchNorm hook, eval_params and the one-compilation guarantee."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import optax.contrib
import orbax.checkpoint as ocp
import pytest

from jaxbench import optimizers
from jaxbench.errors import ConfigError

CURVATURE = np.array([1.0, 3.0, 0.5])
TARGET = np.array([0.5, -1.0, 2.0])
START = np.array([2.0, 1.0, -1.0])


def grad_fn(p):
  return CURVATURE * (p - TARGET)


# ---------------------------------------------------------------------------------- Lookahead

@pytest.mark.parametrize('k, alpha', [(1, 0.5), (3, 0.5), (4, 0.2)])
def test_lookahead_slow_fast_semantics(k, alpha):
  """Fast weights take plain SGD steps; at every k-th step the slow weights move alpha of the
  way to the fast ones and the fast weights are reset to them. Reference: numpy, exact rule."""
  lr, steps = 0.1, 3 * k + 2
  opt = optimizers.lookahead(optimizers.get('sgd', learning_rate=lr), alpha=alpha, k=k)
  params = jnp.asarray(START, jnp.float32)
  state = opt.init(params)
  fast, slow = START.copy(), START.copy()
  for t in range(1, steps + 1):
    updates, state = opt.update(jnp.asarray(grad_fn(np.asarray(params)), jnp.float32), state,
                                params)
    params = optax.apply_updates(params, updates)
    fast = fast - lr * grad_fn(fast)
    if t % k == 0:
      slow = slow + alpha * (fast - slow)
      fast = slow.copy()
    np.testing.assert_allclose(params, fast, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(optimizers.slow_params(state), slow, rtol=1e-6, atol=1e-6)
    if t % k == 0:  # right after a sync the loop's params are the slow weights
      np.testing.assert_allclose(params, optimizers.slow_params(state), rtol=0, atol=1e-6)


def test_lookahead_keeps_inner_state_across_syncs_and_takes_traced_k():
  """Textbook form: momentum's velocity survives a sync (Zhang et al. keep the inner state); k is
  traced."""
  lr, rho, alpha = 0.1, 0.9, 0.5

  @jax.jit
  def run(k):
    opt = optimizers.get('lookahead_momentum', learning_rate=lr, rho=rho, alpha=alpha, k=k,
                         form='textbook')
    def step(carry, _):
      p, state = carry
      u, state = opt.update(jnp.asarray(CURVATURE, jnp.float32) * (p - TARGET), state, p)
      return (p + u, state), p + u
    _, path = jax.lax.scan(step, (jnp.asarray(START, jnp.float32),
                                  opt.init(jnp.asarray(START, jnp.float32))), None, length=7)
    return path

  for k in (2, 5):
    fast, slow, velocity = START.copy(), START.copy(), np.zeros(3)
    for t in range(1, 8):
      velocity = rho * velocity + grad_fn(fast)
      fast = fast - lr * velocity
      if t % k == 0:
        slow = slow + alpha * (fast - slow)
        fast = slow.copy()
      np.testing.assert_allclose(run(jnp.int32(k))[t - 1], fast, rtol=1e-5, atol=1e-6)
  assert run._cache_size() == 1


# ---------------------------------------------------------------------------------------- SWA

def test_swa_average_equals_numpy_mean_of_iterates():
  start, every, steps, lr = 3, 2, 10, 0.2
  opt = optimizers.swa(optimizers.get('momentum', learning_rate=lr, rho=0.5), start, every)
  params = jnp.asarray(START, jnp.float32)
  state = opt.init(params)
  iterates = []
  for t in range(1, steps + 1):
    updates, state = opt.update(jnp.asarray(grad_fn(np.asarray(params)), jnp.float32), state,
                                params)
    params = optax.apply_updates(params, updates)
    iterates.append(np.asarray(params, np.float64))
    averaged = [iterates[s - 1] for s in range(start, t + 1, every)]
    expected = np.mean(averaged, axis=0) if averaged else iterates[-1]
    np.testing.assert_allclose(optimizers.swa_params(state), expected, rtol=1e-6, atol=1e-6)
  assert int(state.num_averaged) == 4  # steps 3, 5, 7, 9
  # The wrapper does not change the trajectory: iterates are the inner optimizer's.
  inner = optimizers.get('momentum', learning_rate=lr, rho=0.5)
  p, s = jnp.asarray(START, jnp.float32), None
  s = inner.init(p)
  for _ in range(steps):
    u, s = inner.update(jnp.asarray(grad_fn(np.asarray(p)), jnp.float32), s, p)
    p = p + u
  np.testing.assert_allclose(params, p, rtol=1e-6)


def test_eval_params_hooks():
  params = {'w': jnp.asarray(START, jnp.float32)}
  grads = {'w': jnp.asarray(grad_fn(START), jnp.float32)}
  # identity for an ordinary optimizer
  opt = optimizers.get('adam')
  state = opt.update(grads, opt.init(params), params)[1]
  assert optimizers.eval_params('adam', state, params) is params
  # schedule-free: optax's averaged sequence x
  opt = optimizers.get('schedule_free_adamw', learning_rate=0.1)
  new, state = params, opt.init(params)
  for _ in range(3):
    updates, state = opt.update({'w': jnp.asarray(grad_fn(np.asarray(new['w'])), jnp.float32)},
                                state, new)
    new = optax.apply_updates(new, updates)
  expected = optax.contrib.schedule_free_eval_params(state, new)
  np.testing.assert_allclose(optimizers.eval_params('schedule_free_adamw', state, new)['w'],
                             expected['w'])
  assert not np.allclose(expected['w'], new['w'])
  # an swa-wrapped optimizer: the average
  opt = optimizers.swa(optimizers.get('sgd', learning_rate=0.1), start_step=1, every=1)
  state = opt.init(params)
  p = params
  for _ in range(2):
    u, state = opt.update({'w': jnp.asarray(grad_fn(np.asarray(p['w'])), jnp.float32)}, state, p)
    p = optax.apply_updates(p, u)
  np.testing.assert_allclose(optimizers.eval_params('sgd', state, p)['w'],
                             optimizers.swa_params(state)['w'])
  assert not np.allclose(optimizers.swa_params(state)['w'], p['w'])


class _BatchNormNet(nn.Module):
  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Dense(3, kernel_init=nn.initializers.constant(0.5))(x)
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(x)


@pytest.mark.parametrize('momentum', [None, 0.9])
def test_recompute_batch_stats_is_the_mean_of_batch_statistics(momentum):
  model = _BatchNormNet()
  rng = np.random.RandomState(0)
  batches = [rng.normal(size=(8, 2)).astype(np.float32) * (i + 1) for i in range(3)]
  variables = model.init(jax.random.PRNGKey(0), batches[0], train=False)
  kernel = np.full((2, 3), 0.5)

  def apply_train(v, batch):
    return model.apply(v, batch, train=True, mutable=['batch_stats'])[1]['batch_stats']

  result = optimizers.recompute_batch_stats(apply_train, variables, batches, momentum=momentum)
  hidden = [b.astype(np.float64) @ kernel for b in batches]  # Dense bias is zero
  expected_mean = np.mean([h.mean(axis=0) for h in hidden], axis=0)
  expected_var = np.mean([h.var(axis=0) for h in hidden], axis=0)  # flax: biased variance
  stats = result['batch_stats']['BatchNorm_0']
  np.testing.assert_allclose(stats['mean'], expected_mean, rtol=1e-4)
  np.testing.assert_allclose(stats['var'], expected_var, rtol=1e-4)
  assert result['params'] is variables['params']


# ------------------------------------------------------------------------ one compilation

@pytest.mark.parametrize('name', ['adam', 'adabound', 'lookahead_radam'])
def test_one_compilation_serves_every_hyperparameter_value(name):
  """The engine builds `get(name, learning_rate=schedule, **traced)` inside jit/vmap. A Python
  side effect in the traced function counts traces; jit's cache size counts compilations."""
  traces = []
  params = {'w': jnp.ones(3), 'b': jnp.zeros(2)}

  @jax.jit
  def two_steps(hyperparams):
    traces.append(1)
    base = hyperparams.pop('learning_rate')
    schedule = lambda count: base * 0.5**count  # a schedule built from a traced base rate
    opt = optimizers.get(name, learning_rate=schedule, base_learning_rate=base, **hyperparams)
    state = opt.init(params)
    p = params
    for _ in range(2):
      u, state = opt.update(jax.tree.map(lambda x: x + 1.0, p), state, p)
      p = optax.apply_updates(p, u)
    return p

  space = optimizers.search_space(name)
  results = []
  for u in (0.1, 0.5, 0.9):
    values = {hp: jnp.asarray(dist.transform(u), jnp.int32 if hp == 'k' else jnp.float32)
              for hp, dist in space.items()}
    results.append(two_steps(values))
  assert len(traces) == 1
  assert two_steps._cache_size() == 1
  assert not np.allclose(results[0]['w'], results[2]['w'])  # the values did reach the update
  # and the same under vmap over a batch of settings
  batched = {hp: jnp.stack([jnp.asarray(d.transform(u), jnp.int32 if hp == 'k' else jnp.float32)
                            for u in (0.2, 0.7)]) for hp, d in space.items()}
  vmapped = jax.jit(jax.vmap(two_steps.__wrapped__ if hasattr(two_steps, '__wrapped__')
                             else two_steps))
  vmapped(batched)
  vmapped({hp: v[::-1] for hp, v in batched.items()})
  assert vmapped._cache_size() == 1


def test_wrappers_reject_bad_concrete_arguments():
  inner = optimizers.get('sgd')
  with pytest.raises(ValueError, match='start_step=-1'):
    optimizers.swa(inner, start_step=-1, every=1)
  with pytest.raises(ValueError, match='every=0'):
    optimizers.swa(inner, start_step=0, every=0)
  with pytest.raises(ValueError, match='alpha=1.5'):
    optimizers.lookahead(inner, alpha=1.5, k=5)
  with pytest.raises(ValueError, match='k=0'):
    optimizers.lookahead(inner, alpha=0.5, k=0)
  with pytest.raises(ValueError, match='params'):
    opt = optimizers.lookahead(inner)
    opt.update({'w': jnp.ones(2)}, opt.init({'w': jnp.ones(2)}))


# ------------------------------------------------------------- issue 8: defects 1 and 18

def test_adabound_bounds_follow_the_base_rate_not_the_schedule_start():
  """Defect 1. A warm-up schedule is 0 at step 0; the bounds must be relative to the base rate
  lr_0 = 0.02, not to schedule(0). Reference: Luo et al.'s update written out in numpy with
  lr_t = schedule(t - 1), final = final_lr * lr_t / lr_0."""
  lr_0, b1, b2, eps, final_lr, gamma = 0.02, 0.9, 0.999, 1e-3, 0.05, 0.5
  warmup = lambda count: lr_0 * jnp.minimum(count / 2.0, 1.0)
  grads = [np.array([1.0, -0.5, 2.0]), np.array([0.5, 0.5, -1.0]), np.array([2.0, 1.0, 0.1])]
  opt = optimizers.get('adabound', learning_rate=warmup, base_learning_rate=lr_0, b1=b1, b2=b2,
                       eps=eps, final_lr=final_lr, gamma=gamma)
  params = jnp.zeros(3)
  state = opt.init(params)
  m = v = np.zeros(3)
  for t, g in enumerate(grads, start=1):
    updates, state = opt.update(jnp.asarray(g, jnp.float32), state, params)
    lr = lr_0 * min((t - 1) / 2.0, 1.0)
    m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    final = final_lr * lr / lr_0
    lower, upper = final * (1 - 1 / (gamma * t + 1)), final * (1 + 1 / (gamma * t))
    step = np.clip(lr * np.sqrt(1 - b2**t) / (1 - b1**t) / (np.sqrt(v) + eps), lower, upper) * m
    assert np.all(np.isfinite(updates))
    np.testing.assert_allclose(updates, -step, rtol=1e-5, atol=1e-9)
  # A schedule without the base rate is refused, naming what is missing.
  with pytest.raises(ConfigError, match='base_learning_rate'):
    optimizers.get('amsbound', learning_rate=warmup)
  with pytest.raises(ConfigError, match='base_learning_rate=-1'):
    optimizers.get('adabound', learning_rate=warmup, base_learning_rate=-1.0)


SF_WRAPPERS = {
    'chain': lambda opt: optax.chain(optax.identity(), opt),
    'apply_if_finite': lambda opt: optax.apply_if_finite(opt, 2),
    'multi_steps': lambda opt: optax.MultiSteps(opt, every_k_schedule=1),
}


@pytest.mark.parametrize('wrapper', [*SF_WRAPPERS, 'inject_hyperparams'])
def test_schedule_free_eval_params_through_wrappers(wrapper):
  """Defect 18: the averaged x is found inside a wrapped state. Reference: optax's own
  schedule_free_eval_params on the bare optimizer's state after the same steps."""
  params = {'w': jnp.array([1.0, -2.0, 0.5])}
  grad = lambda p: {'w': 2.0 * p['w'] - 1.0}
  bare = optimizers.get('schedule_free_adamw', learning_rate=0.1)
  if wrapper == 'inject_hyperparams':
    wrapped = optax.inject_hyperparams(optimizers.get)('schedule_free_adamw', learning_rate=0.1)
  else:
    wrapped = SF_WRAPPERS[wrapper](bare)
  results = []
  for opt in (bare, wrapped):
    p, state = params, opt.init(params)
    for _ in range(4):
      u, state = opt.update(grad(p), state, p)
      p = optax.apply_updates(p, u)
    results.append((p, state))
  (p_bare, s_bare), (p_wrapped, s_wrapped) = results
  expected = optax.contrib.schedule_free_eval_params(s_bare, p_bare)
  got = optimizers.eval_params('schedule_free_adamw', s_wrapped, p_wrapped)
  np.testing.assert_allclose(got['w'], expected['w'], rtol=1e-6)
  assert not np.allclose(got['w'], p_wrapped['w'])  # x is not the iterate y


def test_every_optimizer_state_saves_alone_with_orbax(tmp_path):
  """Defect 18: sgd's state was an empty tuple, which orbax refuses ("Found empty item")."""
  params = {'w': jnp.ones((2, 2))}
  built_in = [name for name in optimizers.names()
              if optimizers.get_spec(name).builder.__module__.startswith('jaxbench.')]
  assert len(built_in) >= 28
  for name in built_in:
    assert jax.tree.leaves(optimizers.get(name).init(params)), name
  state = optimizers.get('sgd').init(params)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(tmp_path / 'sgd', state)
  checkpointer.wait_until_finished()
  restored = checkpointer.restore(tmp_path / 'sgd', state)
  assert jax.tree.structure(restored) == jax.tree.structure(state)


@pytest.mark.parametrize('name', ['radam', 'adabelief'])
def test_traced_b2_computes_what_concrete_b2_does(name):
  """Defect 18: with b2 traced, optax computed RAdam's rho_inf in float32, with b2 concrete in
  float64, and the runs drifted 2e-4 apart in 20 steps. Both now use the float32 b2."""
  params = jnp.array([1.0, -2.0, 0.5, 3.0])
  grad = lambda p: jnp.array([1.0, 3.0, 0.5, 2.0]) * p - 0.3

  def run(b2):
    opt = optimizers.get(name, learning_rate=1e-2, b2=b2)
    p, state = params, opt.init(params)
    for _ in range(20):
      u, state = opt.update(grad(p), state, p)
      p = optax.apply_updates(p, u)
    return p

  concrete = run(0.999)
  traced = jax.jit(run)(jnp.float32(0.999))
  np.testing.assert_allclose(traced, concrete, rtol=2e-6)
  assert not np.allclose(concrete, params)
