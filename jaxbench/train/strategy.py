"""Execution strategy: how a batch of runs is laid onto the device.

The executor (executor.py) implements every mechanism; this module holds the *policy* that
picks one per backend and kind of problem (`Problem.family`), from measurements recorded in
BUILD_NOTES.md.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Union

import numpy as np

from jaxbench import problems
from jaxbench.errors import ConfigError
from jaxbench.problems import nets
from jaxbench.problems import onednn
from jaxbench.problems.base import Problem


@dataclasses.dataclass(frozen=True)
class Strategy:
  """How the engine executes a batch of R runs.

  runs: 'vmap' — one compiled step advances all R runs (weights stacked on a leading axis);
        'loop' — one compiled single-run step, dispatched for each run in turn.
  steps_per_dispatch: training steps fused into one compiled call (lax.scan when > 1).
  unroll: scan unroll factor (XLA:CPU runs conv steps much faster unrolled).
  conv_impl: how conv models compute their convolutions (`nets.CONV_IMPLS`): 'xla' —
        lax.conv_general_dilated, XLA's own convolution (Eigen on CPU, cuDNN on GPU); 'matmul' —
        im2col patches and one dot_general (`nets.conv_matmul`); 'onednn' — oneDNN's primitives
        as XLA FFI calls (CPU, `problems/onednn.py`). Same values up to float32 rounding
        (tests/test_nets_conv.py, tests/test_onednn.py); only conv problems accept anything
        but 'xla'.
  rnn_impl: how recurrent models run their LSTM layers (`nets.RNN_IMPLS`): 'xla' — a lax.scan
        of the TF1 cell; 'onednn' — oneDNN's LSTM primitive as XLA FFI calls (CPU,
        `onednn.lstm`). Same values up to float32 rounding (tests/test_onednn.py); only
        recurrent problems accept anything but 'xla'.
  """
  runs: str = "vmap"
  steps_per_dispatch: int = 1
  unroll: int = 1
  conv_impl: str = "xla"
  rnn_impl: str = "xla"

  def __post_init__(self):
    if self.runs not in ("vmap", "loop"):
      raise ConfigError(f"Strategy.runs={self.runs!r}; valid choices: 'vmap', 'loop'")
    if self.steps_per_dispatch < 1:
      raise ConfigError(f"Strategy.steps_per_dispatch={self.steps_per_dispatch} must be >= 1")
    if self.unroll < 1:
      raise ConfigError(f"Strategy.unroll={self.unroll} must be >= 1")
    if self.conv_impl not in nets.CONV_IMPLS:
      raise ConfigError(f"Strategy.conv_impl={self.conv_impl!r}; valid choices: "
                        f"{', '.join(repr(c) for c in nets.CONV_IMPLS)}")
    if self.rnn_impl not in nets.RNN_IMPLS:
      raise ConfigError(f"Strategy.rnn_impl={self.rnn_impl!r}; valid choices: "
                        f"{', '.join(repr(c) for c in nets.RNN_IMPLS)}")

  def as_dict(self) -> dict:
    return dataclasses.asdict(self)


BACKENDS = ("cpu", "gpu", "tpu")
_BACKEND_ALIASES = {"cuda": "gpu", "rocm": "gpu"}


# (backend, Problem.family) -> (runs when R > 1, steps_per_dispatch, unroll). Measured on the
# 2-core CPU with jax 0.10.2 (BUILD_NOTES.md has every number, the losers too):
# - tiny and dense problems: vmap. Looping 10 quadratic_deep runs reached ~460 seed-steps/s,
#   vmapping them 1,250-2,900; the compiled step is dominated by dispatch overhead, so fusing a
#   few steps per dispatch (rolled scan: unrolling only lengthened compiles, up to 89 s) helps.
#   13 divides the epochs of two_d (78 = 6 * 13) and the MNIST-size problems (390 = 30 * 13);
#   an epoch shorter than that (quadratic_deep: 7 steps) fuses the whole epoch.
# - conv problems: loop, one step per dispatch (issue 4's measurement: vmapped conv weights ran
#   3-4x slower per seed; a rolled scan around a conv step ran ~10x slower; see the notes for
#   this session's numbers).
# - the char-RNN: its step is already a 50-step scan of small matmuls, which vmapping batches.
# Accelerators: no device was available to measure; vmap with fused, rolled steps is the
# standard choice there.
#
# Convolution implementation (Strategy.conv_impl), keyed on the same facts. CPU: 'onednn' where
# the system has oneDNN (problems/onednn.py), else 'xla'. Measured (BUILD_NOTES.md, "Performance
# III"): oneDNN's primitives beat XLA:CPU's Eigen convolutions per layer 1.05-3.1x and whole
# steps 1.15x (2c2d) to 1.4x (3c3d) side by side with PyTorch; the im2col + dot_general form
# ('matmul') lost everywhere (0.45-0.93x of 'xla': its patch tensor, 80 MB for 2c2d's second
# conv, is memory traffic the direct convolution does not have). GPU/TPU: 'xla' — XLA hands
# convolutions to cuDNN / the TPU convolution emitter, the vendors' own paths (not measured).


# LSTM implementation (Strategy.rnn_impl): CPU 'onednn' where the system has oneDNN, and then
# the runs loop (each run one oneDNN call per layer; vmapped, they would be R sequential calls
# against XLA's batched matmuls); else 'xla' with vmapped runs (the "rnn" row above). Measured
# (BUILD_NOTES.md, "Performance IV"): whole char-RNN step 1.34x at one run, loop + oneDNN 1.18x
# over vmap + XLA at ten (vmap + oneDNN: 0.87x). GPU/TPU 'xla' (not measured).


def cpu_onednn_or_xla() -> str:
  """'onednn' when this system can build and load the oneDNN kernels (convolutions, LSTMs), else
  'xla'."""
  return "onednn" if onednn.available() else "xla"
_POLICY = {
  ("cpu", "tiny"): ("vmap", 13, 1),
  ("cpu", "dense"): ("vmap", 13, 1),
  ("cpu", "conv"): ("loop", 1, 1),
  ("cpu", "rnn"): ("vmap", 1, 1),
  ("cpu", "other"): ("loop", 1, 1),
}


def family(problem: Union[Problem, str]) -> str:
  """The policy's key: `problem.family`. A registry name is looked up in the registry; a name
  outside it (and a Problem that does not say) is 'other', the conservative default."""
  if isinstance(problem, Problem):
    return problem.family
  if problem in problems.names():
    return problems.get(problem).family
  return "other"


def choose(problem: Union[Problem, str], backend: str, num_runs: int,
           steps_per_epoch: Optional[int] = None) -> Strategy:
  """The default strategy for a problem on a backend ('cpu', 'gpu', 'tpu').

  Keys on the Problem's own `family` (never on its name), so a problem of one's own gets the
  strategy of its kind. CPU (measured): see _POLICY; the same for any number of runs (conv
  problems loop even with one run: vmapping conv weights rewrites the convolutions as grouped
  ones). steps_per_epoch, when given, caps the fused steps at one epoch. GPU/TPU (not measured
  here): every run vmapped, 10 steps fused per dispatch with a rolled scan.
  """
  backend = _BACKEND_ALIASES.get(backend, backend)
  if backend not in BACKENDS:
    raise ConfigError(f"backend={backend!r}; valid choices: {', '.join(BACKENDS)}")
  if (isinstance(num_runs, bool) or not isinstance(num_runs, (int, np.integer))
      or int(num_runs) < 1):
    raise ConfigError(f"num_runs={num_runs!r} must be a positive integer")
  kind = family(problem)
  if backend != "cpu":
    runs, steps, unroll = "vmap", 10, 1
  else:
    runs, steps, unroll = _POLICY[("cpu", kind)]
  if steps_per_epoch is not None:
    steps = max(1, min(steps, int(steps_per_epoch)))
  conv_impl = cpu_onednn_or_xla() if kind == "conv" and backend == "cpu" else "xla"
  rnn_impl = cpu_onednn_or_xla() if kind == "rnn" and backend == "cpu" else "xla"
  if rnn_impl == "onednn":
    runs = "loop"
  return Strategy(runs=runs, steps_per_dispatch=steps, unroll=min(unroll, steps),
                  conv_impl=conv_impl, rnn_impl=rnn_impl)
