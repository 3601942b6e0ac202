"""The study's size before anything runs: configurations, runs and training steps (SPEC section 5).

Counts follow the protocol's arithmetic: per unit, the one-shot seeds, every search trial once
(the budgets nest) and one set of re-runs per search budget. Budgets whose winners coincide
share their re-runs in practice, so the run count is an upper bound the study reaches when every
budget picks a different winner (SPEC counts it that way: 112 runs per unit, 53,760 in all).
"""
from __future__ import annotations

import dataclasses
import math

from jaxbench import problems
from jaxbench.data import batching, generated, loader, text
from jaxbench.sweep.study import Study, Training


@dataclasses.dataclass(frozen=True)
class ProblemPlan:
  problem: str
  units: int
  runs: int            # runs of every unit of this problem together
  steps_per_run: int   # training steps of one run
  batches: int         # engine batches (chunks of at most runs_per_batch runs), an estimate

  @property
  def run_steps(self) -> int:
    return self.runs * self.steps_per_run


def runs_per_unit(study: Study) -> int:
  oneshot = len(study.oneshot_seeds) if "oneshot" in study.budgets else 0
  return oneshot + study.num_trials + len(study.search_budgets) * len(study.rerun_seeds)


def configurations(study: Study) -> int:
  """Reported configurations: (problem, optimizer, schedule, budget) combinations."""
  return len(study.units()) * len(study.budgets)


def train_size(problem: str, study: Study) -> int:
  """Training examples (char-RNN: characters) one epoch covers, without loading the data."""
  dataset = problems.get(problem).dataset
  synthetic = study.synthetic_size if study.data_source == "synthetic" else None
  if dataset == "quadratic_deep":
    return generated.QUADRATIC_SIZE
  if dataset == "two_d":
    return generated.TWO_D_SIZE
  if dataset == "tolstoi":
    total = synthetic or loader.TOLSTOI_FULL_CHARS
    train_part = math.ceil((1.0 - text.TEST_FRACTION) * total)
    return train_part - math.ceil(text.VALID_FRACTION * train_part)
  official = synthetic or loader.OFFICIAL_SIZES[dataset][0]
  return official - loader.valid_size(dataset, official)


def steps_per_run(problem: str, study: Study) -> int:
  training: Training = study.training[problem]
  size = train_size(problem, study)
  if problems.get(problem).dataset == "tolstoi":
    per_epoch = (size - 1) // (training.batch_size * text.SEQ_LENGTH)  # ordered sequences
  else:
    per_epoch = batching.num_train_steps(size, training.batch_size)
  total = per_epoch * training.num_epochs
  return total if training.max_steps is None else min(total, training.max_steps)


def batches_per_unit(study: Study, runs_per_batch: int) -> int:
  """Engine batches one unit needs: its one-shot seeds, its first trials, the narrowed trials
  and the re-runs each chunked by runs_per_batch (each stage waits for the one before)."""
  chunks = lambda runs: -(-runs // runs_per_batch) if runs else 0
  first = min(study.num_trials, study.narrow_start or study.num_trials)
  reruns = len(study.search_budgets) * len(study.rerun_seeds)
  oneshot = len(study.oneshot_seeds) if "oneshot" in study.budgets else 0
  return chunks(oneshot) + chunks(first) + chunks(study.num_trials - first) + chunks(reruns)


def plan(study: Study, runs_per_batch: dict | None = None) -> list[ProblemPlan]:
  """One row per problem (runs_per_batch: problem -> chunk size, default one batch per stage)."""
  per_problem_units = len(study.optimizers) * len(study.schedules)
  rows = []
  for problem in study.problems:
    chunk = (runs_per_batch or {}).get(problem) or runs_per_unit(study)
    rows.append(ProblemPlan(problem, per_problem_units, per_problem_units * runs_per_unit(study),
                            steps_per_run(problem, study),
                            per_problem_units * batches_per_unit(study, chunk)))
  return rows
