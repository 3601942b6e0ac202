"""The dry run: the study's plan and its compute time, calibrated on the current device.

Kept apart from command.py, which defines the command's absl flags at import: code and tests
that only want the plan must not define flags (the main command defines `--config` too).
"""
from __future__ import annotations

import sys

import jax

from jaxbench import problems
from jaxbench.data import generated, loader, text
from jaxbench.sweep import calibrate, driver, plan as plan_lib, study as study_lib


def dry_run(study: study_lib.Study, calibrate_problems: bool = True, stream=None,
            calibration_runs: int = 4) -> dict:
  """Prints (and returns) the plan: configurations, runs, steps and, calibrated, the time."""
  stream = stream or sys.stdout
  rows = plan_lib.plan(study)
  units = len(study.units())
  print(f"study: {len(study.problems)} problems x {len(study.optimizers)} optimizers x "
        f"{len(study.schedules)} schedules = {units} work units; budgets "
        f"{', '.join(study.budgets)}; {plan_lib.configurations(study)} configurations; "
        f"{plan_lib.runs_per_unit(study)} runs per unit", file=stream)
  device = jax.devices()[0]
  total_seconds = 0.0
  lines = []
  for row in rows:
    line = (f"  {row.problem:18s} units {row.units:4d}  runs {row.runs:6d}  steps/run "
            f"{row.steps_per_run:7d}  run-steps {row.run_steps:.3e}")
    if calibrate_problems:
      training = study.training[row.problem]
      chunk = driver.chunk_size(study, row.problem)
      runs = max(1, min(chunk, plan_lib.runs_per_unit(study), calibration_runs))
      result = calibrate.calibrate(row.problem, training.batch_size, runs,
                                   strategy=study.strategy)
      batches = plan_lib.plan(study, {row.problem: chunk})[study.problems.index(row.problem)]
      evaluations = row.runs * (training.num_epochs + 1) * _eval_examples(row.problem, study)
      seconds = (batches.batches * result.compile_seconds
                 + row.run_steps * result.seconds_per_run_step
                 + evaluations * result.seconds_per_eval_example)
      total_seconds += seconds
      line += (f"  chunk {chunk:5d}  compile {result.compile_seconds:6.1f} s  "
               f"{result.seconds_per_run_step * 1e3:8.3f} ms/run-step (batch of {runs})  "
               f"~{seconds / 3600:9.1f} h")
    print(line, file=stream, flush=True)
    lines.append(line)
  runs = sum(r.runs for r in rows)
  steps = sum(r.run_steps for r in rows)
  print(f"total: {runs} runs (at most; budgets with the same winner share re-runs), "
        f"{steps:.4e} training steps", file=stream)
  if calibrate_problems:
    print(f"estimated time on {device.device_kind} ({device.platform}), one device: "
          f"{total_seconds / 3600:.1f} h; nothing was stored", file=stream)
  return {"configurations": plan_lib.configurations(study), "runs": runs, "steps": steps,
          "units": units, "seconds": total_seconds if calibrate_problems else None}


def _eval_examples(problem: str, study: study_lib.Study) -> int:
  """Examples of one evaluation pass (train_eval + valid + test), as the engine counts them."""
  dataset = problems.get(problem).dataset
  if dataset == "quadratic_deep":
    return 3 * generated.QUADRATIC_SIZE
  if dataset == "two_d":
    return 3 * generated.TWO_D_SIZE
  if dataset == "tolstoi":
    test = loader.TOLSTOI_FULL_CHARS - plan_lib.train_size(problem, study)
    return 2 * test // text.SEQ_LENGTH  # valid + test + the train_eval part, in sequences
  size = loader.VALID_SIZES[dataset]
  return 3 * (study.eval_size or size)
