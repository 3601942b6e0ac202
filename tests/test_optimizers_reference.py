"""Each of the paper's fifteen optimizers against a numpy re-implementation of SPEC section 2.

The numpy references below are written from the update equations (SPEC section 2 and the papers'
algorithms), not from jaxbench's code. The problem is a separable quadratic
f(p) = 0.5 sum a (p - c)^2 with gradients of different magnitudes; hyperparameters are chosen so
that every term of each rule matters (epsilons comparable to sqrt(v), AMSGrad's max active,
AdaBound's clip active on both sides, RAdam past its SMA threshold, Lookahead syncing).
Each step's update is compared at 1e-5 relative tolerance (float32 against float64).
"""
from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxbench import optimizers

A = np.array([1.0, 4.0, 0.25, 2.0, 0.5])
C = np.array([0.3, -1.0, 2.0, 0.0, 1.5])
P0 = np.array([1.0, 0.5, -1.0, 0.8, 1.2])


def grad_np(p: np.ndarray) -> np.ndarray:
  return A * (p - C)


def run_jax(name: str, steps: int, **hyperparams) -> np.ndarray:
  """The per-step updates [steps, 5] of jaxbench's optimizer, float32, one jitted scan."""
  opt = optimizers.get(name, **hyperparams)
  a, c = jnp.asarray(A, jnp.float32), jnp.asarray(C, jnp.float32)

  @jax.jit
  def run(p0):
    def step(carry, _):
      p, state = carry
      u, state = opt.update(a * (p - c), state, p)
      return (optax.apply_updates(p, u), state), u
    _, updates = jax.lax.scan(step, (p0, opt.init(p0)), None, length=steps)
    return updates

  return np.asarray(run(jnp.asarray(P0, jnp.float32)), np.float64)


def run_np(step_fn, steps: int) -> np.ndarray:
  """Per-step updates of a numpy reference step_fn(p, g, t, state) -> (new_p, state)."""
  p, state, out = P0.copy(), {}, []
  for t in range(1, steps + 1):
    new_p, state = step_fn(p, grad_np(p), t, state)
    out.append(new_p - p)
    p = new_p
  return np.stack(out)


def zeros():
  return np.zeros_like(P0)


def assert_updates_match(jax_updates: np.ndarray, np_updates: np.ndarray, *,
                         param_difference: bool = False) -> None:
  """1e-5 relative. A Lookahead sync returns slow - fast, a difference of two float32
  parameter vectors, which carries their rounding (one ulp of |p| ~ 1) whatever the code does;
  those cases get that much absolute slack."""
  atol = 1e-7 * np.abs(np_updates).max()
  if param_difference:
    atol = max(atol, 2 * np.finfo(np.float32).eps * 2 * np.abs(P0).max())
  np.testing.assert_allclose(jax_updates, np_updates, rtol=1e-5, atol=atol)


# ------------------------------------------------------------------ numpy references (SPEC §2)

def sgd_np(lr):
  def step(p, g, t, s):
    return p - lr * g, s
  return step


def momentum_np(lr, rho, nesterov=False):
  def step(p, g, t, s):
    v = rho * s.get('v', zeros()) + g
    direction = g + rho * v if nesterov else v
    return p - lr * direction, {'v': v}
  return step


def adam_np(lr, b1, b2, eps, amsgrad=False):
  """TF1: lr_t = lr sqrt(1-b2^t)/(1-b1^t); theta -= lr_t m / (sqrt(v) + eps)."""
  def step(p, g, t, s):
    m = b1 * s.get('m', zeros()) + (1 - b1) * g
    v = b2 * s.get('v', zeros()) + (1 - b2) * g * g
    v_max = np.maximum(s.get('v_max', zeros()), v)
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    denom = np.sqrt(v_max if amsgrad else v) + eps
    return p - lr_t * m / denom, {'m': m, 'v': v, 'v_max': v_max, 'max_active': s.get(
        'max_active', False) or bool(np.any(v_max > v))}
  return step


def nadam_np(lr, b1, b2, eps, psi=0.004):
  """Dozat's NAdam with the momentum schedule mu_t = b1 (1 - 0.5 * 0.96^(psi t))."""
  def step(p, g, t, s):
    mu_t = b1 * (1 - 0.5 * 0.96**(psi * t))
    mu_next = b1 * (1 - 0.5 * 0.96**(psi * (t + 1)))
    prod = s.get('prod', 1.0) * mu_t
    m = b1 * s.get('m', zeros()) + (1 - b1) * g
    v = b2 * s.get('v', zeros()) + (1 - b2) * g * g
    v_hat = v / (1 - b2**t)
    m_bar = (1 - mu_t) * g / (1 - prod) + mu_next * m / (1 - prod * mu_next)
    return p - lr * m_bar / (np.sqrt(v_hat) + eps), {'m': m, 'v': v, 'prod': prod}
  return step


def radam_np(lr, b1, b2, eps, threshold=5.0):
  """Liu et al. Algorithm 2 with the tfa/official threshold: rectify when rho_t >= 5."""
  rho_inf = 2 / (1 - b2) - 1
  def step(p, g, t, s):
    m = b1 * s.get('m', zeros()) + (1 - b1) * g
    v = b2 * s.get('v', zeros()) + (1 - b2) * g * g
    m_hat = m / (1 - b1**t)
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t >= threshold:
      r = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
      direction = r * m_hat / (np.sqrt(v / (1 - b2**t)) + eps)
      rectified = True
    else:
      direction, rectified = m_hat, s.get('rectified', False)
    return p - lr * direction, {'m': m, 'v': v, 'rectified': rectified}
  return step


def adabelief_np(lr, b1, b2, eps):
  """Zhuang et al. Algorithm 2 (no rectification), eps added to s and to the denominator."""
  def step(p, g, t, s):
    m = b1 * s.get('m', zeros()) + (1 - b1) * g
    belief = b2 * s.get('s', zeros()) + (1 - b2) * (g - m)**2 + eps
    m_hat, s_hat = m / (1 - b1**t), belief / (1 - b2**t)
    return p - lr * m_hat / (np.sqrt(s_hat) + eps), {'m': m, 's': belief}
  return step


def adabelief_rectified_np(lr, b1, b2, eps, threshold=5.0):
  """adabelief_tf's default (rectify=True): RAdam's rectification on the belief s; below the
  SMA threshold the un-adapted step lr m_hat."""
  rho_inf = 2 / (1 - b2) - 1
  def step(p, g, t, s):
    m = b1 * s.get('m', zeros()) + (1 - b1) * g
    belief = b2 * s.get('s', zeros()) + (1 - b2) * (g - m)**2 + eps
    m_hat, s_hat = m / (1 - b1**t), belief / (1 - b2**t)
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t >= threshold:
      r = np.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
      direction, rectified = r * m_hat / (np.sqrt(s_hat) + eps), True
    else:
      direction, rectified = m_hat, s.get('rectified', False)
    return p - lr * direction, {'m': m, 's': belief, 'rectified': rectified}
  return step


def adabound_np(schedule, b1, b2, eps, final_lr, gamma, amsbound=False):
  """Luo et al.: clip(lr_t / (sqrt(v)+eps), lower, upper) * m with final_lr * lr / lr_0."""
  lr_0 = schedule(0)
  def step(p, g, t, s):
    lr = schedule(t - 1)  # the rate of the t-th step (schedules count from 0)
    m = b1 * s.get('m', zeros()) + (1 - b1) * g
    v = b2 * s.get('v', zeros()) + (1 - b2) * g * g
    v_max = np.maximum(s.get('v_max', zeros()), v)
    lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    final = final_lr * lr / lr_0
    lower, upper = final * (1 - 1 / (gamma * t + 1)), final * (1 + 1 / (gamma * t))
    raw = lr_t / (np.sqrt(v_max if amsbound else v) + eps)
    clipped = s.get('clipped', set()) | {('low' if x < lower else 'high') for x in raw
                                        if not lower <= x <= upper}
    return p - np.clip(raw, lower, upper) * m, {'m': m, 'v': v, 'v_max': v_max,
                                                 'clipped': clipped}
  return step


def adadelta_np(lr, rho, eps):
  """Zeiler 2012 Algorithm 1, scaled by lr (TF1)."""
  def step(p, g, t, s):
    acc_g = rho * s.get('acc_g', zeros()) + (1 - rho) * g * g
    delta = np.sqrt(s.get('acc_x', zeros()) + eps) / np.sqrt(acc_g + eps) * g
    acc_x = rho * s.get('acc_x', zeros()) + (1 - rho) * delta * delta
    return p - lr * delta, {'acc_g': acc_g, 'acc_x': acc_x}
  return step


def adagrad_np(lr, initial):
  def step(p, g, t, s):
    acc = s.get('acc', np.full_like(P0, initial)) + g * g
    return p - lr * g / np.sqrt(acc), {'acc': acc}
  return step


def rmsprop_np(lr, rho, eps):
  """TF1: ms starts at ONES; theta -= lr g / sqrt(ms + eps)."""
  def step(p, g, t, s):
    ms = rho * s.get('ms', np.ones_like(P0)) + (1 - rho) * g * g
    return p - lr * g / np.sqrt(ms + eps), {'ms': ms}
  return step


def lookahead_tf1_np(inner_step, alpha, k):
  """The TF1 LookaheadOptimizer wrapper: calls c = 0, 1, ...; when c % k == 0 the call is a sync
  (slow += alpha (fast - slow); fast = slow) and the inner optimizer does not run; otherwise one
  inner step, with the inner optimizer's step counter held at t = 1 (its `_finish`, which
  advances it, is never called)."""
  def step(p, g, t, s):
    slow, inner_state, syncs = s.get('slow', P0.copy()), s.get('inner', {}), s.get('syncs', 0)
    if (t - 1) % k == 0:
      slow = slow + alpha * (p - slow)
      return slow.copy(), {'inner': inner_state, 'slow': slow, 'syncs': syncs + 1}
    fast, inner_state = inner_step(p, g, 1, inner_state)
    return fast, {'inner': inner_state, 'slow': slow, 'syncs': syncs}
  return step


def lookahead_np(inner_step, alpha, k):
  """Zhang et al. Algorithm 1: k fast steps, then slow += alpha (fast - slow); fast = slow."""
  def step(p, g, t, s):
    fast, inner_state = inner_step(p, g, t, s.get('inner', {}))
    slow = s.get('slow', P0.copy())
    syncs = s.get('syncs', 0)
    if t % k == 0:
      slow = slow + alpha * (fast - slow)
      fast = slow.copy()
      syncs += 1
    return fast, {'inner': inner_state, 'slow': slow, 'syncs': syncs}
  return step


# ------------------------------------------------------------------------------- the cases

def halving(lr_0):
  return lambda count: lr_0 * 0.5**count


CASES = {
    # name: (jaxbench hyperparams, numpy step, steps)
    'sgd': ({'learning_rate': 0.1}, sgd_np(0.1), 3),
    'momentum': ({'learning_rate': 0.05, 'rho': 0.9}, momentum_np(0.05, 0.9), 3),
    'nag': ({'learning_rate': 0.05, 'rho': 0.9}, momentum_np(0.05, 0.9, nesterov=True), 3),
    'adam': ({'learning_rate': 0.1, 'b1': 0.8, 'b2': 0.9, 'eps': 0.05},
             adam_np(0.1, 0.8, 0.9, 0.05), 3),
    'amsgrad': ({'learning_rate': 0.5, 'b1': 0.5, 'b2': 0.5, 'eps': 0.01},
                adam_np(0.5, 0.5, 0.5, 0.01, amsgrad=True), 4),
    'nadam': ({'learning_rate': 0.1, 'b1': 0.9, 'b2': 0.99, 'eps': 0.01, 'momentum_decay': 0.5},
              lambda p, g, t, s: _nadam_tf1(p, g, t, s, 0.1, 0.9, 0.99, 0.01), 3),
    'radam': ({'learning_rate': 0.01, 'b1': 0.9, 'b2': 0.984375, 'eps': 0.01},
              radam_np(0.01, 0.9, 0.984375, 0.01), 7),
    'adabelief': ({'learning_rate': 0.1, 'b1': 0.8, 'b2': 0.9, 'eps': 1e-3},
                  adabelief_rectified_np(0.1, 0.8, 0.9, 1e-3), 7),
    'adabound': ({'learning_rate': halving(0.02), 'base_learning_rate': 0.02, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-3,
                  'final_lr': 0.05, 'gamma': 0.5},
                 adabound_np(halving(0.02), 0.9, 0.999, 1e-3, 0.05, 0.5), 3),
    'amsbound': ({'learning_rate': halving(0.02), 'base_learning_rate': 0.02, 'b1': 0.9, 'b2': 0.5, 'eps': 1e-3,
                  'final_lr': 0.05, 'gamma': 0.5},
                 adabound_np(halving(0.02), 0.9, 0.5, 1e-3, 0.05, 0.5, amsbound=True), 4),
    'adadelta': ({'learning_rate': 1.0, 'rho': 0.9, 'eps': 1e-2}, adadelta_np(1.0, 0.9, 1e-2), 3),
    'adagrad': ({'learning_rate': 0.1}, adagrad_np(0.1, 0.1), 3),
    'rmsprop': ({'learning_rate': 0.01, 'rho': 0.9, 'eps': 0.1}, rmsprop_np(0.01, 0.9, 0.1), 3),
    'lookahead_momentum': ({'learning_rate': 0.05, 'rho': 0.9, 'alpha': 0.3, 'k': 3},
                           lookahead_tf1_np(momentum_np(0.05, 0.9), 0.3, 3), 7),
    'lookahead_radam': ({'learning_rate': 0.01, 'b1': 0.9, 'b2': 0.984375, 'eps': 0.01,
                         'alpha': 0.5, 'k': 3},
                        lookahead_tf1_np(radam_np(0.01, 0.9, 0.984375, 0.01), 0.5, 3), 7),
}


def test_cases_cover_the_paper():
  assert sorted(CASES) == sorted(optimizers.paper_names())
  assert len(optimizers.paper_names()) == 15


@pytest.mark.parametrize('name', sorted(CASES))
def test_matches_numpy_reference(name):
  hyperparams, np_step, steps = CASES[name]
  assert_updates_match(run_jax(name, steps, **hyperparams), run_np(np_step, steps),
                       param_difference=name.startswith('lookahead'))


def _final_state(np_step, steps):
  p, state = P0.copy(), {}
  for t in range(1, steps + 1):
    p, state = np_step(p, grad_np(p), t, state)
  return state


def test_reference_cases_exercise_every_term():
  """Guards the test itself: the chosen settings reach the branches they are meant to."""
  assert _final_state(CASES['amsgrad'][1], 4)['max_active']
  assert _final_state(CASES['radam'][1], 7)['rectified']
  assert _final_state(CASES['adabelief'][1], 7)['rectified']
  assert _final_state(CASES['lookahead_momentum'][1], 7)['syncs'] == 3  # calls 0, 3, 6
  assert _final_state(CASES['adabound'][1], 3)['clipped'] == {'low', 'high'}
  assert _final_state(CASES['amsbound'][1], 4)['clipped']


@pytest.mark.parametrize('name, other_form, np_step', [
    # Kingma & Ba's Algorithm 1: m_hat / (sqrt(v_hat) + eps).
    ('adam', 'optax', lambda p, g, t, s: _adam_textbook(p, g, t, s, 0.1, 0.8, 0.9, 0.05)),
    # RMSProp with the accumulator starting at zero.
    ('rmsprop', 'optax', lambda p, g, t, s: _rmsprop_zero(p, g, t, s, 0.01, 0.9, 0.1)),
    # Keras / PyTorch NAdam with Dozat's momentum schedule.
    ('nadam', 'keras', nadam_np(0.1, 0.9, 0.99, 0.01, psi=0.5)),
    # optax.nadam: (b1 m / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t)) / (sqrt(v_hat) + eps).
    ('nadam', 'optax', lambda p, g, t, s: _nadam_optax(p, g, t, s, 0.1, 0.9, 0.99, 0.01)),
    # optax.amsgrad: max over the bias-corrected v_hat.
    ('amsgrad', 'optax', lambda p, g, t, s: _amsgrad_optax(p, g, t, s, 0.5, 0.5, 0.5, 0.01)),
    # AdaBelief without rectification (adabelief_tf rectify=False, the paper's Algorithm 2).
    ('adabelief', 'unrectified', adabelief_np(0.1, 0.8, 0.9, 1e-3)),
    # Textbook Lookahead: k inner steps (the inner step count advancing), then the sync.
    ('lookahead_momentum', 'textbook', lookahead_np(momentum_np(0.05, 0.9), 0.3, 3)),
    ('lookahead_radam', 'textbook', lookahead_np(radam_np(0.01, 0.9, 0.984375, 0.01), 0.5, 3)),
])
def test_other_forms(name, other_form, np_step):
  hyperparams, _, steps = CASES[name]
  hyperparams = {**hyperparams, 'form': other_form}
  assert_updates_match(run_jax(name, steps, **hyperparams), run_np(np_step, steps),
                       param_difference=name.startswith('lookahead'))
  # The forms differ measurably in this setting (otherwise the option would be untested).
  assert not np.allclose(run_np(np_step, steps), run_np(CASES[name][1], steps), rtol=1e-3)


def _nadam_tf1(p, g, t, s, lr, b1, b2, eps):
  m = b1 * s.get('m', zeros()) + (1 - b1) * g
  v = b2 * s.get('v', zeros()) + (1 - b2) * g * g
  lr_t = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
  return p - lr_t * (b1 * m + (1 - b1) * g) / (np.sqrt(v) + eps), {'m': m, 'v': v}


def _nadam_optax(p, g, t, s, lr, b1, b2, eps):
  m = b1 * s.get('m', zeros()) + (1 - b1) * g
  v = b2 * s.get('v', zeros()) + (1 - b2) * g * g
  numerator = b1 * m / (1 - b1**(t + 1)) + (1 - b1) * g / (1 - b1**t)
  return p - lr * numerator / (np.sqrt(v / (1 - b2**t)) + eps), {'m': m, 'v': v}


def _amsgrad_optax(p, g, t, s, lr, b1, b2, eps):
  m = b1 * s.get('m', zeros()) + (1 - b1) * g
  v = b2 * s.get('v', zeros()) + (1 - b2) * g * g
  v_max = np.maximum(s.get('v_max', zeros()), v / (1 - b2**t))
  return p - lr * (m / (1 - b1**t)) / (np.sqrt(v_max) + eps), {'m': m, 'v': v, 'v_max': v_max}


def _adam_textbook(p, g, t, s, lr, b1, b2, eps):
  m = b1 * s.get('m', zeros()) + (1 - b1) * g
  v = b2 * s.get('v', zeros()) + (1 - b2) * g * g
  return p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), {'m': m, 'v': v}


def _rmsprop_zero(p, g, t, s, lr, rho, eps):
  ms = rho * s.get('ms', zeros()) + (1 - rho) * g * g
  return p - lr * g / np.sqrt(ms + eps), {'ms': ms}


def test_defaults_are_spec_section_2():
  """The one-shot defaults, transcribed from SPEC section 2."""
  expected = {
      'sgd': {'learning_rate': 1e-2},
      'momentum': {'learning_rate': 1e-2, 'rho': 0.99},
      'nag': {'learning_rate': 1e-2, 'rho': 0.99},
      'adam': {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-8},
      'amsgrad': {'learning_rate': 1e-2, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-8},
      'nadam': {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-7},
      'radam': {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-7},
      'adabelief': {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-14},
      'adabound': {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-8, 'final_lr': 0.1,
                   'gamma': 1e-3},
      'amsbound': {'learning_rate': 1e-3, 'b1': 0.9, 'b2': 0.999, 'eps': 1e-8, 'final_lr': 0.1,
                   'gamma': 1e-3},
      'adadelta': {'learning_rate': 1e-3, 'rho': 0.95, 'eps': 1e-8},
      'adagrad': {'learning_rate': 1e-2, 'initial_accumulator_value': 0.1},
      'rmsprop': {'learning_rate': 1e-3, 'rho': 0.9, 'eps': 1e-10},
      'lookahead_momentum': {'learning_rate': 1e-2, 'rho': 0.99, 'alpha': 0.5, 'k': 5},
      'lookahead_radam': {'learning_rate': 1e-3, 'eps': 1e-7, 'alpha': 0.5, 'k': 5},
  }
  for name, values in expected.items():
    got = optimizers.defaults(name)
    for hp, value in values.items():
      assert got[hp] == value, (name, hp)
  for name in ('adam', 'amsgrad', 'rmsprop', 'nadam', 'lookahead_momentum', 'lookahead_radam'):
    assert optimizers.defaults(name)['form'] == 'tf1'
  assert optimizers.defaults('adabelief')['form'] == 'rectified'


def test_default_adam_is_tf1_form():
  """With the defaults, TF1 Adam's first step: m_1 = 0.1 g, v_1 = 0.001 g^2,
  lr_1 = lr sqrt(0.001) / 0.1, so update = -lr g / (|g| + eps / sqrt(0.001))."""
  update = run_jax('adam', 1)[0]
  g = grad_np(P0)
  expected = -1e-3 * g / (np.abs(g) + 1e-8 / np.sqrt(1e-3))
  np.testing.assert_allclose(update, expected, rtol=1e-5)
