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
import tempfile
import time
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from etils import epath

PathLike = Any  # str | os.PathLike | epath.Path

# Keys DeepOBS 1.2 writes (SPEC section 7); ours are added, never renamed.
DEEPOBS_KEYS = (
    "testproblem", "batch_size", "num_epochs", "random_seed", "l2_reg", "optimizer_name",
    "optimizer_hyperparams", "training_params", "train_losses", "valid_losses", "test_losses",
    "minibatch_train_losses")
ACCURACY_KEYS = ("train_accuracies", "valid_accuracies", "test_accuracies")
# Keys that differ between two otherwise identical runs (wall clock); excluded when comparing.
TIMING_KEYS = ("epoch_wall_seconds", "compile_seconds", "wall_seconds", "finished_at")


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


def write_json_atomic(path: PathLike, content: Mapping[str, Any]) -> epath.Path:
  """Writes JSON so that a reader never sees a partial file, even if the writer dies midway.

  Local paths: a temporary file in the target folder, fsync, then os.replace (atomic on POSIX).
  Other epath backends: write a temporary sibling, then rename (as atomic as the backend allows;
  object stores publish objects whole anyway).
  """
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  text_fn = lambda f: json.dump(content, f, indent=2, allow_nan=False)
  if _is_local(path):
    fd, tmp_name = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp",
                                    dir=os.fspath(path.parent))
    try:
      with os.fdopen(fd, "w") as f:
        text_fn(f)
        f.flush()
        os.fsync(f.fileno())
      os.replace(tmp_name, os.fspath(path))
    except BaseException:
      if os.path.exists(tmp_name):
        os.unlink(tmp_name)
      raise
    return path
  tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
  try:
    tmp.write_text(json.dumps(content, indent=2, allow_nan=False))
    tmp.rename(path)
  except BaseException:
    if tmp.exists():
      tmp.unlink()
    raise
  return path


def _is_local(path: epath.Path) -> bool:
  return "://" not in os.fspath(path)


def write_record(root: PathLike, record: Mapping[str, Any], setting: str,
                 when: Optional[float] = None) -> epath.Path:
  """Writes a finished run's record unless one exists for its seed; returns the record's path."""
  directory = setting_dir(root, record["testproblem"], record["optimizer_name"], setting)
  found = existing_records(directory, record["random_seed"])
  if found:
    return found[0]
  return write_json_atomic(directory / record_filename(record["random_seed"], when), record)


def read_record(path: PathLike) -> dict:
  return json.loads(epath.Path(path).read_text())
