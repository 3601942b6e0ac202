"""What to run: the run layer's unit of work, independent of how it was configured.

`RunSpec` is produced by `jaxbench.config.resolve` (command line / config files) and by the
protocol driver (sweeps); `jaxbench.run.loop` executes RunSpecs and writes their records.
Nothing in this package imports `jaxbench.config`.
"""
from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class RunSpec:
  """The seeds of one (problem, optimizer, setting): one setting folder of records.

  The run layer batches the runs (spec, seed) of compatible specs (`identity.batch_key`) into
  one compiled program, so a spec is a unit of bookkeeping, not of compilation.
  """
  problem: str
  optimizer: str
  hyperparams: dict          # the full set (defaults filled in), as recorded
  explicit_hyperparams: dict  # only those set in the config
  schedule: str
  schedule_params: dict
  seeds: tuple
  batch_size: int
  num_epochs: int
  max_steps: Optional[int]
  train_log_interval: int
  data_source: str
  data_dir: Optional[str]
  synthetic_size: Optional[int]
  eval_size: Optional[int]
  output_dir: str
  checkpoint_every_epochs: int
  strategy: Optional[dict]
  # Keyword arguments of `problems.get` beyond the batch size (e.g. {'hessian_draw': 3}).
  problem_options: dict = dataclasses.field(default_factory=dict)
  # Stochastic weight averaging: average the weights from this training epoch on and evaluate
  # (and record) the average; None = no SWA.
  swa_start_epoch: Optional[int] = None
  # Where checkpoints live (None: $JAXBENCH_CHECKPOINT_DIR, else ~/.cache/jaxbench/checkpoints),
  # outside the results tree, which DeepOBS's analyzer reads folder by folder.
  checkpoint_root: Optional[str] = None
