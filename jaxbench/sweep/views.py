"""Per-budget result views in the published Crowded Valley layout, derived from the run store.

  <output_dir>/<budget folder>/<schedule folder>/<problem>/<optimizer>/<setting>/<record>.json

with budget folders oneshot, small_budget, medium_budget, large_budget (grid for the DeepOBS
baseline protocol) and schedule folders none, cosine, cosine_wr, ltr (other schedules keep their
names), exactly as `results_main/` of the published results, so one reader serves both and each
budget folder is a root DeepOBS's analyzer can read. A view holds the budget's trials (seed 42)
and the winner's re-runs, i.e. what that budget's search ran, copied from `<output_dir>/runs/`
with four keys of our own added:

  budget: 'oneshot' | 'small' | 'medium' | 'large' | 'grid'
  role: 'oneshot' | 'trial' | 'rerun'
  trial: the trial index (0-based; for re-runs the winner's), None for one-shot runs
  selected: whether the record belongs to the budget's selected setting

A view is written only once its budget's selection is final and its re-runs exist; files already
there are kept, so an interrupted write is completed by the next invocation, and a view never
disagrees with the store (both are the same records).
"""
from __future__ import annotations

import os

from etils import epath

from jaxbench.run import loop as run_loop
from jaxbench.run import records
from jaxbench.sweep import protocol
from jaxbench.sweep.study import BUDGET_FOLDERS, SCHEDULE_FOLDERS, Study, Unit


def view_dir(study: Study, budget: str, unit: Unit) -> epath.Path:
  schedule = SCHEDULE_FOLDERS.get(unit.schedule, unit.schedule)
  return epath.Path(study.output_dir) / BUDGET_FOLDERS[budget] / schedule / unit.problem \
      / unit.optimizer


def _copy(study: Study, budget: str, spec, seeds, role: str, trial, selected: bool) -> int:
  """Copies the records of `seeds` of one setting into the budget's view; returns files written."""
  source = epath.Path(run_loop.group_dir(spec))
  target = view_dir(study, budget, protocol.Unit(spec.problem, spec.optimizer, spec.schedule)) \
      / source.name
  written = 0
  for seed in seeds:
    found = records.existing_records(source, seed)
    if not found or records.existing_records(target, seed):
      continue
    record = records.read_record(found[0])
    record.update(budget=budget, role=role, trial=trial, selected=selected)
    records.write_json_atomic(target / os.path.basename(os.fspath(found[0])), record)
    written += 1
  return written


def write_views(study: Study, state: protocol.UnitState) -> int:
  """Writes every view of a unit whose budget is final; returns the number of files written."""
  unit = state.unit
  written = 0
  if "oneshot" in study.budgets:
    spec = protocol.oneshot_spec(study, unit)
    if not run_loop.pending_seeds(spec):
      written += _copy(study, "oneshot", spec, spec.seeds, "oneshot", None, True)
  for budget, winner in state.selections.items():
    if winner is not None and not state.reruns_done(study, budget):
      continue
    for index, hyperparams in enumerate(state.trials[:study.budget_sizes[budget]]):
      written += _copy(study, budget, protocol.trial_spec(study, unit, hyperparams),
                       (study.search_seed,), "trial", index, index == winner)
    if winner is not None:
      written += _copy(study, budget, protocol.rerun_spec(study, unit, state.trials[winner]),
                       study.rerun_seeds, "rerun", winner, True)
  return written
