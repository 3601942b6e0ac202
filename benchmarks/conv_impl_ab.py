"""A/B of the convolution implementations on whole training steps, alternating in ONE process.

Why: the 2-core machine is shared, so only side-by-side numbers mean anything. For each model
this builds the jitted training step (model + softmax/VAE loss + optax adam, the engine's
arithmetic without its bookkeeping) for every variant, then times them in alternating short
windows, several rounds, and reports the median seconds per step of each and the ratio to the
first variant. Variants:
  xla          conv_impl='xla' (lax.conv_general_dilated, NHWC), one run
  matmul       conv_impl='matmul' (shifted-slice im2col + one dot_general), one run
  xla_nchw     the xla variant with NCHW activations (only for 2c2d: the layout test)
  R runs:      <impl>_vmapR (the R runs vmapped: batched matmul / grouped conv) against
               <impl>_loopR (R single-run steps dispatched one after another).

  XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution \
      python benchmarks/conv_impl_ab.py --models=2c2d,3c3d,vae --runs=1,10 --window=2 --rounds=3
"""
from __future__ import annotations

import argparse
import functools
import statistics
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxbench.problems import nets

MODELS = {  # name -> (module factory, input shape without batch, batch size, kind)
  "2c2d": (functools.partial(nets.TwoCTwoD, 10), (28, 28, 1), 128, "cls"),
  "3c3d": (functools.partial(nets.ThreeCThreeD, 10), (32, 32, 3), 128, "cls"),
  "vae": (nets.VAE, (28, 28), 64, "vae"),
  "allcnnc": (functools.partial(nets.AllCNNC, 100), (32, 32, 3), 256, "cls"),
  "wrn164": (functools.partial(nets.WideResNet, 2, 4, 10), (32, 32, 3), 128, "cls"),
}


class _NCHW2c2d(nn.Module):
  """2c2d with NCHW activations and OIHW kernels (the layout PyTorch/oneDNN use)."""

  @nn.compact
  def __call__(self, x, *, train=False):
    del train
    x = jnp.transpose(x, (0, 3, 1, 2))
    for i, (cin, cout) in enumerate(((1, 32), (32, 64))):
      k = self.param(f"k{i}", nn.initializers.normal(0.05), (cout, cin, 5, 5))
      x = jax.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"))
      x = nn.relu(x + self.param(f"b{i}", nn.initializers.zeros, (cout, 1, 1)))
      x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    x = nn.relu(nn.Dense(1024)(x.reshape((x.shape[0], -1))))
    return nn.Dense(10)(x)


def _step_fn(module, kind):
  tx = optax.adam(1e-3)

  def loss_fn(params, x, y, key):
    if kind == "vae":
      recon, mean, log_std = module.apply({"params": params}, x, train=True,
                                          rngs={"dropout": key, "sample": key})
      kl = -0.5 * jnp.sum(1 + 2 * log_std - mean ** 2 - jnp.exp(2 * log_std), axis=-1)
      return jnp.mean(jnp.sum((recon - x) ** 2, axis=(1, 2)) + kl)
    # Train mode (dropout on); BatchNorm (WRN) updates its statistics as in training.
    logits, _ = module.apply({"params": params, **_STATS.get(id(module), {})}, x, train=True,
                             rngs={"dropout": key}, mutable=["batch_stats"])
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

  def step(params, opt_state, x, y, key):
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y, key)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return tx, step


_STATS: dict = {}  # BatchNorm running statistics per module (the WRN), constant across steps


def _variant(model, impl, runs, mode, seed=0):
  """(callable advancing all `runs` runs one step, description)."""
  factory, shape, batch, kind = MODELS[model]
  module = _NCHW2c2d() if impl == "xla_nchw" else factory(conv_impl=impl)
  rng = np.random.RandomState(seed)
  x = jnp.asarray(rng.uniform(size=(batch,) + shape).astype(np.float32))
  y = jnp.asarray(rng.randint(0, 10, size=(batch,)).astype(np.int32))
  keys = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1),
          "sample": jax.random.PRNGKey(2)}
  variables = module.init(keys, x)
  if "batch_stats" in variables:
    _STATS[id(module)] = {"batch_stats": variables["batch_stats"]}
  tx, step = _step_fn(module, kind)
  params = variables["params"]
  opt_state = tx.init(params)
  key = jax.random.PRNGKey(3)
  if mode == "vmap":
    stack = lambda t: jax.tree_util.tree_map(lambda a: jnp.stack([a] * runs), t)
    fn = jax.jit(jax.vmap(step, in_axes=(0, 0, None, None, None)), donate_argnums=(0, 1))
    state = [stack(params), stack(opt_state)]

    def advance():
      state[0], state[1], loss = fn(state[0], state[1], x, y, key)
      return loss
  else:
    fn = jax.jit(step, donate_argnums=(0, 1))
    states = [[jax.tree_util.tree_map(jnp.copy, params), tx.init(params)] for _ in range(runs)]

    def advance():
      loss = None
      for s in states:
        s[0], s[1], loss = fn(s[0], s[1], x, y, key)
      return loss
  started = time.perf_counter()
  jax.block_until_ready(advance())
  return advance, time.perf_counter() - started


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--models", default="2c2d,3c3d,vae")
  ap.add_argument("--impls", default="xla,matmul")
  ap.add_argument("--runs", default="1,10")
  ap.add_argument("--window", type=float, default=2.0, help="seconds per timed window")
  ap.add_argument("--rounds", type=int, default=3)
  args = ap.parse_args()
  for model in args.models.split(","):
    for runs in (int(r) for r in args.runs.split(",")):
      variants = {}
      for impl in args.impls.split(","):
        if impl == "xla_nchw" and model != "2c2d":
          continue
        modes = ("loop",) if runs == 1 else ("loop", "vmap")
        for mode in modes:
          name = impl if runs == 1 else f"{impl}_{mode}{runs}"
          variants[name] = _variant(model, impl, runs, mode)
      times = {name: [] for name in variants}
      for _ in range(args.rounds):
        for name, (advance, _) in variants.items():
          steps, started = 0, time.perf_counter()
          while time.perf_counter() - started < args.window or steps == 0:
            jax.block_until_ready(advance())
            steps += 1
          times[name].append((time.perf_counter() - started) / steps)
      base = statistics.median(next(iter(times.values())))
      for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{model:8s} runs={runs:3d} {name:16s} {1e3 * med:9.1f} ms/step  "
              f"seed-steps/s {runs / med:8.2f}  x{base / med:5.2f} vs first  "
              f"(min {1e3 * min(ts):.1f} ms; first call incl. compile "
              f"{variants[name][1]:.1f} s)", flush=True)


if __name__ == "__main__":
  main()
