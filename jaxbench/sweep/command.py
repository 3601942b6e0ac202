"""The sweep command (flags and main): `python -m jaxbench.sweep --config=experiments/crowded_valley.py`.

  --config.problems=a,b --config.optimizers=... --config.budgets=oneshot,small ...  (any key)
  --num_shards=N --shard_index=i   this process's share of the work units (deterministic)
  --dry_run                        print the plan and a calibrated time estimate; store nothing
  --status                         print the selections and test metrics found so far; run nothing
  --engine=ray [--ray_address=auto|host:port]   run the units as Ray tasks (jaxbench.cluster)

Expected failures (`jaxbench.errors.JaxbenchError`) print one line; anything else keeps its
traceback.
"""
from __future__ import annotations

import importlib
import sys
from typing import Optional, Sequence

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from jaxbench.errors import JaxbenchError
from jaxbench.sweep import driver, dryrun, study as study_lib
from jaxbench.train import xla_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Study config file (experiments/crowded_valley*.py).", lock_config=True)
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 1, "Number of processes sharing the study.")
_SHARD_INDEX = flags.DEFINE_integer("shard_index", 0, "This process's shard, 0..num_shards-1.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the plan and time estimate; run nothing.")
_STATUS = flags.DEFINE_bool("status", False, "Print the study's selections so far; run nothing.")
_CALIBRATE = flags.DEFINE_bool("calibrate", True, "Dry run: time each problem on this device.")
_ENGINE = flags.DEFINE_enum("engine", "local", ["local", "ray"],
                            "local: this process runs its shard; ray: a Ray cluster runs the units "
                            "(pip install 'jaxbench[ray]'; jaxbench.cluster.ray_sweep).")
_RAY_ADDRESS = flags.DEFINE_string("ray_address", None,
                                   "--engine=ray: 'auto', host:port, or unset for a local cluster.")
_RAY_CPUS = flags.DEFINE_float("ray_cpus_per_task", 1, "--engine=ray: CPU cores per task "
                               "(clusters without GPUs).")
_CALIBRATION_RUNS = flags.DEFINE_integer(
    "calibration_runs", 4, "Dry run: runs in the calibration batch (at most the chunk size); "
    "on an accelerator use the chunk size the sweep will use, e.g. 64.")


def _main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _CONFIG.value is None:
    raise app.UsageError("--config=experiments/<study>.py is required")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  try:
    config = _CONFIG.value.to_dict()
    study = study_lib.from_config(config)
    # Bad shard flags fail before anything runs or calibrates.
    driver.shard_units(study.units(), _NUM_SHARDS.value, _SHARD_INDEX.value)
    if _DRY_RUN.value:
      dryrun.dry_run(study, _CALIBRATE.value, calibration_runs=_CALIBRATION_RUNS.value)
      return
    if _STATUS.value:
      driver.print_summary(driver.summary(study))
      return
    if _ENGINE.value == "ray":
      # Loaded by name: Ray is an optional extra, and jaxbench.cluster sits above the sweep.
      importlib.import_module("jaxbench.cluster.ray_sweep").run_study(
          study, config, address=_RAY_ADDRESS.value, cpus_per_task=_RAY_CPUS.value)
      driver.print_summary(driver.summary(study))
      return
    driver.run_study(study, config, num_shards=_NUM_SHARDS.value,
                     shard_index=_SHARD_INDEX.value)
    driver.print_summary(driver.summary(study))
  except JaxbenchError as e:
    raise SystemExit(f"jaxbench: error: {e}") from None


def main(argv: Optional[Sequence[str]] = None) -> None:
  """Entry point (`jaxbench sweep` passes its flags here); argv[0] is the program name."""
  xla_flags.apply()  # before the first computation initialises the backend
  app.run(_main, argv=list(sys.argv if argv is None else argv))


