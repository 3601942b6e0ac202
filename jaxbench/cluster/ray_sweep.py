"""The sweep on a Ray cluster: `jaxbench sweep --config=... --engine=ray [--ray_address=...]`.

What a task is. A work unit (problem, optimizer, schedule) runs in stages: the records say which
RunSpecs can run now (`protocol.unit_state(...).pending`: the one-shot seeds and the first
trials; then the narrowed trials once the first ones exist; then each budget's re-runs once its
trials exist). One stage is one Ray task, which makes exactly the local driver's call
(`driver.execute(pending, ...)`), so the run layer forms the same engine batches (at most
`driver.chunk_size` runs each) and writes the same records. When a unit's task finishes, the
driver re-reads its records and submits its next stage at once, so selection and re-runs are
scheduled as soon as their trials complete while other units' tasks keep the cluster busy. A
finished unit gets its views.

Resources. A task asks for one GPU when the cluster has GPUs (its batches were sized for one
device's memory), else `cpus_per_task` CPU cores; and for host memory: a JAX worker's footprint
plus, on CPU, the largest batch's runs times the calibrated memory per run. Ray packs tasks onto
nodes by these numbers.

Resume and faults. Nothing is kept but the records: the run layer skips seeds whose records exist,
resumes a group from its checkpoint and writes records atomically, so a task that dies (worker
killed, node preempted) is simply run again by Ray (`max_retries`), and a driver stopped and
started again re-derives every unit's stage from the output root and submits only what is
missing. The output root must be one path every worker reaches: a shared filesystem or a bucket
(gs://..., through etils.epath, as the run layer writes it).

Progress. One line per finished task (and every `report_seconds` while waiting): units and runs
done / total, throughput (runs per minute of this invocation), estimated time left, and per node
the task-seconds done against the seconds its slots were available (utilisation), from the
tasks' own reports; Ray's dashboard shows the same cluster when the user started one.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import socket
import sys
import time
from typing import IO, Any, Mapping, Optional

from jaxbench.errors import ConfigError, RecordError

try:
  import ray
except ModuleNotFoundError as e:  # the optional extra is missing: say how to get it
  raise ConfigError("--engine=ray needs Ray: pip install 'jaxbench[ray]'") from e

from jaxbench.run import loop as run_loop
from jaxbench.run.spec import RunSpec
from jaxbench.sweep import calibrate, driver, plan as plan_lib, protocol, study as study_lib
from jaxbench.sweep import views
from jaxbench.sweep.study import Study, Unit
from jaxbench.train import xla_flags

# Host memory of one JAX worker process besides its runs (interpreter, jax, jaxbench, XLA
# runtime, one dataset): a Ray worker's RSS after a 10-seed quadratic_deep stage was 0.39 GiB
# (BUILD_NOTES, "Cluster (session 3)"); rounded up for image datasets.
WORKER_BASE_BYTES = 1 << 30
DEFAULT_MAX_RETRIES = 3


@dataclasses.dataclass(frozen=True)
class TaskResources:
  """What one task (a unit's stage) asks Ray for."""
  num_cpus: float
  num_gpus: float
  memory: int  # bytes of host memory (Ray's 'memory' resource)

  def options(self) -> dict:
    return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus, "memory": self.memory}


def task_resources(cluster: Mapping[str, float], runs: int, bytes_per_run: int,
                   cpus_per_task: float = 1) -> TaskResources:
  """One GPU if the cluster has any (the runs' memory is then on the device), else
  `cpus_per_task` cores and the runs' memory on the host."""
  if cpus_per_task <= 0:
    raise ConfigError(f"--ray_cpus_per_task={cpus_per_task!r} must be > 0")
  if cluster.get("GPU", 0) >= 1:
    return TaskResources(num_cpus=1, num_gpus=1, memory=WORKER_BASE_BYTES)
  return TaskResources(num_cpus=cpus_per_task, num_gpus=0,
                       memory=WORKER_BASE_BYTES + runs * bytes_per_run)


def runs_of(specs: list[RunSpec]) -> int:
  """Runs still to do in `specs` (seeds without records)."""
  return sum(len(run_loop.pending_seeds(s)) for s in specs)


def units_runs_done(study: Study, state: protocol.UnitState) -> int:
  """Runs of a unit whose records exist (the count the local driver reports)."""
  done = sum(o is not None for o in state.outcomes)
  if "oneshot" in study.budgets:
    spec = protocol.oneshot_spec(study, state.unit)
    done += len(spec.seeds) - len(run_loop.pending_seeds(spec))
  done += sum(len(study.rerun_seeds) for b in study.search_budgets
              if state.reruns_done(study, b))
  return done


def run_stage(config: dict, specs: list[RunSpec]) -> dict:
  """The task body, on a worker: run one stage through the run layer; report where and how
  long. Rebuilding the Study registers bring-your-own optimizers in this worker process."""
  xla_flags.apply()  # before this process's first computation initialises the backend
  started = time.monotonic()
  study = study_lib.from_config(config)
  driver.execute(specs, study, config)
  return {"node": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
          "pid": os.getpid(), "seconds": time.monotonic() - started}


_run_stage = ray.remote(run_stage)


def _fmt_seconds(seconds: float) -> str:
  seconds = max(0, int(round(seconds)))
  return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
  """Units and runs done / total, throughput, time left and per-node utilisation, as lines."""

  def __init__(self, units: int, runs_total: int, runs_done: int, units_done: int,
               stream: Optional[IO[str]], mode: str):
    self.stream = stream or sys.stdout
    self.quiet = mode == "none"
    self.units, self.runs_total = units, runs_total
    self.runs_start = runs_done
    self.runs_done, self.units_done = runs_done, units_done
    self.start = time.monotonic()
    self.busy: dict = collections.defaultdict(float)   # node id -> task-seconds done
    self.tasks: dict = collections.Counter()          # node id -> tasks done

  def task_done(self, report: Mapping[str, Any]) -> None:
    self.busy[report["node"]] += report["seconds"]
    self.tasks[report["node"]] += 1

  def line(self) -> str:
    elapsed = time.monotonic() - self.start
    new = self.runs_done - self.runs_start
    rate = new / elapsed if elapsed > 0 else 0.0
    left = self.runs_total - self.runs_done
    eta = _fmt_seconds(left / rate) if rate > 0 else "?"
    text = (f"[ray] units {self.units_done}/{self.units} runs {self.runs_done}/{self.runs_total}"
            f" {rate * 60:.1f} runs/min elapsed {_fmt_seconds(elapsed)} eta {eta}")
    nodes = []
    for node in ray.nodes():
      if not node.get("Alive"):
        continue
      slots = node["Resources"].get("GPU") or node["Resources"].get("CPU", 0)
      node_id = node["NodeID"]
      use = self.busy[node_id] / (slots * elapsed) if slots and elapsed > 0 else 0.0
      nodes.append(f"{node['NodeManagerAddress']}: {self.tasks[node_id]} tasks, "
                   f"{100 * min(use, 1.0):.0f}% of {slots:g} slots")
    free = ray.available_resources()
    total = ray.cluster_resources()
    busy_cpus = total.get("CPU", 0) - free.get("CPU", 0)
    return text + f" | CPUs busy {busy_cpus:g}/{total.get('CPU', 0):g} | " + "; ".join(nodes)

  def report(self) -> None:
    if not self.quiet:
      print(self.line(), file=self.stream, flush=True)


def connect(address: Optional[str]) -> None:
  """Joins a running cluster ('auto' or host:port) or, with no address, starts a local one."""
  if ray.is_initialized():
    return
  # A local instance (no address) is this machine's business: ask for the loopback address for
  # the node and the dashboard (Ray still binds some services to the host's own address).
  local = {} if address else {"_node_ip_address": "127.0.0.1", "dashboard_host": "127.0.0.1"}
  try:
    ray.init(address=address or None, log_to_driver=True, **local)
  except ConnectionError as e:
    raise ConfigError(f"--ray_address={address!r}: no Ray cluster found there ({e}); start "
                      "one with `ray start --head`, or omit --ray_address for a local one") from e


def run_study(study: Study, config: dict, *, address: Optional[str] = None,
              cpus_per_task: float = 1, max_retries: int = DEFAULT_MAX_RETRIES,
              stream: Optional[IO[str]] = None,
              report_seconds: float = 30.0) -> list[protocol.UnitState]:
  """Runs every unit of the study on the cluster; returns the units' final states."""
  connect(address)
  cluster = ray.cluster_resources()
  units = study.units()
  states = {unit: protocol.unit_state(study, unit) for unit in units}
  # Counted when the state is read: the count reads the disk, which running tasks change.
  done_runs = {unit: units_runs_done(study, states[unit]) for unit in units}
  batch_runs = {p: driver.chunk_size(study, p) for p in study.problems}
  memory = {p: calibrate.bytes_per_run(p, study.training[p].batch_size)
            if not cluster.get("GPU") else 0 for p in study.problems}
  progress = Progress(len(units), len(units) * plan_lib.runs_per_unit(study),
                      sum(done_runs.values()),
                      sum(s.complete for s in states.values()), stream, study.progress)
  in_flight: dict = {}          # ObjectRef -> unit (one task per unit at a time: its stage)
  before: dict = {}             # unit -> pending (spec, seeds) at submission, to detect no progress

  def submit(unit: Unit) -> None:
    pending = states[unit].pending
    before[unit] = [(s, run_loop.pending_seeds(s)) for s in pending]
    largest_batch = min(runs_of(pending), batch_runs[unit.problem])
    resources = task_resources(cluster, largest_batch, memory[unit.problem], cpus_per_task)
    ref = _run_stage.options(max_retries=max_retries, retry_exceptions=False,
                             name=f"jaxbench:{unit.label()}",
                             **resources.options()).remote(config, pending)
    in_flight[ref] = unit

  for unit in units:
    if states[unit].pending:
      submit(unit)
    elif states[unit].complete:
      views.write_views(study, states[unit])
  progress.report()
  while in_flight:
    ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=report_seconds)
    for ref in ready:
      unit = in_flight.pop(ref)
      progress.task_done(ray.get(ref))  # re-raises a task's error (after its retries)
      states[unit] = state = protocol.unit_state(study, unit)
      done_now = units_runs_done(study, state)
      progress.runs_done += done_now - done_runs[unit]
      done_runs[unit] = done_now
      if state.pending:
        if all((s, run_loop.pending_seeds(s)) in before[unit] for s in state.pending):
          raise RecordError(f"{unit.label()}: the tasks finished but records are still missing "
                            f"in {run_loop.group_dir(state.pending[0])}")
        submit(unit)
      else:
        progress.units_done += 1
        views.write_views(study, state)
    progress.report()
  return [states[unit] for unit in units]
