"""The sweep on a real local Ray cluster (2 worker slots, loopback): same records and selections
as the local engine; a worker killed in the middle of a task loses nothing.

One small study (quadratic_deep, 1 epoch, sgd and momentum, a 2-trial search with one re-run
seed; a task per unit stage) runs three times: in this process through the local driver (the
reference), on Ray undisturbed, and on Ray while the test SIGKILLs a worker process that is
executing a task.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest
import ray

from jaxbench.cluster import ray_sweep
from jaxbench.run import loop as run_loop
from jaxbench.sweep import driver, protocol, study as study_lib

pytestmark = pytest.mark.cluster

METRICS = ("train_losses", "valid_losses", "test_losses", "minibatch_train_losses")


def study_config(output_dir: str) -> dict:
  config = study_lib.base_config().to_dict()
  config.update(problems="quadratic_deep", optimizers="sgd,momentum", schedules="constant",
                budgets="small", budget_sizes="small=2,medium=3,large=4", num_rerun_seeds=1,
                num_epochs=1, checkpoint_every_epochs=0, output_dir=output_dir,
                progress="none", max_runs_per_batch=2)
  return config


def records_by_run(output_dir: str) -> dict:
  """(optimizer, setting folder, seed) -> the record's metric lists; file times stripped."""
  root = os.path.join(output_dir, protocol.RUNS_FOLDER)
  found = {}
  for folder, _, files in os.walk(root):
    for name in files:
      seed = re.match(r"random_seed__(\d+)__", name)
      if not seed:
        continue
      with open(os.path.join(folder, name)) as f:
        record = json.load(f)
      key = (os.path.relpath(folder, root), int(seed.group(1)))
      assert key not in found, f"two records for {key}: a run was done twice"
      found[key] = {m: record[m] for m in METRICS}
  return found


def selections(study) -> list:
  return [(row.unit, row.budget, row.trial, row.setting, row.seeds)
          for row in driver.summary(study)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  """The local engine's records and selections for the study."""
  output_dir = str(tmp_path_factory.mktemp("local"))
  config = study_config(output_dir)
  study = study_lib.from_config(config)
  driver.run_study(study, config)
  return records_by_run(output_dir), selections(study)


@pytest.fixture(scope="module")
def cluster():
  ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
           log_to_driver=False)
  yield
  ray.shutdown()


def test_import_jaxbench_never_imports_ray():
  code = ("import sys, jaxbench, jaxbench.cluster, jaxbench.sweep.command, jaxbench.cli; "
          "sys.exit('ray' in sys.modules)")
  assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_task_resources_gpu_cluster_asks_one_gpu_and_base_memory():
  got = ray_sweep.task_resources({"CPU": 64, "GPU": 8}, runs=50, bytes_per_run=10**9)
  assert got == ray_sweep.TaskResources(num_cpus=1, num_gpus=1, memory=1 << 30)


def test_task_resources_cpu_cluster_asks_cores_and_the_runs_memory():
  got = ray_sweep.task_resources({"CPU": 16}, runs=3, bytes_per_run=1000, cpus_per_task=4)
  assert got == ray_sweep.TaskResources(num_cpus=4, num_gpus=0, memory=(1 << 30) + 3000)


def test_task_resources_rejects_non_positive_cores():
  with pytest.raises(ray_sweep.ConfigError, match="ray_cpus_per_task=0"):
    ray_sweep.task_resources({"CPU": 16}, 1, 1, cpus_per_task=0)


@pytest.mark.slow
def test_ray_engine_gives_the_local_engines_records_and_selections(tmp_path, cluster,
                                                                   reference):
  config = study_config(str(tmp_path))
  study = study_lib.from_config(config)
  states = ray_sweep.run_study(study, config, report_seconds=60)
  assert all(state.complete for state in states)
  assert records_by_run(str(tmp_path)) == reference[0]
  assert selections(study) == reference[1]
  # Idempotent: a second driver finds everything done and submits nothing.
  assert ray_sweep.run_study(study, config, report_seconds=60) == states
  assert records_by_run(str(tmp_path)) == reference[0]


def _running_task_pids() -> list:
  """Workers of this test's Ray instance (descendants of this process: ray.init started it)
  whose process title (ray::<task name>) says they run a stage right now."""
  pids = []
  for process in psutil.Process().children(recursive=True):
    try:
      cmdline = process.cmdline()
    except psutil.Error:  # exited meanwhile
      continue
    if cmdline and cmdline[0].startswith("ray::jaxbench:"):
      pids.append(process.pid)
  return pids


@pytest.mark.slow
def test_killing_a_worker_mid_task_loses_nothing(tmp_path, cluster, reference):
  config = study_config(str(tmp_path))
  study = study_lib.from_config(config)
  outcome: dict = {}
  thread = threading.Thread(
      target=lambda: outcome.update(states=ray_sweep.run_study(study, config,
                                                               report_seconds=60)))
  thread.start()
  killed = None
  deadline = time.monotonic() + 60
  while killed is None and time.monotonic() < deadline and thread.is_alive():
    pids = _running_task_pids()
    if pids:
      killed = pids[0]
      os.kill(killed, signal.SIGKILL)
    time.sleep(0.05)
  thread.join(timeout=120)
  assert killed is not None, "no worker was seen executing a task"
  assert not thread.is_alive()
  assert all(state.complete for state in outcome["states"])
  assert records_by_run(str(tmp_path)) == reference[0]
  assert selections(study) == reference[1]
  assert not any(run_loop.pending_seeds(s) for s in outcome["states"][0].pending)


@pytest.mark.slow
def test_driver_killed_and_started_again_finishes_with_the_same_records(tmp_path, cluster,
                                                                        reference):
  """The command line's driver (`--engine=ray --ray_address=...`) SIGKILLed once the first
  records exist; a second driver finishes the study from the records."""
  output_dir = str(tmp_path)
  flags = [f"--config.{key}={value}" for key, value in study_config(output_dir).items()
           if key in ("problems", "optimizers", "schedules", "budgets", "budget_sizes",
                      "num_rerun_seeds", "num_epochs", "checkpoint_every_epochs", "output_dir",
                      "progress", "max_runs_per_batch")]
  driver_process = subprocess.Popen(
      [sys.executable, "-m", "jaxbench.sweep", "--config=experiments/crowded_valley.py",
       *flags, "--engine=ray", f"--ray_address={ray.get_runtime_context().gcs_address}"],
      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 90
  while not records_by_run(output_dir) and time.monotonic() < deadline \
      and driver_process.poll() is None:
    time.sleep(0.1)
  driver_process.kill()
  driver_process.wait()
  partial = records_by_run(output_dir)
  assert 0 < len(partial) < len(reference[0]), "the driver was not stopped mid-study"
  study = study_lib.from_config(study_config(output_dir))
  ray_sweep.run_study(study, study_config(output_dir), report_seconds=60)
  assert records_by_run(output_dir) == reference[0]
  assert selections(study) == reference[1]
