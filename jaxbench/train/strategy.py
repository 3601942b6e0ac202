"""Execution strategy: how a batch of runs is laid onto the device.

The engine (engine.py) implements every mechanism; this module holds the *policy* that picks
one per backend and problem, from measurements recorded in BUILD_NOTES.md.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Strategy:
  """How the engine executes a batch of R runs.

  runs: 'vmap' — one compiled step advances all R runs (weights stacked on a leading axis);
        'loop' — one compiled single-run step, dispatched for each run in turn.
  steps_per_dispatch: training steps fused into one compiled call (lax.scan when > 1).
  unroll: scan unroll factor (XLA:CPU runs conv steps much faster unrolled).
  """
  runs: str = "vmap"
  steps_per_dispatch: int = 1
  unroll: int = 1

  def __post_init__(self):
    if self.runs not in ("vmap", "loop"):
      raise ValueError(f"Strategy.runs={self.runs!r}; valid choices: 'vmap', 'loop'")
    if self.steps_per_dispatch < 1:
      raise ValueError(f"Strategy.steps_per_dispatch={self.steps_per_dispatch} must be >= 1")
    if self.unroll < 1:
      raise ValueError(f"Strategy.unroll={self.unroll} must be >= 1")

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


# Problem families for the policy. Names outside the registry (tests' toy problems, user
# extensions) fall into 'other' and get the conservative default of their backend.
_TINY = ("quadratic_deep", "two_d_rosenbrock", "two_d_beale", "two_d_branin")
_DENSE_SUFFIXES = ("_logreg", "_mlp")
_CONV_SUFFIXES = ("_2c2d", "_3c3d", "_vae", "_allcnnc", "_wrn164", "_wrn404")
_RNN = ("tolstoi_char_rnn",)
BACKENDS = ("cpu", "gpu", "tpu")
_BACKEND_ALIASES = {"cuda": "gpu", "rocm": "gpu"}


def family(problem_name: str) -> str:
  """'tiny', 'dense', 'conv', 'rnn' or 'other': what the policy keys on."""
  if problem_name in _TINY:
    return "tiny"
  if problem_name.endswith(_DENSE_SUFFIXES):
    return "dense"
  if problem_name.endswith(_CONV_SUFFIXES):
    return "conv"
  if problem_name in _RNN:
    return "rnn"
  return "other"


# (backend, family) -> (runs when R > 1, steps_per_dispatch, unroll). Measured on the 2-core CPU
# with jax 0.10.2 (notes/performance.md has every number, the losers too). Accelerators: no
# device was available to measure; vmap with fused, rolled steps is the standard choice there.
_POLICY = {
  ("cpu", "tiny"): ("vmap", 7, 1),
  ("cpu", "dense"): ("vmap", 1, 1),
  ("cpu", "conv"): ("loop", 1, 1),
  ("cpu", "rnn"): ("vmap", 1, 1),
  ("cpu", "other"): ("loop", 1, 1),
}


def choose(problem_name: str, backend: str, num_runs: int) -> Strategy:
  """The default strategy for a problem on a backend ('cpu', 'gpu', 'tpu').

  CPU (measured): see _POLICY. With one run, 'vmap' is used (a batch axis of one costs nothing
  and skips the loop strategy's per-call unstacking of the run axis). GPU/TPU (not measured
  here): every run vmapped, 10 steps fused per dispatch with a rolled scan.
  """
  backend = _BACKEND_ALIASES.get(backend, backend)
  if backend not in BACKENDS:
    raise ValueError(f"backend={backend!r}; valid choices: {', '.join(BACKENDS)}")
  if not isinstance(num_runs, (int,)) and not hasattr(num_runs, "__index__"):
    raise ValueError(f"num_runs={num_runs!r} must be a positive integer")
  if int(num_runs) < 1:
    raise ValueError(f"num_runs={num_runs} must be a positive integer")
  if backend != "cpu":
    return Strategy(runs="vmap", steps_per_dispatch=10, unroll=1)
  runs, steps, unroll = _POLICY[("cpu", family(problem_name))]
  if int(num_runs) == 1:
    runs = "vmap"
  return Strategy(runs=runs, steps_per_dispatch=steps, unroll=unroll)
