"""The run layer's executor: RunSpecs in, one DeepOBS record per (spec, seed) out.

Public API (also exported by `jaxbench.run`):

  results = execute(specs, config=None, progress=None, max_runs_per_batch=None)
      -> list[GroupResult], one per spec in order (its records, seed order, and folder)
  pending_seeds(spec)  -> the seeds of `spec` without a valid record of this very run
  group_dir(spec)      -> the setting folder of `spec`'s records
  read_group(spec)     -> the records of `spec` that exist, in seed order
  run_specs(specs, config, progress_stream=None)  -> execute + the final tables (main command)

What `execute` does:
  1. Scans each spec's setting folder. A record counts as done only if it is readable, has
     DeepOBS's keys and its `run_fingerprint` equals the spec's (`identity.run_identity`: every
     input that changes the numbers). An unreadable or foreign file is named, renamed
     `*.corrupt` and its run is recomputed; a valid record of another run in the same folder
     (same folder name, other data folder) is a RecordError naming both values. Temporary files
     of interrupted writes are removed.
  2. Loads each distinct dataset once and checks batch sizes and schedules with the real steps
     per epoch, for every spec, before anything compiles.
  3. Groups the pending runs (spec, seed) of specs with equal `identity.batch_key` (same problem
     and options, optimizer, static hyperparameters, schedule, batch size, epochs, max_steps,
     data, log interval, strategy, SWA; only numeric hyperparameters and seeds differ) into
     batches of at most `max_runs_per_batch` runs (None: all). A checkpoint left by an earlier
     launch that holds a pending run is adopted as its batch; one whose runs are all finished or
     no longer asked for is deleted.
  4. Trains each batch as one engine batch (`Trainer`: the runs vmapped in one compiled program
     where the strategy vmaps), checkpointing every `checkpoint_every_epochs` epochs and after
     the last one, then writes each run's record into its own spec's folder and deletes the
     checkpoint.

Failures: a full disk or read-only folder raises `StorageError` (one line: what failed, which
checkpoint epoch is kept, re-run to resume); Ctrl-C raises `Interrupted` (a KeyboardInterrupt
with `.message` and `.checkpoint_epoch`). Writes are atomic, so either leaves a consistent tree.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import time
from typing import Any, Optional

import jax
import numpy as np
from absl import logging

import jaxbench
from jaxbench import data, problems, schedules
from jaxbench.data import Split, batching
from jaxbench.errors import CheckpointError, ConfigError, RecordError, StorageError
from jaxbench.run import checkpoint as checkpoint_lib
from jaxbench.run import identity as identity_lib
from jaxbench.run import records
from jaxbench.run.identity import group_dir, setting_of
from jaxbench.run.spec import RunSpec
from jaxbench.train import engine
from jaxbench.train import progress as progress_lib
from jaxbench.train import sharding
from jaxbench.train.strategy import Strategy

__all__ = ["GroupResult", "Interrupted", "execute", "group_dir", "load_datasets",
           "pending_seeds", "read_group", "run_specs", "setting_of"]

Run = tuple  # (RunSpec, seed)


class Interrupted(KeyboardInterrupt):
  """Ctrl-C (or a signal the command line turns into KeyboardInterrupt) during a batch.

  `message` is the one line to print; `checkpoint_epoch` the epoch of the checkpoint kept
  (None: none yet); `checkpoint_dir` its folder.
  """

  def __init__(self, message: str, checkpoint_epoch: Optional[int] = None,
               checkpoint_dir: Optional[str] = None):
    super().__init__(message)
    self.message = message
    self.checkpoint_epoch = checkpoint_epoch
    self.checkpoint_dir = checkpoint_dir


@dataclasses.dataclass(frozen=True)
class GroupResult:
  """What one spec produced: its records (all seeds, including earlier ones) and folder."""
  spec: RunSpec
  directory: str
  records: list
  skipped: bool


@dataclasses.dataclass(frozen=True)
class Batch:
  """Runs trained together; `checkpoint` is its folder (an adopted one, or new), or None."""
  runs: tuple
  checkpoint: Any
  pending: frozenset  # (fingerprint, seed) of the runs whose records are written


def _fingerprint(spec: RunSpec) -> str:
  return identity_lib.fingerprint(identity_lib.run_identity(spec))


# --------------------------------------------------------------------------------------------
# Records on disk.


def scan_records(spec: RunSpec) -> dict:
  """seed -> path of the valid record of this very run, for each seed of `spec` that has one.

  Unreadable or foreign files are set aside (renamed *.corrupt) with a warning naming them;
  a valid record of a different run raises RecordError.
  """
  directory = group_dir(spec)
  for temp in records.remove_temp_files(directory):
    logging.warning("removed %s, the temporary file of an interrupted record write", temp)
  expected = identity_lib.run_identity(spec)
  expected_fp = identity_lib.fingerprint(expected)
  done = {}
  for seed in spec.seeds:
    for path in records.existing_records(directory, seed):
      try:
        record = records.read_record(path)
      except RecordError as e:
        moved = records.set_aside(path)
        logging.warning("%s; moved it to %s and will recompute seed %d", e, moved.name, seed)
        continue
      if record.get("run_fingerprint") != expected_fp:
        recorded = record.get("run_identity")
        if not isinstance(recorded, dict):
          raise RecordError(
              f"record {path} has no run identity (written by DeepOBS or an older jaxbench), "
              "so it cannot be told apart from this run's; move it out of "
              f"{directory} or choose another output_dir")
        diff = "; ".join(identity_lib.differences(recorded, expected)) or "fingerprint differs"
        raise RecordError(f"record {path} belongs to another run ({diff}); move it out of "
                          f"{directory} or choose another output_dir")
      done.setdefault(seed, path)
  return done


def pending_seeds(spec: RunSpec) -> tuple[int, ...]:
  """The seeds of `spec` that still need a run (no valid record of this run)."""
  done = scan_records(spec)
  return tuple(s for s in spec.seeds if s not in done)


def read_group(spec: RunSpec) -> list:
  """The records of `spec` that exist, one per seed in seed order."""
  done = scan_records(spec)
  return [records.read_record(done[s]) for s in spec.seeds if s in done]


# --------------------------------------------------------------------------------------------
# Datasets and the checks that need them.


def _dataset_key(spec: RunSpec) -> tuple:
  return (problems.get(spec.problem).dataset, spec.batch_size, spec.data_source, spec.data_dir,
          spec.synthetic_size, spec.eval_size)


def _shorten_eval(dataset, size: int):
  """The first `size` examples of each evaluation split (train is untouched)."""
  cut = lambda split: Split(split.inputs[:size], split.targets[:size])
  return dataclasses.replace(dataset, train_eval=cut(dataset.train_eval),
                             valid=cut(dataset.valid), test=cut(dataset.test))


def _check_schedule(spec: RunSpec, steps_per_epoch: int) -> None:
  """Builds the schedule with the real steps per epoch: its range checks (warm-up steps,
  periods) depend on them, so config validation alone cannot make them."""
  try:
    schedules.get(spec.schedule, float(spec.hyperparams.get("learning_rate", 1.0)),
                  spec.num_epochs, steps_per_epoch, **spec.schedule_params)
  except ValueError as e:
    raise ConfigError(f"config.schedule.params ({spec.schedule!r} on {spec.problem!r} with "
                      f"batch_size={spec.batch_size}, {steps_per_epoch} steps per epoch): "
                      f"{e}") from None


def load_datasets(specs: list[RunSpec], pending: Optional[dict] = None) -> dict:
  """Loads each distinct dataset once and checks batch sizes and schedules, before anything
  compiles. `pending` (spec index -> pending seeds) limits the work to specs with runs to do."""
  cache: dict = {}
  for index, spec in enumerate(specs):
    if pending is not None and not pending.get(index):
      continue
    key = _dataset_key(spec)
    problem = problems.get(spec.problem)
    if key not in cache:
      kwargs: dict[str, Any] = dict(batch_size=spec.batch_size, source=spec.data_source,
                                    data_dir=spec.data_dir)
      if spec.synthetic_size is not None:
        kwargs["synthetic_size"] = spec.synthetic_size
      dataset = data.load(problem.dataset, **kwargs)
      if spec.eval_size is not None:
        if dataset.batch_size is not None:
          raise ConfigError(f"config.data.eval_size={spec.eval_size}: {spec.problem!r} evaluates "
                            "ordered batches of the whole text; valid choices: None")
        dataset = _shorten_eval(dataset, spec.eval_size)
      cache[key] = dataset
    dataset = cache[key]
    train_size = dataset.train.size
    if problem.dataset != "tolstoi":  # text: train.size counts sequences cut to the batch size
      if spec.batch_size > train_size:
        where = "config.batch_size" if len(specs) == 1 else f"config.suite[{index}].batch_size"
        raise ConfigError(f"{where}={spec.batch_size} is larger than the training set of "
                          f"{spec.problem!r} ({train_size} examples); valid choices: "
                          f"1..{train_size}")
    _check_schedule(spec, batching.num_train_steps(train_size, spec.batch_size))
  return cache


# --------------------------------------------------------------------------------------------
# Planning: runs -> batches, adopting and cleaning up checkpoints.


def _chunks(runs: list, size: Optional[int]) -> list:
  size = max(1, len(runs)) if size is None else size
  return [tuple(runs[i:i + size]) for i in range(0, len(runs), size)]


def plan(specs: list[RunSpec], pending: dict, max_runs_per_batch: Optional[int] = None
         ) -> list[Batch]:
  """The batches that train the pending runs, in spec order; deletes orphaned checkpoints."""
  if max_runs_per_batch is not None and (isinstance(max_runs_per_batch, bool) or not isinstance(
      max_runs_per_batch, int) or max_runs_per_batch < 1):
    raise ConfigError(f"max_runs_per_batch={max_runs_per_batch!r} must be an int >= 1 or None")
  by_key: dict = collections.OrderedDict()
  for index, spec in enumerate(specs):
    by_key.setdefault(identity_lib.batch_key(spec), []).append(index)
  batches = []
  for key, indices in by_key.items():
    specs_of_key = {_fingerprint(specs[i]): specs[i] for i in indices}
    runs = [(specs[i], seed) for i in indices for seed in pending[i]]
    pending_ids = {(_fingerprint(spec), seed) for spec, seed in runs}
    first = specs[indices[0]]
    folder = None
    if first.checkpoint_every_epochs > 0:
      folder = checkpoint_lib.batches_dir(first.checkpoint_root, first.output_dir, key)
      for directory, ck_runs in checkpoint_lib.existing(folder):
        ids = set(ck_runs)
        if ids & pending_ids and all(fp in specs_of_key for fp, _ in ids):
          batches.append(Batch(tuple((specs_of_key[fp], seed) for fp, seed in ck_runs),
                               directory, frozenset(ids & pending_ids)))
          pending_ids -= ids
        elif all(fp in specs_of_key for fp, _ in ids):
          # Its runs are finished or no longer asked for (the seeds changed): an orphan.
          checkpoint_lib.remove(directory)
          logging.warning("deleted checkpoint %s: none of its runs is pending", directory)
        # A checkpoint with runs of specs this launch does not know may belong to another
        # process sharing the output root: left alone.
    left = [(spec, seed) for spec, seed in runs if (_fingerprint(spec), seed) in pending_ids]
    for chunk in _chunks(left, max_runs_per_batch):
      ids = [(_fingerprint(spec), seed) for spec, seed in chunk]
      directory = None if folder is None else folder / checkpoint_lib.runs_id(ids)
      batches.append(Batch(chunk, directory, frozenset(ids)))
  return batches


# --------------------------------------------------------------------------------------------
# Training one batch.


def _make_trainer(runs: tuple, dataset) -> engine.Trainer:
  """The engine for a batch. Numeric hyperparameters travel as per-run arrays (traced, no
  recompilation per value); non-numeric ones (e.g. adam's form='tf1') are the same for every run
  of a batch (`batch_key`) and stay scalars, which the engine binds statically."""
  spec = runs[0][0]
  hyperparams = {k: np.asarray([s.hyperparams[k] for s, _ in runs])
                 if identity_lib.is_numeric(v) else v for k, v in spec.hyperparams.items()}
  # The registry name, not a built Problem: the engine builds it for the batch size and the
  # dataset's number of classes (the char-RNN's vocabulary comes from the text).
  run_batch = engine.RunBatch(
      problem=spec.problem, problem_options=dict(spec.problem_options),
      swa_start_epoch=spec.swa_start_epoch, optimizer=spec.optimizer, schedule=spec.schedule,
      schedule_params=dict(spec.schedule_params), hyperparams=hyperparams,
      seeds=np.asarray([seed for _, seed in runs], dtype=np.int64), batch_size=spec.batch_size,
      num_epochs=spec.num_epochs, max_steps=spec.max_steps,
      train_log_interval=spec.train_log_interval)
  strategy = Strategy(**spec.strategy) if spec.strategy else None
  return engine.Trainer(run_batch, dataset, strategy=strategy)


def _as_host(metrics: dict) -> dict:
  return {k: np.asarray(v, dtype=np.float64) for k, v in metrics.items()}


def _resolved_config(config: Optional[dict], spec: RunSpec, seed: int) -> dict:
  """The full config as this run saw it: top-level fields with the run's values in."""
  resolved = {k: v for k, v in (config or {}).items() if k != "suite"}
  resolved.update(problem=spec.problem, batch_size=spec.batch_size, num_epochs=spec.num_epochs,
                  max_steps=spec.max_steps, random_seed=seed)
  resolved["optimizer"] = {"name": spec.optimizer, **spec.hyperparams}
  resolved["schedule"] = {"name": spec.schedule, "params": dict(spec.schedule_params)}
  return resolved


def _label(runs: tuple) -> str:
  spec = runs[0][0]
  settings = len({_fingerprint(s) for s, _ in runs})
  return f"{spec.problem}/{spec.optimizer}" + (f" ({settings} settings)" if settings > 1 else "")


def _open_checkpoint(batch: Batch, progress) -> Optional[checkpoint_lib.Checkpointer]:
  if batch.checkpoint is None:
    return None
  ids = [(_fingerprint(spec), seed) for spec, seed in batch.runs]
  output_dir = batch.runs[0][0].output_dir
  try:
    return checkpoint_lib.Checkpointer(batch.checkpoint, ids, output_dir)
  except CheckpointError as e:
    moved = checkpoint_lib.set_aside(batch.checkpoint)
    progress.message(f"{e}; set it aside as {moved} and restarting this batch from epoch 0")
    return checkpoint_lib.Checkpointer(batch.checkpoint, ids, output_dir)


def _write_records(batch: Batch, state, history: dict, trainer, dataset, config, wall_start,
                   checkpointer) -> None:
  diverged = np.asarray(sharding.to_host(state.diverged)).reshape(-1)
  diverged_epoch = np.asarray(sharding.to_host(state.diverged_epoch)).reshape(-1)
  metric_names = list(history["metrics"][0])
  seeds = [seed for _, seed in batch.runs]
  common = {
      "jaxbench_version": jaxbench.__version__,
      "epoch_wall_seconds": history["epoch_wall_seconds"],
      "compile_seconds": float(trainer.compile_seconds),
      "wall_seconds": time.monotonic() - wall_start,
      "device_kind": jax.devices()[0].device_kind,
      "strategy": trainer.strategy,
      "steps_per_epoch": int(trainer.steps_per_epoch),
      "data_source": dataset.source,
      "batch_seeds": seeds,
  }
  items = []
  for run, (spec, seed) in enumerate(batch.runs):
    identity = identity_lib.run_identity(spec)
    fp = identity_lib.fingerprint(identity)
    # One batch over several hosts (jax.distributed, jaxbench.cluster.multihost): every process
    # holds every run's metrics; process 0 alone writes the records.
    if (fp, seed) not in batch.pending or jax.process_index() != 0:
      continue
    per_epoch = {name: [m[name][run] for m in history["metrics"]] for name in metric_names}
    minibatch = [v for epoch_losses in history["minibatch_losses"]
                 for v in np.asarray(epoch_losses).reshape(len(seeds), -1)[run].tolist()]
    is_diverged = bool(diverged[run])
    # Record entry e + 1 follows training epoch e, the one that diverged.
    per_epoch, minibatch = records.deepobs_divergence_fill(
        per_epoch, minibatch, int(diverged_epoch[run]) if is_diverged else None)
    record = records.build_record(
        testproblem=spec.problem, batch_size=spec.batch_size, num_epochs=spec.num_epochs,
        random_seed=seed, l2_reg=problems.get(spec.problem).weight_decay,
        optimizer_name=spec.optimizer, optimizer_hyperparams=spec.hyperparams,
        training_params=identity_lib.training_params(spec),
        metrics=per_epoch, minibatch_train_losses=minibatch,
        extra={**common, "schedule": {"name": spec.schedule, "params": dict(spec.schedule_params)},
               "train_log_interval": spec.train_log_interval,
               "run_identity": identity, "run_fingerprint": fp,
               "status": "diverged" if is_diverged else "finished",
               "diverged_epoch": int(diverged_epoch[run]) if is_diverged else None,
               "config": _resolved_config(config, spec, seed)})
    items.append((spec.output_dir, record, setting_of(spec)))
  if not items:
    return
  try:
    # Together: a kill midway leaves none or all of them, so a resumed launch trains the
    # missing runs in this very batch (vmap is bit-identical only for the same composition).
    records.write_records(items)
  except OSError as e:
    kept = (f"the checkpoint of epoch {checkpointer.saved_epoch} is kept"
            if checkpointer is not None and checkpointer.saved_epoch is not None
            else "no checkpoint is kept")
    folders = ", ".join(sorted({str(group_dir(spec)) for spec, _ in batch.runs}))
    raise StorageError(
        f"cannot write the records of {len(items)} run(s) to {folders} "
        f"({checkpoint_lib.describe_failure(e)}); {kept}; free space or fix the folder, then "
        "re-run the same command to resume") from None


def run_batch(batch: Batch, dataset, config: Optional[dict], progress) -> None:
  """Trains one batch (resuming from its checkpoint) and writes its runs' records."""
  spec = batch.runs[0][0]
  label = _label(batch.runs)
  wall_start = time.monotonic()
  trainer = _make_trainer(batch.runs, dataset)
  checkpointer = _open_checkpoint(batch, progress)
  state = trainer.init()
  start_epoch = 0
  history: dict[str, Any] = {}
  if checkpointer is not None and checkpointer.latest_epoch() is not None:
    try:
      start_epoch, state, history = checkpointer.restore(state)
    except CheckpointError as e:
      checkpointer.close()
      moved = checkpoint_lib.set_aside(batch.checkpoint)
      progress.message(f"{e}; set it aside as {moved} and restarting this batch from epoch 0")
      checkpointer = _open_checkpoint(batch, progress)
      state, start_epoch = trainer.init(), 0
  if start_epoch == 0:
    first = _as_host(trainer.evaluate(state))
    history = {"metrics": [{k: v.tolist() for k, v in first.items()}],
               "minibatch_losses": [], "epoch_wall_seconds": []}
  progress.start_batch(label, len(batch.runs), spec.num_epochs,
                       [trainer.steps_in_epoch(e) for e in range(spec.num_epochs)], start_epoch)
  if start_epoch == 0:
    progress.epoch(0, history["metrics"][0], 0.0)

  epoch = start_epoch
  try:
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
      # The last epoch is checkpointed too: a kill while the records are written resumes there.
      if checkpointer is not None and (epoch % spec.checkpoint_every_epochs == 0
                                       or epoch == spec.num_epochs):
        checkpointer.save(epoch, state, history)
    _write_records(batch, state, history, trainer, dataset, config, wall_start, checkpointer)
  except KeyboardInterrupt as e:
    if isinstance(e, Interrupted):
      raise
    saved = None if checkpointer is None else checkpointer.saved_epoch
    where = None if checkpointer is None else str(checkpointer.directory)
    kept = (f"the checkpoint of epoch {saved} is kept in {where}; re-run the same command to "
            "resume from it" if saved is not None else
            "no checkpoint of this batch yet; finished records are kept and re-running the same "
            "command starts this batch again")
    raise Interrupted(f"interrupted in epoch {epoch} of {label}; {kept}", saved, where) from None
  if checkpointer is not None:
    checkpointer.delete_all() if jax.process_index() == 0 else checkpointer.close()
  sharding.sync_processes("records written")  # no process reads the folder before they exist
  progress.end_batch()


# --------------------------------------------------------------------------------------------
# Entry points.


def _progress(specs: list[RunSpec], mode: str, stream=None) -> progress_lib.Progress:
  """A progress display sized for every run and epoch of `specs`."""
  return progress_lib.Progress(sum(len(s.seeds) for s in specs),
                               sum(len(s.seeds) * s.num_epochs for s in specs),
                               mode=mode, stream=stream)


def execute(specs: list[RunSpec], *, config: Optional[dict] = None, progress=None,
            max_runs_per_batch: Optional[int] = None) -> list[GroupResult]:
  """Runs every pending (spec, seed) in batches; returns one GroupResult per spec, in order.

  `config` (the resolved config as a plain dict, optional) is stored in each record.
  `progress` is a `jaxbench.train.progress.Progress` (None: one from config['progress'],
  'none' without a config).
  """
  specs = list(specs)
  pending = {i: pending_seeds(spec) for i, spec in enumerate(specs)}
  datasets = load_datasets(specs, pending)
  if progress is None:
    progress = _progress(specs, (config or {}).get("progress", "auto" if config else "none"))
  for index, spec in enumerate(specs):
    if len(pending[index]) < len(spec.seeds):
      progress.skip(len(spec.seeds) - len(pending[index]), spec.num_epochs)
  for batch in plan(specs, pending, max_runs_per_batch):
    run_batch(batch, datasets[_dataset_key(batch.runs[0][0])], config, progress)
  return [GroupResult(spec, group_dir(spec), read_group(spec), skipped=not pending[i])
          for i, spec in enumerate(specs)]


def run_specs(specs: list[RunSpec], config: dict, progress_stream=None) -> list[GroupResult]:
  """The main command's entry point: `execute`, then the final per-seed and comparison tables."""
  progress = _progress(specs, config.get("progress", "auto"), stream=progress_stream)
  results = execute(specs, config=config, progress=progress)
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
