"""A conv step inside lax.scan on XLA:CPU: seconds per step instead of ~0.15 s (jax 0.10.2).

Why it matters: it is the measured fact behind the policy's one step per dispatch for conv
problems on CPU (train/strategy.py). Inside the while loop the convolutions run as
`conv_general_dilated.N` events of seconds each (profile: 10 s of 22 s), i.e. not as the
Eigen convolution the same op gets in the entry computation.

  python benchmarks/conv_in_scan.py [PROBLEM]
"""
import sys
import time

from jaxbench.train import xla_flags

xla_flags.apply()

import jax  # noqa: E402  pylint: disable=wrong-import-position
import jax.numpy as jnp  # noqa: E402  pylint: disable=wrong-import-position
import optax  # noqa: E402  pylint: disable=wrong-import-position

from jaxbench import problems  # noqa: E402  pylint: disable=wrong-import-position


def main(argv):
  problem = problems.get(argv[1] if len(argv) > 1 else "fmnist_2c2d")
  params = problem.init(jax.random.key(0))["params"]
  x = jax.random.normal(jax.random.key(1), (problem.batch_size,) + tuple(problem.input_shape))
  y = jax.random.randint(jax.random.key(2), (problem.batch_size,), 0, problem.num_classes or 2)
  opt = optax.adam(1e-3)

  def loss(p):
    return jnp.mean(problem.apply({"params": p}, x, y, train=True, rng=jax.random.key(3)).loss)

  def step(carry, _):
    p, s = carry
    u, s = opt.update(jax.grad(loss)(p), s, p)
    return (optax.apply_updates(p, u), s), None

  carry = (params, opt.init(params))
  one = jax.jit(lambda c: step(c, None)[0])
  five = jax.jit(lambda c: jax.lax.scan(step, c, None, length=5)[0])
  for fn, n in ((one, 1), (five, 5)):
    jax.block_until_ready(fn(carry))
    started = time.perf_counter()
    jax.block_until_ready(fn(carry))
    print(f"{n} step(s) per call: {(time.perf_counter() - started) / n * 1e3:.0f} ms/step")


if __name__ == "__main__":
  main(sys.argv)
