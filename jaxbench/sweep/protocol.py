"""The tuning protocol over run records (SPEC sections 3 and 5): what to run next, what won.

Everything here is a pure function of the study and the records on disk; there is no state
file. Per work unit (problem, optimizer, schedule):

- one-shot: the optimizer's defaults with seeds 42-51 (`Study.oneshot_seeds`);
- search trials 0 .. N-1 (N = the largest search budget), each with the search seed 42. Trial i
  is `tuning.sample(space, i)` over the optimizer's search space, merged into its defaults, so
  trial i draws the same value of a same-named hyperparameter for every optimizer (common random
  numbers) and the budgets nest: the 25-trial search is the first 25 trials of the 50- and
  75-trial ones. Trials i >= 50 draw the learning rate log-uniformly from [lr* / 2, lr* * 2]
  clipped to [1e-4, 1], where lr* is the learning rate of the incumbent of trials 0-49 (selected
  by the rule below); if none of those 50 qualifies, they draw from the full range.
- selection of budget B: the best of trials 0 .. B-1 by the final validation metric of the
  problem's metric ('loss': lowest `valid_losses[-1]`, 'accuracy': highest
  `valid_accuracies[-1]`) - never the test metric. Diverged trials (record status 'diverged', or
  a non-finite final value) are never selected; ties go to the lowest trial index. If every
  trial diverged the budget has no selection (and no re-runs).
- re-runs: the winner's setting with seeds 43-51, written into the same setting folder as its
  seed-42 trial, so the winner's folder holds all ten seeds. Budgets whose winners coincide share
  the re-runs (they are the same runs).

Runs live once, in DeepOBS's layout under `<output_dir>/runs/` (the run layer's setting folder
names the schedule); the per-budget views under `<output_dir>/<budget>/<schedule>/` are derived
from them (`jaxbench.sweep.views`).
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Optional

from jaxbench import optimizers, problems, tuning
from jaxbench.run import loop as run_loop
from jaxbench.run import records
from jaxbench.run.spec import RunSpec
from jaxbench.sweep.study import Study, Unit

RUNS_FOLDER = "runs"


def runs_root(study: Study) -> str:
  return os.path.join(study.output_dir, RUNS_FOLDER)


def run_spec(study: Study, unit: Unit, hyperparams: dict, seeds: tuple) -> RunSpec:
  """The RunSpec of one setting of a unit (defaults filled in) with the given seeds."""
  training = study.training[unit.problem]
  full = {**optimizers.defaults(unit.optimizer), **hyperparams}
  return RunSpec(
      problem=unit.problem, optimizer=unit.optimizer, hyperparams=full,
      explicit_hyperparams=dict(hyperparams), schedule=unit.schedule, schedule_params={},
      seeds=tuple(seeds), batch_size=training.batch_size, num_epochs=training.num_epochs,
      max_steps=training.max_steps, train_log_interval=study.train_log_interval,
      data_source=study.data_source, data_dir=study.data_dir,
      synthetic_size=study.synthetic_size, eval_size=study.eval_size,
      output_dir=runs_root(study), checkpoint_every_epochs=study.checkpoint_every_epochs,
      strategy=study.strategy)


def oneshot_spec(study: Study, unit: Unit) -> RunSpec:
  return run_spec(study, unit, {}, study.oneshot_seeds)


def trial_hyperparams(study: Study, unit: Unit, num_trials: int,
                      center: Optional[float] = None) -> list[dict]:
  """The tuned hyperparameters of trials 0 .. num_trials-1 (center: the incumbent's rate)."""
  if study.search == "lr_grid":
    return [{"learning_rate": lr} for lr in study.lr_grid[:num_trials]]
  space = optimizers.search_space(unit.optimizer)
  narrow_start = study.narrow_start if center is not None else None
  if narrow_start is not None and "learning_rate" not in space:
    narrow_start = None
  return tuning.sample_trials(space, num_trials, study.search_seed, center,
                              narrow_start=narrow_start, narrow_factor=study.narrow_factor)


def trial_spec(study: Study, unit: Unit, hyperparams: dict) -> RunSpec:
  return run_spec(study, unit, hyperparams, (study.search_seed,))


def rerun_spec(study: Study, unit: Unit, hyperparams: dict) -> RunSpec:
  return run_spec(study, unit, hyperparams, study.rerun_seeds)


@dataclasses.dataclass(frozen=True)
class Outcome:
  """A finished trial: its final validation metric and whether it diverged."""
  final_valid: Optional[float]
  diverged: bool


def metric_key(problem: str, split: str = "valid") -> str:
  """The record key of a problem's reported metric on a split ('valid_losses', ...)."""
  metric = problems.get(problem).metric
  return f"{split}_{'losses' if metric == 'loss' else 'accuracies'}"


def read_seed(spec: RunSpec, seed: int) -> Optional[dict]:
  found = records.existing_records(run_loop.group_dir(spec), seed)
  return records.read_record(found[0]) if found else None


def outcome(spec: RunSpec, seed: int) -> Optional[Outcome]:
  """The trial's outcome from its record, or None if it has not run yet."""
  record = read_seed(spec, seed)
  if record is None:
    return None
  values = record.get(metric_key(spec.problem)) or [None]
  final = values[-1]
  finite = final is not None and math.isfinite(float(final))
  return Outcome(float(final) if finite else None,
                 record.get("status") == "diverged" or not finite)


def select(outcomes: list[Outcome], problem: str) -> Optional[int]:
  """The protocol's winner among complete outcomes (see the module docstring)."""
  return tuning.best_trial([o.final_valid for o in outcomes], problems.get(problem).metric,
                           diverged=[o.diverged for o in outcomes])


@dataclasses.dataclass(frozen=True)
class UnitState:
  """What the records say about one unit, and what can run next."""
  unit: Unit
  trials: list            # hyperparams of every trial that can be known now
  outcomes: list          # Outcome or None per known trial
  selections: dict        # budget -> winning trial index, or None (no qualifying trial)
  pending: list           # RunSpecs whose prerequisites are met and whose records are missing
  complete: bool          # nothing left to run for this unit

  def reruns_done(self, study: Study, budget: str) -> bool:
    winner = self.selections.get(budget)
    return winner is not None and not run_loop.pending_seeds(
        rerun_spec(study, self.unit, self.trials[winner]))


def unit_state(study: Study, unit: Unit) -> UnitState:
  """Reads the unit's records and applies the protocol as far as they allow."""
  pending: list[RunSpec] = []
  blocked = False
  if "oneshot" in study.budgets:
    spec = oneshot_spec(study, unit)
    if run_loop.pending_seeds(spec):
      pending.append(spec)
  num_trials = study.num_trials
  first = min(num_trials, study.narrow_start or num_trials)
  trials = trial_hyperparams(study, unit, first)
  outcomes = [outcome(trial_spec(study, unit, t), study.search_seed) for t in trials]
  if num_trials > first:
    if all(o is not None for o in outcomes):
      incumbent = select(outcomes, unit.problem)
      center = None if incumbent is None else trials[incumbent].get("learning_rate")
      trials = trial_hyperparams(study, unit, num_trials, center)
      outcomes += [outcome(trial_spec(study, unit, t), study.search_seed)
                   for t in trials[first:]]
    else:
      blocked = True
  pending += [trial_spec(study, unit, t) for t, o in zip(trials, outcomes) if o is None]
  selections: dict = {}
  for budget in study.search_budgets:
    size = study.budget_sizes[budget]
    if len(outcomes) < size or any(o is None for o in outcomes[:size]):
      blocked = True
      continue
    selections[budget] = winner = select(outcomes[:size], unit.problem)
    if winner is None:
      continue
    spec = rerun_spec(study, unit, trials[winner])
    if run_loop.pending_seeds(spec) and spec not in pending:
      pending.append(spec)
  return UnitState(unit, trials, outcomes, selections, pending,
                   complete=not pending and not blocked)
