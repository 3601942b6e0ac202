"""A sign-momentum optimizer defined outside jaxbench, loaded in tests by
`optimizers.load_external('external_sign_momentum:SIGN_MOMENTUM')` (not a test module)."""
import optax

from jaxbench.optimizers import OptimizerSpec
from jaxbench.tuning.space import LogUniform


def sign_momentum(*, learning_rate, b1):
  """m = b1 m + (1 - b1) g;  theta -= lr sign(m)."""
  return optax.chain(optax.ema(b1, debias=False), optax.scale_by_sign(),
                     optax.scale_by_learning_rate(learning_rate))


SIGN_MOMENTUM = OptimizerSpec(
    'sign_momentum', sign_momentum, {'learning_rate': 1e-3, 'b1': 0.9},
    {'learning_rate': LogUniform(1e-4, 1.0), 'b1': LogUniform(0.5, 0.999)},
    reference='a test fixture')

NOT_A_SPEC = sign_momentum
