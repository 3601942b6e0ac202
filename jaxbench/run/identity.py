"""What makes two runs the same run: the run identity, its fingerprint, the setting folder, and
which RunSpecs can share one compiled batch.

- `run_identity(spec)`: everything that changes a run's numbers except its seed (problem and its
  options, optimizer and every hyperparameter, schedule and its parameters, batch size, epochs,
  max_steps, the data source/dir/synthetic size/eval size, train_log_interval,
  swa_start_epoch). Every record stores it (our own keys `run_identity` and `run_fingerprint`),
  and a record is reused only when its identity equals the spec's.
- `setting_of(spec)`: the DeepOBS setting folder, with every non-default training parameter of
  the identity appended (as DeepOBS appends its training params), so runs that differ in them
  land in different folders. The data folder is the one exception (a path cannot be part of a
  folder name): it lives only in the fingerprint, and a mismatch is a RecordError.
- `batch_key(spec)`: what RunSpecs must share to run as one engine batch: the identity without
  the numeric hyperparameter values, plus how and where it runs (strategy, output and checkpoint
  roots, checkpoint interval). Numeric hyperparameters and seeds vary along the run axis.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from jaxbench import schedules
from jaxbench.run import records
from jaxbench.run.spec import RunSpec

# Training parameters appended to the setting folder when they differ from these defaults
# (DeepOBS's runner defaults: train_log_interval 10; data source 'auto' finds the real data).
FOLDER_DEFAULTS = {"max_steps": None, "data_source": "auto", "synthetic_size": None,
                   "eval_size": None, "train_log_interval": 10, "swa_start_epoch": None}


def is_numeric(value: Any) -> bool:
  """Numeric hyperparameters are traced per run; str/bool/None are static (compile-time)."""
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _canonical(value: Any) -> Any:
  """JSON round trip: the form the identity has once read back from a record."""
  return json.loads(json.dumps(value, sort_keys=True, default=str))


def run_identity(spec: RunSpec) -> dict:
  """Everything that changes a run's numbers except its seed, as plain JSON."""
  return _canonical({
      "problem": spec.problem,
      "problem_options": dict(spec.problem_options),
      "optimizer": spec.optimizer,
      "hyperparams": dict(spec.hyperparams),
      "schedule": spec.schedule,
      "schedule_params": dict(spec.schedule_params),
      "batch_size": spec.batch_size,
      "num_epochs": spec.num_epochs,
      "max_steps": spec.max_steps,
      "data": {"source": spec.data_source, "dir": spec.data_dir,
               "synthetic_size": spec.synthetic_size, "eval_size": spec.eval_size},
      "train_log_interval": spec.train_log_interval,
      "swa_start_epoch": spec.swa_start_epoch,
  })


def fingerprint(identity: dict) -> str:
  """A short stable hash of a run identity (sha256 of its canonical JSON)."""
  text = json.dumps(identity, sort_keys=True)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(recorded: Any, expected: Any, prefix: str = "") -> list[str]:
  """'key: recorded X, this run Y' for every leaf where two identities differ."""
  if isinstance(recorded, dict) and isinstance(expected, dict):
    out = []
    for key in sorted(set(recorded) | set(expected)):
      out += differences(recorded.get(key, "<missing>"), expected.get(key, "<missing>"),
                         f"{prefix}{key}.")
    return out
  if recorded == expected:
    return []
  return [f"{prefix.rstrip('.')}: recorded {recorded!r}, this run {expected!r}"]


def training_params(spec: RunSpec) -> dict:
  """The record's training_params: DeepOBS's lr_sched_epochs/lr_sched_factors.

  The paper's per-epoch schedules spell their factors; the smooth families change the rate every
  step, which these lists cannot express, so they get null (their name and parameters are in our
  own 'schedule' key and in the setting folder).
  """
  if spec.schedule in schedules.paper_names():
    return schedules.training_params(spec.schedule, spec.num_epochs)
  return {"lr_sched_epochs": None, "lr_sched_factors": None}


def folder_params(spec: RunSpec) -> dict:
  """The training parameters appended to the setting folder (DeepOBS appends its own the same
  way): a non-constant schedule as `lr_schedule` (its parameters as `lr_schedule_<param>`), the
  problem's options under their own names, and each identity field that is not its default."""
  extra: dict[str, Any] = {}
  if spec.schedule != "constant":
    extra["lr_schedule"] = spec.schedule
    for key, value in spec.schedule_params.items():
      extra[f"lr_schedule_{key}"] = value
  extra.update(spec.problem_options)
  for name, default in FOLDER_DEFAULTS.items():
    value = getattr(spec, name)
    if value != default:
      extra[name] = value
  return extra


def setting_of(spec: RunSpec) -> str:
  """The setting folder name; the constant schedule with default training parameters leaves
  SPEC's exact DeepOBS name."""
  return records.setting_name(spec.num_epochs, spec.batch_size, spec.hyperparams,
                              folder_params(spec))


def group_dir(spec: RunSpec) -> str:
  """The folder holding the records of `spec` (one per seed)."""
  return str(records.setting_dir(spec.output_dir, spec.problem, spec.optimizer, setting_of(spec)))


def batch_key(spec: RunSpec) -> str:
  """Specs with equal keys run as one engine batch: only numeric hyperparameter values and seeds
  may differ between them."""
  identity = run_identity(spec)
  hyperparams = identity.pop("hyperparams")
  identity["static_hyperparams"] = {k: v for k, v in hyperparams.items() if not is_numeric(v)}
  identity["numeric_hyperparams"] = sorted(k for k, v in hyperparams.items() if is_numeric(v))
  identity.update(_canonical({
      "strategy": spec.strategy, "output_dir": spec.output_dir,
      "checkpoint_root": spec.checkpoint_root,
      "checkpoint_every_epochs": spec.checkpoint_every_epochs}))
  return fingerprint(identity)
