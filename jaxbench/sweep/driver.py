"""Runs a study: walks the work units of this shard, runs what the records say is missing,
writes the per-budget views, and summarises.

Resumable and idempotent by construction: every decision is re-derived from the records
(`protocol.unit_state`), records are written atomically and never rewritten, and the run layer
skips seeds whose records exist and resumes groups from their checkpoints. A SIGKILL at any
moment therefore loses at most the unfinished batch's epochs since its last checkpoint.

Sharding: the units (problem, optimizer, schedule) in `Study.units()` order are dealt
round-robin, unit k to shard k % num_shards. A unit's records (its trials, re-runs and one-shot
runs, its checkpoints and its views) live in folders no other unit writes, so N processes share
one output root without coordination and never write the same record; each shard selects and
re-runs its own units as soon as their trials exist, and any later invocation (sharded or not)
finishes whatever an interrupted shard left.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from typing import IO, Optional

import numpy as np
from rich import progress as rich_progress
from rich.console import Console
from rich.table import Table

from jaxbench.errors import ConfigError, RecordError
from jaxbench import run as run_lib
from jaxbench.run import loop as run_loop
from jaxbench.run.spec import RunSpec
from jaxbench.sweep import calibrate, plan as plan_lib, protocol, views
from jaxbench.sweep.study import Study, Unit


def shard_units(units: list, num_shards: int = 1, shard_index: int = 0) -> list:
  if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
    raise ConfigError(f"--num_shards={num_shards!r} must be an integer >= 1")
  if isinstance(shard_index, bool) or not isinstance(shard_index, int) \
      or not 0 <= shard_index < num_shards:
    raise ConfigError(f"--shard_index={shard_index!r} must be an integer in "
                      f"0..{num_shards - 1}")
  return units[shard_index::num_shards]


def chunk_size(study: Study, problem: str) -> int:
  """Runs per engine batch: the config's value, else from memory per run (calibrate)."""
  if study.max_runs_per_batch is not None:
    return study.max_runs_per_batch
  return calibrate.runs_per_batch(problem, study.training[problem].batch_size,
                                  study.memory_fraction)


def execute(specs: list[RunSpec], study: Study, config: dict) -> None:
  """The one call into the run layer: it groups compatible specs (the settings of one stage of
  a unit, or one setting's seeds) into engine batches of at most `chunk_size` runs."""
  chunk = min(chunk_size(study, problem) for problem in {spec.problem for spec in specs})
  run_lib.execute(specs, config={**config, "progress": "none"}, max_runs_per_batch=chunk)


class _Reporter:
  """Units and runs done / total, elapsed and remaining time: a rich bar on a terminal, plain
  lines elsewhere. Remaining time extrapolates the runs trained by this invocation."""

  def __init__(self, units: int, runs: int, stream: Optional[IO[str]], mode: str):
    self.stream = stream or sys.stdout
    if mode == "auto":
      mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
    self.mode, self.units, self.runs = mode, units, runs
    self.start = time.monotonic()
    self.runs_new = 0
    self.bar = None
    if mode == "bar":
      self.bar = rich_progress.Progress(
          rich_progress.TextColumn("{task.description}"), rich_progress.BarColumn(),
          rich_progress.TextColumn("{task.fields[detail]}"),
          rich_progress.TimeElapsedColumn(), rich_progress.TimeRemainingColumn(),
          console=Console(file=self.stream))
      self.task = self.bar.add_task("sweep", total=runs, detail="")
      self.bar.start()

  def update(self, units_done: int, runs_done: int, runs_new: int, label: str) -> None:
    """runs_new: runs this invocation trained for the unit (the rest existed already)."""
    self.runs_new += runs_new
    detail = f"units {units_done}/{self.units} runs {runs_done}/{self.runs} {label}"
    if self.bar is not None:
      self.bar.update(self.task, completed=runs_done, detail=detail)
      return
    if self.mode == "none":
      return
    elapsed = time.monotonic() - self.start
    remaining = (elapsed / self.runs_new * max(0, self.runs - runs_done)
                 if self.runs_new else math.inf)
    print(f"[sweep] {detail} elapsed {_hms(elapsed)} remaining ~{_hms(remaining)}",
          file=self.stream, flush=True)

  def close(self) -> None:
    if self.bar is not None:
      self.bar.stop()


def _hms(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  minutes, secs = divmod(int(round(seconds)), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours}:{minutes:02d}:{secs:02d}"


def _runs_done(study: Study, state: protocol.UnitState) -> int:
  done = sum(o is not None for o in state.outcomes)
  if "oneshot" in study.budgets:
    spec = protocol.oneshot_spec(study, state.unit)
    done += len(spec.seeds) - len(run_loop.pending_seeds(spec))
  for budget in study.search_budgets:
    if state.reruns_done(study, budget):
      done += len(study.rerun_seeds)
  return done


def run_unit(study: Study, unit: Unit, config: dict) -> protocol.UnitState:
  """Runs one unit to completion (stage by stage) and writes its views."""
  state = protocol.unit_state(study, unit)
  while state.pending:
    before = [(s, run_loop.pending_seeds(s)) for s in state.pending]
    execute(state.pending, study, config)
    state = protocol.unit_state(study, unit)
    if all((s, run_loop.pending_seeds(s)) in before for s in state.pending) and state.pending:
      raise RecordError(f"{unit.label()}: the run layer finished but records are still missing "
                        f"in {run_loop.group_dir(state.pending[0])}")
  views.write_views(study, state)
  return state


def run_study(study: Study, config: dict, *, num_shards: int = 1, shard_index: int = 0,
              stream: Optional[IO[str]] = None) -> list[protocol.UnitState]:
  """Runs this shard's units; returns their final states."""
  units = shard_units(study.units(), num_shards, shard_index)
  total_runs = len(units) * plan_lib.runs_per_unit(study)
  reporter = _Reporter(len(units), total_runs, stream, study.progress)
  states = []
  runs_done = 0
  try:
    for done, unit in enumerate(units):
      before = _runs_done(study, protocol.unit_state(study, unit))
      state = run_unit(study, unit, config)
      states.append(state)
      after = _runs_done(study, state)
      runs_done += after
      reporter.update(done + 1, runs_done, after - before, unit.label())
  finally:
    reporter.close()
  return states


# ------------------------------------------------------------------------------------------
# Summary / --status


@dataclasses.dataclass(frozen=True)
class SummaryRow:
  unit: Unit
  budget: str
  setting: Optional[dict]   # the selected tuned hyperparameters (one-shot: {}), None if none
  trial: Optional[int]
  seeds: int                # seeds with records
  mean: float
  std: float
  status: str               # 'done' | 'running' | 'no selection (all diverged)'


def _test_metrics(spec: RunSpec) -> list[float]:
  key = protocol.metric_key(spec.problem, "test")
  values = []
  for seed in spec.seeds:
    record = protocol.read_seed(spec, seed)
    if record is not None:
      final = (record.get(key) or [None])[-1]
      values.append(float("nan") if final is None else float(final))
  return values


def summary(study: Study, units: Optional[list] = None) -> list[SummaryRow]:
  """Per unit and budget: the selected setting and its final test metric over its seeds."""
  rows = []
  for unit in units if units is not None else study.units():
    state = protocol.unit_state(study, unit)
    for budget in study.budgets:
      if budget == "oneshot":
        spec, setting, trial = protocol.oneshot_spec(study, unit), {}, None
      elif budget not in state.selections:
        rows.append(SummaryRow(unit, budget, None, None, 0, math.nan, math.nan, "running"))
        continue
      elif state.selections[budget] is None:
        rows.append(SummaryRow(unit, budget, None, None, 0, math.nan, math.nan,
                               "no selection (all diverged)"))
        continue
      else:
        trial = state.selections[budget]
        setting = state.trials[trial]
        spec = protocol.run_spec(study, unit, setting,
                                 (study.search_seed,) + study.rerun_seeds)
      values = _test_metrics(spec)
      done = len(values) == len(spec.seeds)
      rows.append(SummaryRow(unit, budget, setting, trial, len(values),
                             float(np.mean(values)) if values else math.nan,
                             float(np.std(values)) if values else math.nan,
                             "done" if done else "running"))
  return rows


def _setting_text(setting: Optional[dict]) -> str:
  if setting is None:
    return "-"
  if not setting:
    return "defaults"
  return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                  for k, v in sorted(setting.items()))


def print_summary(rows: list[SummaryRow], stream: Optional[IO[str]] = None) -> None:
  table = Table(title="Study summary: final test metric, mean ± std over seeds")
  for column in ("problem", "optimizer", "schedule", "budget", "selected setting", "trial",
                 "seeds", "test metric", "status"):
    table.add_column(column)
  for row in rows:
    metric = "-" if not row.seeds else f"{row.mean:.4g} ± {row.std:.2g}"
    table.add_row(row.unit.problem, row.unit.optimizer, row.unit.schedule, row.budget,
                  _setting_text(row.setting), "-" if row.trial is None else str(row.trial),
                  str(row.seeds), metric, row.status)
  Console(file=stream or sys.stdout, width=200).print(table)
