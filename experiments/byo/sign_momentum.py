"""A bring-your-own optimizer from outside the package: sign momentum (signSGD with momentum,
Bernstein et al. 2018), in a few lines.

  m = rho m + (1 - rho) g;   theta -= lr sign(m)

`SIGN_MOMENTUM` is the module-level `jaxbench.optimizers.OptimizerSpec` that
`--config.extra_optimizers=sign_momentum:SIGN_MOMENTUM` registers (with `experiments/byo` on
PYTHONPATH); see experiments/byo_sign_momentum.py.
"""
import jax
import jax.numpy as jnp
import optax

from jaxbench import optimizers, tuning


def sign_momentum(learning_rate=1e-3, rho=0.9) -> optax.GradientTransformation:
  return optax.chain(optax.ema(rho, debias=False),
                     optax.GradientTransformation(
                         lambda params: optax.EmptyState(),
                         lambda updates, state, params=None: (
                             jax.tree_util.tree_map(jnp.sign, updates), state)),
                     optax.scale_by_learning_rate(learning_rate))


SIGN_MOMENTUM = optimizers.OptimizerSpec(
    name="sign_momentum", builder=sign_momentum,
    defaults={"learning_rate": 1e-3, "rho": 0.9},
    # The same names and distributions as the paper's optimizers (SPEC section 3), so trial i
    # shares its learning rate and rho with momentum's trial i (common random numbers).
    search_space={"learning_rate": tuning.LogUniform(1e-4, 1.0),
                  "rho": tuning.OneMinusLogUniform(1e-4, 1.0)},
    reference="Bernstein et al. 2018, signSGD with momentum (Signum)")
