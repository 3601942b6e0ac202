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


def choose(problem_name: str, backend: str, num_runs: int) -> Strategy:
  """The default strategy for a problem on a backend ('cpu', 'gpu', 'tpu').

  Placeholder policy, to be replaced by the measured one (performance owner).
  """
  del problem_name, num_runs
  if backend == "cpu":
    return Strategy(runs="loop", steps_per_dispatch=1, unroll=1)
  return Strategy(runs="vmap", steps_per_dispatch=1, unroll=1)
