"""DeepOBS 1.2 run records: one JSON file per run (SPEC section 7).

The layout is DeepOBS's, so that its analysis tooling and the published Crowded Valley results can
be read side by side with ours:

  <root>/<testproblem>/<optimizer_name>/<setting>/random_seed__<seed>__<YYYY-MM-DD-HH-MM-SS>.json

with setting = num_epochs__<N>__batch_size__<B>__<hp>__<value>__... (hyperparameters in
alphabetical order; floats via `float2str`, everything else via `str`, exactly as DeepOBS's
`Runner._add_hyperparams_to_output_dir_name`). Non-None training parameters that distinguish
runs (our schedule name) are appended after the hyperparameters, also sorted, as DeepOBS does for
its `training_params`.

Records are written atomically (temporary file in the same folder, then rename) and never
rewritten: an existing `random_seed__<seed>__*.json` in a setting's folder means that run is done.
The root is a local path or anything `etils.epath` opens (e.g. gs://...).
"""
from __future__ import annotations

import json
import math
import os
import time
import uuid
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from etils import epath

from jaxbench.errors import RecordError

PathLike = Any  # str | os.PathLike | epath.Path

# Keys DeepOBS 1.2 writes (SPEC section 7); ours are added, never renamed.
DEEPOBS_KEYS = (
    "testproblem", "batch_size", "num_epochs", "random_seed", "l2_reg", "optimizer_name",
    "optimizer_hyperparams", "training_params", "train_losses", "valid_losses", "test_losses",
    "minibatch_train_losses")
ACCURACY_KEYS = ("train_accuracies", "valid_accuracies", "test_accuracies")
# Keys that differ between two otherwise identical runs (wall clock); excluded when comparing.
TIMING_KEYS = ("epoch_wall_seconds", "compile_seconds", "wall_seconds", "finished_at")
TEMP_SUFFIX = ".tmp"
CORRUPT_SUFFIX = ".corrupt"
PER_EPOCH_KEYS = ("train_losses", "valid_losses", "test_losses")


def float2str(value: float) -> str:
  """DeepOBS's float formatting: '%.10e' with trailing mantissa zeros removed (0.9 -> '9.e-01')."""
  mantissa, exponent = f"{value:.10e}".split("e")
  return mantissa.rstrip("0") + "e" + exponent


def format_value(value: Any) -> str:
  """One hyperparameter value as DeepOBS spells it in a folder name.

  Python floats (and numpy floating scalars, which DeepOBS never saw but we pass around) use
  `float2str`; ints, bools, None and strings use `str`, as DeepOBS does (True -> 'True').
  """
  if isinstance(value, (float, np.floating)):
    return float2str(float(value))
  if isinstance(value, np.integer):
    return str(int(value))
  if isinstance(value, np.bool_):
    return str(bool(value))
  return str(value)


def setting_name(num_epochs: int, batch_size: int, hyperparams: Mapping[str, Any],
                 training_params: Optional[Mapping[str, Any]] = None) -> str:
  """The setting folder: num_epochs__N__batch_size__B__<hp>__<v>__... (hps sorted)."""
  name = f"num_epochs__{int(num_epochs)}__batch_size__{int(batch_size)}"
  for hp_name, value in sorted(hyperparams.items()):
    name += f"__{hp_name}__{format_value(value)}"
  for tp_name, value in sorted((training_params or {}).items()):
    if value is not None:
      name += f"__{tp_name}__{format_value(value)}"
  return name


def setting_dir(root: PathLike, testproblem: str, optimizer_name: str, setting: str) -> epath.Path:
  return epath.Path(root) / testproblem / optimizer_name / setting


def record_filename(random_seed: int, when: Optional[float] = None) -> str:
  """random_seed__<seed>__<YYYY-MM-DD-HH-MM-SS>.json, local time as DeepOBS's time.strftime."""
  stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.localtime(when))
  return f"random_seed__{int(random_seed)}__{stamp}.json"


def existing_records(directory: PathLike, random_seed: int) -> list[epath.Path]:
  """Finished records of one seed in one setting folder (empty if none: the run is not done)."""
  directory = epath.Path(directory)
  if not directory.exists():
    return []
  return sorted(directory.glob(f"random_seed__{int(random_seed)}__*.json"))


def _jsonable(value: Any) -> Any:
  """Converts numpy/jax scalars and arrays to JSON types; non-finite floats become None.

  Strict JSON has no NaN/Infinity; DeepOBS wrote Python's NaN tokens, which many readers reject.
  Diverged runs carry their own status/diverged_epoch keys, so nothing is lost.
  """
  if isinstance(value, Mapping):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_jsonable(v) for v in value]
  if isinstance(value, np.ndarray) or hasattr(value, "__array__") and not isinstance(value, str):
    array = np.asarray(value)
    if array.ndim == 0:
      return _jsonable(array.item())
    return [_jsonable(v) for v in array.tolist()]
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if isinstance(value, (int, np.integer)):
    return int(value)
  if isinstance(value, (float, np.floating)):
    value = float(value)
    return value if math.isfinite(value) else None
  return value


def build_record(
    *,
    testproblem: str,
    batch_size: int,
    num_epochs: int,
    random_seed: int,
    l2_reg: Optional[float],
    optimizer_name: str,
    optimizer_hyperparams: Mapping[str, Any],
    training_params: Mapping[str, Any],
    metrics: Mapping[str, Sequence[float]],
    minibatch_train_losses: Sequence[float],
    extra: Optional[Mapping[str, Any]] = None,
) -> dict:
  """Assembles one run's record and checks the per-epoch list lengths.

  `metrics` holds the engine's per-epoch evaluations (num_epochs + 1 each) under the engine's
  names: train_eval_loss, valid_loss, test_loss and, for classification, *_accuracy. DeepOBS calls
  the train_eval numbers "train_losses"/"train_accuracies".
  """
  mapping = {"train_losses": "train_eval_loss", "valid_losses": "valid_loss",
             "test_losses": "test_loss"}
  if "test_accuracy" in metrics:
    mapping.update(train_accuracies="train_eval_accuracy", valid_accuracies="valid_accuracy",
                   test_accuracies="test_accuracy")
  record: dict[str, Any] = {
      "testproblem": testproblem,
      "batch_size": int(batch_size),
      "num_epochs": int(num_epochs),
      "random_seed": int(random_seed),
      "l2_reg": l2_reg,
      "optimizer_name": optimizer_name,
      "optimizer_hyperparams": dict(optimizer_hyperparams),
      "training_params": dict(training_params),
  }
  for key, source in mapping.items():
    if source not in metrics:
      raise KeyError(f"metric {source!r} missing for record key {key!r}; have {sorted(metrics)}")
    values = list(metrics[source])
    if len(values) != num_epochs + 1:
      raise ValueError(f"{key} has {len(values)} entries; a record needs num_epochs + 1 = "
                       f"{num_epochs + 1} (epoch 0 and after every epoch)")
    record[key] = values
  record["minibatch_train_losses"] = list(minibatch_train_losses)
  for key, value in (extra or {}).items():
    if key in record:
      raise ValueError(f"extra key {key!r} would overwrite a DeepOBS key")
    record[key] = value
  return _jsonable(record)


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def _write_temp(path: epath.Path, content: Mapping[str, Any]) -> epath.Path:
  """Writes `content` as JSON to a temporary sibling of `path` (durable: fsynced where local)."""
  path.parent.mkdir(parents=True, exist_ok=True)
  text = json.dumps(content, indent=2, allow_nan=False)
  tmp = epath.Path(os.path.join(os.fspath(path.parent),
                                f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TEMP_SUFFIX}"))
  try:
    if _is_local(path):
      fd = os.open(os.fspath(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_umask())
      with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    else:
      tmp.write_text(text)
  except BaseException:
    if tmp.exists():
      tmp.unlink()
    raise
  return tmp


def _discard(moves: Sequence[tuple[epath.Path, epath.Path]]) -> None:
  """Deletes the temporary files of `moves` that still exist (not yet renamed)."""
  for tmp, _ in moves:
    if tmp.exists():
      tmp.unlink()


def _publish(moves: Sequence[tuple[epath.Path, epath.Path]]) -> None:
  """Renames every prepared temporary file to its target (os.replace: atomic on POSIX); on an
  error, the temporary files not yet renamed are deleted."""
  try:
    for tmp, path in moves:
      if _is_local(path):
        os.replace(os.fspath(tmp), os.fspath(path))
      else:
        tmp.rename(path)
  except BaseException:
    _discard(moves)
    raise


def write_json_atomic(path: PathLike, content: Mapping[str, Any]) -> epath.Path:
  """Writes JSON so that a reader never sees a partial file, even if the writer dies midway.

  Local paths: a temporary file `.<name>.<pid>.<random>.tmp` in the target folder, created with
  the umask's mode (0644 under umask 022, like any file the user writes; `tempfile.mkstemp`
  would give 0600), fsync, then os.replace (atomic on POSIX). A kill between the two leaves only
  the dot-file, which `remove_temp_files` deletes on the next launch.
  Other epath backends: write a temporary sibling, then rename (as atomic as the backend allows;
  object stores publish objects whole anyway).
  """
  path = epath.Path(path)
  _publish([(_write_temp(path, content), path)])
  return path


def remove_temp_files(directory: PathLike) -> list[epath.Path]:
  """Deletes the temporary files of interrupted record writes in one setting folder."""
  directory = epath.Path(directory)
  if not directory.exists():
    return []
  found = [p for p in directory.glob(f".random_seed__*{TEMP_SUFFIX}")]
  for path in found:
    path.unlink()
  return found


def _is_local(path: epath.Path) -> bool:
  return "://" not in os.fspath(path)


def write_record(root: PathLike, record: Mapping[str, Any], setting: str,
                 when: Optional[float] = None) -> epath.Path:
  """Writes a finished run's record unless one exists for its seed; returns the record's path."""
  return write_records([(root, record, setting)], when)[0]


def write_records(items: Sequence[tuple[PathLike, Mapping[str, Any], str]],
                  when: Optional[float] = None) -> list[epath.Path]:
  """Writes the records of runs trained together, each (root, record, setting) unless its seed
  has one already; returns their paths in order.

  All of them are written to temporary files (fsynced) first and only then renamed into place,
  so a writer killed midway leaves none or all of the batch (short of a kill inside the few
  renames): a resumed launch trains the missing runs in the same batch composition as an
  uninterrupted one, and vmapped XLA programs give bit-identical numbers only for the same
  composition (a run axis of 1 and of R may order a reduction differently).
  """
  paths: list[epath.Path] = []
  prepared: list[tuple[epath.Path, epath.Path]] = []
  try:
    for root, record, setting in items:
      directory = setting_dir(root, record["testproblem"], record["optimizer_name"], setting)
      found = existing_records(directory, record["random_seed"])
      if found:
        paths.append(found[0])
        continue
      path = directory / record_filename(record["random_seed"], when)
      prepared.append((_write_temp(path, record), path))
      paths.append(path)
  except BaseException:
    _discard(prepared)
    raise
  _publish(prepared)
  return paths


def read_record(path: PathLike) -> dict:
  """A record, checked: readable JSON with DeepOBS's keys and num_epochs + 1 entries per metric.

  Raises RecordError naming the file otherwise (an empty or truncated file, a foreign JSON).
  """
  path = epath.Path(path)
  try:
    record = json.loads(path.read_text())
  except (OSError, UnicodeDecodeError, ValueError) as e:
    raise RecordError(f"record {path} is unreadable ({type(e).__name__}: {e})") from None
  problem = check_record(record)
  if problem:
    raise RecordError(f"record {path} is not a run record: {problem}")
  return record


def check_record(record: Any) -> Optional[str]:
  """What is wrong with a parsed record, or None if it has the shape SPEC section 7 gives."""
  if not isinstance(record, dict):
    return f"expected a JSON object, found {type(record).__name__}"
  missing = [k for k in DEEPOBS_KEYS if k not in record]
  if missing:
    return f"missing keys {missing}"
  num_epochs = record["num_epochs"]
  if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
    return f"num_epochs={num_epochs!r} is not a positive integer"
  for key in PER_EPOCH_KEYS + tuple(k for k in ACCURACY_KEYS if k in record):
    values = record[key]
    if not isinstance(values, list) or len(values) != num_epochs + 1:
      return f"{key} needs num_epochs + 1 = {num_epochs + 1} entries"
    if any(v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)))
           for v in values):
      return f"{key} holds non-numbers"
  return None


def set_aside(path: PathLike) -> epath.Path:
  """Renames a bad record to `<name>.corrupt` (no longer `*.json`, so neither we nor DeepOBS's
  analyzer read it again) and returns the new path."""
  path = epath.Path(path)
  target = path.with_suffix(CORRUPT_SUFFIX)
  index = 1
  while target.exists():
    target = path.with_suffix(f".{index}{CORRUPT_SUFFIX}")
    index += 1
  path.rename(target)
  return target


def deepobs_divergence_fill(metrics: Mapping[str, Sequence[float]],
                            minibatch_losses: Sequence[float], diverged_epoch: Optional[int]
                            ) -> tuple[dict, list]:
  """A diverged run's lists as DeepOBS's runners write them (`Runner._abort_routine`).

  DeepOBS evaluates, trains an epoch, and on a non-finite loss fills every remaining epoch with
  the epoch-0 values: with training epoch e (0-based) diverged, entries 0..e are real and entries
  e+1..num_epochs repeat entry 0. Its analyzer averages these lists, so they must be numbers,
  and the fill makes a diverged run score as its untrained start, never as the best. The logged
  mini-batch losses that are not finite are replaced by the first one, likewise.
  """
  if diverged_epoch is None:
    return {k: list(v) for k, v in metrics.items()}, list(minibatch_losses)
  filled = {}
  for name, values in metrics.items():
    values = list(values)
    filled[name] = values[:diverged_epoch + 1] + [values[0]] * (len(values) - diverged_epoch - 1)
  first = minibatch_losses[0] if len(minibatch_losses) else None
  minibatch = [v if v is not None and math.isfinite(v) else first for v in minibatch_losses]
  return filled, minibatch
