"""Bring-your-own optimizer: register / load_external, and the result works like a built-in."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxbench import optimizers
from jaxbench.errors import ConfigError
from jaxbench.tuning.space import LogUniform

PATH = 'external_sign_momentum:SIGN_MOMENTUM'


def test_load_external_registers_a_module_level_spec():
  name = optimizers.load_external(PATH)
  assert name == 'sign_momentum' and name in optimizers.names()
  assert name not in optimizers.paper_names()
  assert optimizers.load_external(PATH) == name  # loading it again is a no-op
  assert optimizers.defaults(name) == {'learning_rate': 1e-3, 'b1': 0.9}
  assert optimizers.search_space(name)['b1'] == LogUniform(0.5, 0.999)
  assert optimizers.check_hyperparams(name, b1=0.5) == {'learning_rate': 1e-3, 'b1': 0.5}
  with pytest.raises(ConfigError, match='b1=1.5'):
    optimizers.check_hyperparams(name, b1=1.5)  # the shared range of b1 applies
  # Its update, worked by hand: m_1 = (1 - b1) g, so the step is -lr sign(g); m_2 = b1 m_1 +
  # (1 - b1) g' with g' = -g / 100 keeps the sign of g.
  params = {'w': jnp.array([1.0, -2.0, 0.5])}
  opt = optimizers.get(name, learning_rate=0.1, base_learning_rate=0.1)  # the base rate ignored
  g = jnp.array([3.0, -1.0, 0.2])
  u1, state = opt.update({'w': g}, opt.init(params), params)
  np.testing.assert_allclose(u1['w'], -0.1 * np.sign(g))
  u2, _ = opt.update({'w': -g / 100}, state, params)
  np.testing.assert_allclose(u2['w'], -0.1 * np.sign(g))
  assert optimizers.eval_params(name, state, params) is params


def test_external_optimizer_passes_the_conformance_suite():
  """The registry-wide conformance test, run on the registered external optimizer."""
  import test_optimizers_conformance as conformance  # pylint: disable=import-outside-toplevel
  optimizers.load_external(PATH)
  conformance.test_conformance('sign_momentum')
  conformance.test_wrappers('sign_momentum')


def test_register_with_keywords_and_clear_errors():
  builder = lambda *, learning_rate: optax.sgd(learning_rate)
  spec = optimizers.register('plain_sgd_for_test', builder, defaults={'learning_rate': 0.5},
                             search_space={'learning_rate': LogUniform(1e-3, 1.0)})
  assert optimizers.get_spec('plain_sgd_for_test') is spec
  params = jnp.ones(2)
  updates, _ = optimizers.get('plain_sgd_for_test').update(params, optax.sgd(0.5).init(params))
  np.testing.assert_allclose(updates, -0.5 * np.ones(2))
  with pytest.raises(ConfigError, match='already registered'):
    optimizers.register('adam', builder, defaults={'learning_rate': 0.5}, search_space={})
  with pytest.raises(ConfigError, match="'momentum' has no default"):
    optimizers.register('x', builder, defaults={'learning_rate': 0.5},
                        search_space={'momentum': LogUniform(0.1, 0.9)})
  with pytest.raises(ConfigError, match="'zeta' has no valid range"):
    optimizers.register('x', builder, defaults={'learning_rate': 0.5, 'zeta': 1.0},
                        search_space={})
  with pytest.raises(ConfigError, match='package.module:ATTRIBUTE'):
    optimizers.load_external('external_sign_momentum')
  with pytest.raises(ConfigError, match="cannot import 'no_such_module_xyz'"):
    optimizers.load_external('no_such_module_xyz:SPEC')
  with pytest.raises(ConfigError, match=r"no 'MISSING'.*\['SIGN_MOMENTUM'\]"):
    optimizers.load_external('external_sign_momentum:MISSING')
  with pytest.raises(ConfigError, match='function, not a jaxbench.optimizers.OptimizerSpec'):
    optimizers.load_external('external_sign_momentum:NOT_A_SPEC')
  assert 'x' not in optimizers.names()
  jax.block_until_ready(updates)
