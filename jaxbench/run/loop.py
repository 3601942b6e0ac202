"""The outer training loop: epochs, evaluation, checkpoint/resume, run records.

For each run group (one `RunSpec`: seeds of one problem/optimizer/setting), the loop
  1. skips the seeds whose records exist (a re-launch resumes a sweep),
  2. restores the group's latest checkpoint if there is one, else initialises and evaluates
     epoch 0,
  3. runs `Trainer.run_epoch` + `Trainer.evaluate` per epoch, checkpointing the whole engine state
     and the metric history every `checkpoint_every_epochs` epochs,
  4. writes one DeepOBS record per seed, then deletes the checkpoint.
All validation (names, types, batch size vs. training set, output root) happens for every group
before the first group compiles anything.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any

import jax
import numpy as np

import jaxbench
from jaxbench.run.spec import RunSpec
from jaxbench.run import checkpoint as checkpoint_lib
from jaxbench.train import progress as progress_lib
from jaxbench.train import sharding
from jaxbench.run import records


@dataclasses.dataclass(frozen=True)
class GroupResult:
  """What one run group produced: its records (all seeds, including earlier ones) and folder."""
  spec: RunSpec
  directory: str
  records: list
  skipped: bool


def training_params(spec: RunSpec) -> dict:
  """The record's training_params: DeepOBS's lr_sched_epochs/lr_sched_factors.

  The paper's per-epoch schedules spell their factors; the smooth families change the rate every
  step, which these lists cannot express, so they get null (their name and parameters are in our
  own 'schedule' key and in the setting folder).
  """
  from jaxbench import schedules
  if spec.schedule in schedules.paper_names():
    return schedules.training_params(spec.schedule, spec.num_epochs)
  return {"lr_sched_epochs": None, "lr_sched_factors": None}


def setting_of(spec: RunSpec) -> str:
  """The setting folder. A non-constant schedule is appended as the training parameter
  `lr_schedule` (and its parameters as `lr_schedule_<param>`), as DeepOBS appends analyzable
  training parameters; the constant schedule leaves SPEC's exact name."""
  extra: dict[str, Any] = {}
  if spec.schedule != "constant":
    extra["lr_schedule"] = spec.schedule
    for key, value in spec.schedule_params.items():
      extra[f"lr_schedule_{key}"] = value
  return records.setting_name(spec.num_epochs, spec.batch_size, spec.hyperparams, extra)


def group_dir(spec: RunSpec) -> str:
  return str(records.setting_dir(spec.output_dir, spec.problem, spec.optimizer, setting_of(spec)))


def pending_seeds(spec: RunSpec) -> tuple[int, ...]:
  directory = group_dir(spec)
  return tuple(s for s in spec.seeds if not records.existing_records(directory, s))


def _dataset_key(spec: RunSpec) -> tuple:
  from jaxbench import problems
  return (problems.get(spec.problem).dataset, spec.batch_size, spec.data_source, spec.data_dir,
          spec.synthetic_size, spec.eval_size)


def _shorten_eval(dataset, size: int):
  """The first `size` examples of each evaluation split (train is untouched)."""
  from jaxbench.data import Split
  cut = lambda split: Split(split.inputs[:size], split.targets[:size])
  return dataclasses.replace(dataset, train_eval=cut(dataset.train_eval),
                             valid=cut(dataset.valid), test=cut(dataset.test))


def load_datasets(specs: list[RunSpec]) -> dict:
  """Loads each distinct dataset once and checks batch sizes, before anything compiles."""
  from jaxbench import data, problems
  cache: dict = {}
  for index, spec in enumerate(specs):
    if not pending_seeds(spec):
      continue
    key = _dataset_key(spec)
    if key not in cache:
      kwargs: dict[str, Any] = dict(batch_size=spec.batch_size, source=spec.data_source,
                                    data_dir=spec.data_dir)
      if spec.synthetic_size is not None:
        kwargs["synthetic_size"] = spec.synthetic_size
      cache[key] = data.load(problems.get(spec.problem).dataset, **kwargs)
    dataset = cache[key]
    if spec.eval_size is not None:
      if dataset.batch_size is not None:
        raise ValueError(f"config.data.eval_size={spec.eval_size}: {spec.problem!r} evaluates "
                         "ordered batches of the whole text; valid choices: None")
      cache[key] = dataset = _shorten_eval(dataset, spec.eval_size)
    train_size = dataset.train.size
    if problems.get(spec.problem).dataset == "tolstoi":
      continue  # text: train.size counts sequences already cut to the batch size
    if spec.batch_size > train_size:
      where = "config.batch_size" if len(specs) == 1 else f"config.suite[{index}].batch_size"
      raise ValueError(f"{where}={spec.batch_size} is larger than the training set of "
                       f"{spec.problem!r} ({train_size} examples); valid choices: 1..{train_size}")
  return cache


def _make_trainer(spec: RunSpec, seeds: tuple[int, ...], dataset):
  """The engine for the pending seeds. Numeric hyperparameters travel as per-run arrays (traced,
  no recompilation per value); non-numeric ones (e.g. adam's form='tf1') stay scalars, which the
  engine binds statically."""
  from jaxbench.train import engine
  from jaxbench.train.strategy import Strategy
  hyperparams = {k: np.full((len(seeds),), v)
                 if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                 for k, v in spec.hyperparams.items()}
  run_batch = engine.RunBatch(
      problem=spec.problem, optimizer=spec.optimizer, schedule=spec.schedule,
      schedule_params=dict(spec.schedule_params), hyperparams=hyperparams,
      seeds=np.asarray(seeds, dtype=np.int64), batch_size=spec.batch_size,
      num_epochs=spec.num_epochs, max_steps=spec.max_steps,
      train_log_interval=spec.train_log_interval)
  strategy = Strategy(**spec.strategy) if spec.strategy else None
  return engine.Trainer(run_batch, dataset, strategy=strategy)


def _as_host(metrics: dict) -> dict:
  return {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}


def _resolved_config(config: dict, spec: RunSpec, seed: int) -> dict:
  """The full config as this run saw it: top-level fields with the run group's values in."""
  resolved = {k: v for k, v in config.items() if k != "suite"}
  resolved.update(problem=spec.problem, batch_size=spec.batch_size, num_epochs=spec.num_epochs,
                  max_steps=spec.max_steps, random_seed=seed)
  resolved["optimizer"] = {"name": spec.optimizer, **spec.hyperparams}
  resolved["schedule"] = {"name": spec.schedule, "params": dict(spec.schedule_params)}
  return resolved


def run_group(spec: RunSpec, dataset, config: dict,
              progress: progress_lib.Progress) -> GroupResult:
  """Trains the pending seeds of one group (resuming from a checkpoint) and writes their records."""
  from jaxbench import problems
  directory = group_dir(spec)
  seeds = pending_seeds(spec)
  label = f"{spec.problem}/{spec.optimizer}"
  if not seeds:
    progress.skip(len(spec.seeds), spec.num_epochs)
    return GroupResult(spec, directory, _read_group(spec), skipped=True)
  if len(seeds) < len(spec.seeds):
    progress.skip(len(spec.seeds) - len(seeds), spec.num_epochs)

  problem = problems.get(spec.problem)
  wall_start = time.monotonic()
  trainer = _make_trainer(spec, seeds, dataset)
  identifier = checkpoint_lib.batch_id({
      "setting": setting_of(spec), "problem": spec.problem, "optimizer": spec.optimizer,
      "seeds": list(seeds), "max_steps": spec.max_steps, "strategy": trainer.strategy,
      "data": [spec.data_source, spec.data_dir, spec.synthetic_size, spec.eval_size]})
  checkpointer = None
  if spec.checkpoint_every_epochs > 0:
    checkpointer = checkpoint_lib.Checkpointer(
        checkpoint_lib.checkpoint_dir(spec.output_dir, identifier))

  state = trainer.init()
  history: dict[str, Any]
  start_epoch = 0
  if checkpointer is not None and checkpointer.latest_epoch() is not None:
    start_epoch, state, history = checkpointer.restore(state)
    history = checkpoint_lib.from_json_floats(history)
  else:
    first = _as_host(trainer.evaluate(state))
    history = {"metrics": [{k: v.tolist() for k, v in first.items()}],
               "minibatch_losses": [], "epoch_wall_seconds": []}
  steps_in = getattr(trainer, "steps_in_epoch", lambda e: trainer.steps_per_epoch)
  progress.start_batch(label, len(seeds), spec.num_epochs,
                       [steps_in(e) for e in range(spec.num_epochs)], start_epoch)
  if start_epoch == 0:
    progress.epoch(0, history["metrics"][0], 0.0)

  for epoch in range(start_epoch + 1, spec.num_epochs + 1):
    epoch_start = time.monotonic()
    # Record entry `epoch` follows the engine's (0-based) training epoch `epoch - 1`.
    state, minibatch = trainer.run_epoch(
        state, epoch - 1, on_progress=functools.partial(progress.training, epoch))
    metrics = _as_host(trainer.evaluate(state))
    seconds = time.monotonic() - epoch_start
    history["metrics"].append({k: v.tolist() for k, v in metrics.items()})
    history["minibatch_losses"].append(np.asarray(minibatch, dtype=np.float64).tolist())
    history["epoch_wall_seconds"].append(seconds)
    progress.epoch(epoch, metrics, seconds)
    if checkpointer is not None and (epoch % spec.checkpoint_every_epochs == 0) \
        and epoch < spec.num_epochs:
      checkpointer.save(epoch, state, history)

  diverged = np.asarray(sharding.to_host(state.diverged)).reshape(-1)
  diverged_epoch = np.asarray(sharding.to_host(state.diverged_epoch)).reshape(-1)
  # One batch over several hosts (jax.distributed, jaxbench.cluster.multihost): every process
  # holds every run's metrics, process 0 alone writes the records and removes the checkpoint.
  writer = jax.process_index() == 0
  metric_names = list(history["metrics"][0])
  device_kind = jax.devices()[0].device_kind
  common = {
      "jaxbench_version": jaxbench.__version__,
      "schedule": {"name": spec.schedule, "params": dict(spec.schedule_params)},
      "epoch_wall_seconds": history["epoch_wall_seconds"],
      "compile_seconds": float(getattr(trainer, "compile_seconds", float("nan")) or 0.0),
      "wall_seconds": time.monotonic() - wall_start,
      "device_kind": device_kind,
      "strategy": trainer.strategy,
      "steps_per_epoch": int(trainer.steps_per_epoch),
      "train_log_interval": spec.train_log_interval,
      "data_source": getattr(dataset, "source", spec.data_source),
      "batch_seeds": list(seeds),
  }
  for run, seed in enumerate(seeds):
    per_epoch = {name: [m[name][run] for m in history["metrics"]] for name in metric_names}
    minibatch = [v for epoch_losses in history["minibatch_losses"]
                 for v in np.asarray(epoch_losses).reshape(len(seeds), -1)[run].tolist()]
    is_diverged = bool(diverged[run])
    record = records.build_record(
        testproblem=spec.problem, batch_size=spec.batch_size, num_epochs=spec.num_epochs,
        random_seed=seed, l2_reg=problem.weight_decay, optimizer_name=spec.optimizer,
        optimizer_hyperparams=spec.hyperparams, training_params=training_params(spec),
        metrics=per_epoch, minibatch_train_losses=minibatch,
        extra={**common, "status": "diverged" if is_diverged else "finished",
               "diverged_epoch": int(diverged_epoch[run]) if is_diverged else None,
               "config": _resolved_config(config, spec, seed)})
    if writer:
      records.write_record(spec.output_dir, record, setting_of(spec))
  if checkpointer is not None:
    checkpointer.delete_all() if writer else checkpointer.close()
  sharding.sync_processes(f"records {directory}")  # nobody reads the folder before they exist
  progress.end_batch()
  return GroupResult(spec, directory, _read_group(spec), skipped=False)


def _read_group(spec: RunSpec) -> list:
  """The group's records, one per seed in seed order (the first file if several exist)."""
  directory = group_dir(spec)
  out = []
  for seed in spec.seeds:
    found = records.existing_records(directory, seed)
    if found:
      out.append(records.read_record(found[0]))
  return out


def run_specs(specs: list[RunSpec], config: dict, progress_stream=None) -> list[GroupResult]:
  """Runs every group in order (datasets loaded and checked first); prints the final tables.

  `config` is the resolved config as a plain dict; it is stored in each record.
  """
  datasets = load_datasets(specs)
  total_runs = sum(len(s.seeds) for s in specs)
  total_units = sum(len(s.seeds) * s.num_epochs for s in specs)
  progress = progress_lib.Progress(total_runs, total_units,
                                   mode=config.get("progress", "auto"),
                                   stream=progress_stream)
  results = []
  for spec in specs:
    dataset = datasets.get(_dataset_key(spec)) if pending_seeds(spec) else None
    results.append(run_group(spec, dataset, config, progress))
  _report(results, progress)
  return results


def _report(results: list[GroupResult], progress: progress_lib.Progress) -> None:
  if progress.mode == "none":
    return
  for result in results:
    spec = result.spec
    progress.message(f"\n{spec.problem} / {spec.optimizer} ({spec.schedule}), "
                     f"{len(result.records)} seed(s):")
    progress.message(progress_lib.seed_table(result.records))
    progress.message(f"records: {result.directory}")
  if len(results) > 1:
    progress.message("\nComparison (final test metrics, mean ± std over seeds):")
    progress.message(progress_lib.comparison_table(
        [(r.spec.problem, r.spec.optimizer, r.records) for r in results]))
