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
# with jax 0.10.2 (BUILD_NOTES.md has every number, the losers too):
# - tiny and dense problems: vmap. Looping 10 quadratic_deep runs reached ~460 seed-steps/s,
#   vmapping them 1,250-2,900; the compiled step is dominated by dispatch overhead, so fusing a
#   few steps per dispatch (rolled scan: unrolling only lengthened compiles, up to 89 s) helps.
#   k divides the epoch where it can: quadratic_deep has 7 steps per epoch, two_d 78 = 6 * 13,
#   the MNIST-size problems 390 = 30 * 13 (remainders run as single steps).
# - conv problems: loop, one step per dispatch (issue 4's measurement: vmapped conv weights ran
#   3-4x slower per seed; a rolled scan around a conv step ran ~10x slower; see the notes for
#   this session's numbers).
# - the char-RNN: its step is already a 50-step scan of small matmuls, which vmapping batches.
# Accelerators: no device was available to measure; vmap with fused, rolled steps is the
# standard choice there.
_POLICY = {
  ("cpu", "tiny"): ("vmap", 13, 1),
  ("cpu", "dense"): ("vmap", 13, 1),
  ("cpu", "conv"): ("loop", 1, 1),
  ("cpu", "rnn"): ("vmap", 1, 1),
  ("cpu", "other"): ("loop", 1, 1),
}
_STEPS_PER_EPOCH_DIVISOR = {"quadratic_deep": 7}


def choose(problem_name: str, backend: str, num_runs: int) -> Strategy:
  """The default strategy for a problem on a backend ('cpu', 'gpu', 'tpu').

  CPU (measured): see _POLICY; the same for any number of runs (conv problems loop even with
  one run: vmapping conv weights rewrites the convolutions as grouped ones). GPU/TPU (not
  measured here): every run vmapped, 10 steps fused per dispatch with a rolled scan.
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
  steps = _STEPS_PER_EPOCH_DIVISOR.get(problem_name, steps)
  return Strategy(runs=runs, steps_per_dispatch=steps, unroll=unroll)
