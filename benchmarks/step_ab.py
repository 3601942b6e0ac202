"""A/B of engine-step variants in ONE process (alternating short windows), real engine, adam.

Why: this 2-core VM's speed moves by +-30% from one minute to the next; only variants timed
alternately inside one process compare. Each variant patches a function, builds its own Trainer
(programs are cached per Trainer, so each compiles its own), and is unpatched again.

  python benchmarks/step_ab.py PROBLEM RUNS vmap|loop K VARIANTS [WINDOW_SECONDS] [ROUNDS]
  python benchmarks/step_ab.py cifar10_3c3d 1 loop 1 square_pool,base 0.6 10

Variants ('+' combines): base; rolled_threefry (JAX's own CPU lowering of the random bits);
square_pool (the size*size-view max-pool session 4 replaced); projected_lstm (the char-RNN's LSTM
with its input projection outside the loop, as before session 5); nodiv (no divergence check:
all_finite True, no select; the cost of the check); nofin (select kept, check skipped); nowhere
(check kept, select skipped); loop / vmap (this variant's runs execute so, whatever RUNS says);
onednn_lstm (Strategy.rnn_impl='onednn'; every other variant runs XLA's LSTM scan).
"""
import statistics
import sys
import time

from jaxbench.train import xla_flags

xla_flags.apply()

import jax  # noqa: E402  pylint: disable=wrong-import-position
import jax.numpy as jnp  # noqa: E402  pylint: disable=wrong-import-position
import numpy as np  # noqa: E402  pylint: disable=wrong-import-position
from jax.interpreters import mlir  # noqa: E402  pylint: disable=wrong-import-position

from jaxbench import data, problems  # noqa: E402  pylint: disable=wrong-import-position
from jaxbench.problems import nets  # noqa: E402  pylint: disable=wrong-import-position
from jaxbench.train import engine, kernels, threefry  # noqa: E402  pylint: disable=wrong-import-position
from jaxbench.train.strategy import Strategy  # noqa: E402  pylint: disable=wrong-import-position


def square_pool(x, size, stride):
  """The previous nets._max_pool: the maximum of size*size strided views."""
  x, (out_h, out_w) = nets._pool_input(x, size, stride)  # pylint: disable=protected-access
  out = None
  for i in range(size):
    for j in range(size):
      view = x[:, i:i + (out_h - 1) * stride + 1:stride, j:j + (out_w - 1) * stride + 1:stride]
      out = view if out is None else jnp.maximum(out, view)
  return out


class ProjectedLSTMLayer(nets.TFLSTMLayer):
  """The previous nets.TFLSTMLayer: the input half of the kernel applied to all time steps in
  one matmul outside the loop, the loop doing h @ kernel[input:] only."""

  @nets.nn.compact
  def __call__(self, x):
    batch, _, input_size = x.shape
    kernel = self.param('kernel', nets.init.glorot_uniform(),
                        (input_size + self.hidden, 4 * self.hidden))
    bias = self.param('bias', nets._zeros, (4 * self.hidden,))  # pylint: disable=protected-access
    c_var = self.variable('carry', 'c', jnp.zeros, (batch, self.hidden), x.dtype)
    h_var = self.variable('carry', 'h', jnp.zeros, (batch, self.hidden), x.dtype)
    input_proj = jnp.einsum('bti,ig->tbg', x, kernel[:input_size]) + bias
    recurrent = kernel[input_size:]

    def step(carry, proj_t):
      c, h = carry
      i, j, f, o = jnp.split(proj_t + h @ recurrent, 4, axis=-1)
      c = nets.nn.sigmoid(f + self.forget_bias) * c + nets.nn.sigmoid(i) * jnp.tanh(j)
      h = nets.nn.sigmoid(o) * jnp.tanh(c)
      return (c, h), h

    (c, h), outputs = jax.lax.scan(step, (c_var.value, h_var.value), input_proj)
    if not self.is_initializing() and self.is_mutable_collection('carry'):
      c_var.value, h_var.value = c, h
    return jnp.swapaxes(outputs, 0, 1)


def rolled_threefry():
  """JAX's own CPU lowering of threefry2x32 (a fori_loop over the 5 round groups), registered
  where the engine would register jaxbench's unrolled one (train/threefry.py)."""
  # pylint: disable=import-outside-toplevel,protected-access
  from jax._src.random import threefry2x32 as jax_threefry
  mlir.register_lowering(jax_threefry.threefry2x32_p,
                         jax_threefry._threefry2x32_cpu_lowering_rule, platform="cpu")
  return False


PATCHES = {  # part -> [(module, attribute, replacement)]
  "rolled_threefry": [(threefry, "enable", rolled_threefry)],
  "square_pool": [(nets, "_max_pool", square_pool)],
  "projected_lstm": [(nets, "TFLSTMLayer", ProjectedLSTMLayer)],
  "nodiv": [(kernels, "all_finite", lambda tree: jnp.asarray(True)),
            (kernels, "_where_tree", lambda c, old, new: new)],
  "nofin": [(kernels, "all_finite", lambda tree: jnp.asarray(True))],
  "nowhere": [(kernels, "_where_tree", lambda c, old, new: new)],
  "base": [], "loop": [], "vmap": [], "onednn_lstm": [],
}


def apply(variant):
  saved = []
  for part in variant.split("+"):
    if part not in PATCHES:
      raise SystemExit(f"unknown variant part {part!r}; valid choices: {', '.join(PATCHES)}")
    for module, name, value in PATCHES[part]:
      saved.append((module, name, getattr(module, name)))
      setattr(module, name, value)
  return lambda: [setattr(m, n, v) for m, n, v in reversed(saved)]


def _runs(variant, default):
  parts = variant.split("+")
  return "loop" if "loop" in parts else "vmap" if "vmap" in parts else default


def main(argv):
  name, num_runs, runs, k, names = argv[1], int(argv[2]), argv[3], int(argv[4]), argv[5].split(",")
  window = float(argv[6]) if len(argv) > 6 else 2.0
  rounds = int(argv[7]) if len(argv) > 7 else 3
  problem = problems.get(name)
  dataset = data.load(problem.dataset, batch_size=problem.batch_size, source="synthetic")
  trainers = {}
  for variant in names:
    undo = apply(variant)
    trainer = engine.Trainer(engine.RunBatch(problem=name, optimizer="adam",
                                             seeds=np.arange(42, 42 + num_runs)),
                             dataset, strategy=Strategy(
                                 _runs(variant, runs), k, 1,
                                 rnn_impl="onednn" if "onednn_lstm" in variant.split("+")
                                 else "xla"))
    state = trainer.init()
    state, _ = trainer.train_steps(state, 0, k)
    jax.block_until_ready(state)
    undo()
    trainers[variant] = [trainer, state]
  rates = {v: [] for v in names}
  for _ in range(rounds):
    for variant in names:
      trainer, state = trainers[variant]
      steps, started = 0, time.perf_counter()
      while time.perf_counter() - started < window:
        state, _ = trainer.train_steps(state, 0, k)
        jax.block_until_ready(state)
        steps += k
      rates[variant].append(steps * num_runs / (time.perf_counter() - started))
      trainers[variant][1] = state
  first = statistics.median(rates[names[0]])
  for variant in names:
    median = statistics.median(rates[variant])
    print(f"{variant:16s} seed-steps/s median {median:8.2f}  ratio {median / first:.2f}  "
          f"windows {[round(r, 2) for r in rates[variant]]}")


if __name__ == "__main__":
  main(sys.argv)
