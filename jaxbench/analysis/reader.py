"""Reads trees of DeepOBS run records (ours and the published Crowded Valley ones) into pandas.

Layouts (SPEC section 7), relative to a root:

  <problem>/<optimizer>/<setting>/random_seed__<seed>__<time>.json                   (ours, DeepOBS)
  <budget>/<schedule>/<problem>/<optimizer>/<setting>/random_seed__<seed>__<time>.json (sweeps)
  results_main/<budget>/<schedule>/<problem>/<TFClass>/<setting>/...                  (published)

Folders above the problem are read as (budget, schedule) — the last two of them; keys `budget`,
`trial`, `role` and `schedule` in a record win over folders. A record without a budget counts as
'oneshot' (each setting is its own configuration). Quirks of the published records (SPEC
section 8) are absorbed here, so the analyses see one clean shape:
- TF class names become our registry names (MomentumOptimizer + use_nesterov -> nag,
  AdaBoundOptimizer + amsbound -> amsbound); `name_mapping` reports every mapping used.
- weight_decay or l2_reg; null lr_sched fields; use_locking dropped from hyperparameters.
- Runs whose lists repeat the epoch-0 values after some epoch diverged there (DeepOBS padded
  them); the padding is cut off (NaN) and the run is marked diverged.
- Consecutive duplicate minibatch losses are collapsed (DeepOBS logged some twice).
- DeepOBS 1.1 records (no validation set, hyperparameters at top level) are read with NaN
  validation metrics and listed as a data problem.
- quadratic_deep: the Hessian draw. Ours state it (config key `hessian_draw`, default 0); a
  published run is draw 0 when its epoch-0 test loss is 353.4468 (theta = 1, 896 test points),
  otherwise an unidentified later draw named by that loss. Column `instance` carries it, and
  every grouping includes it, so seeds are only ever compared on the same Hessian.
Malformed files are listed in `problems`, never raised; an empty root is a RecordError.
"""
from __future__ import annotations

import json
import math
import os
import re
from typing import Iterable, NamedTuple, Optional, Sequence, Union

import numpy as np
import pandas as pd

from jaxbench.errors import RecordError

PathLike = Union[str, os.PathLike]

# TF optimizer classes of the published study -> our registry names.
TF_CLASS_NAMES = {
    "GradientDescentOptimizer": "sgd", "MomentumOptimizer": "momentum", "NAGOptimizer": "nag",
    "AdamOptimizer": "adam", "AMSGrad": "amsgrad", "NadamOptimizer": "nadam",
    "RAdamOptimizer": "radam", "AdaBeliefOptimizer": "adabelief",
    "AdaBoundOptimizer": "adabound", "AMSBoundOptimizer": "amsbound",
    "AdadeltaOptimizer": "adadelta", "AdagradOptimizer": "adagrad",
    "RMSPropOptimizer": "rmsprop", "LookaheadOptimizerMBGDMomentum": "lookahead_momentum",
    "LookaheadOptimizerRAdam": "lookahead_radam",
}
# Published schedule folders -> our schedule names.
SCHEDULE_FOLDERS = {"none": "constant", "ltr": "trapezoidal", "cosine": "cosine",
                    "cosine_wr": "cosine_wr"}
ONESHOT = "oneshot"
BUDGET_TRIALS = {"oneshot": 0, "small_budget": 25, "medium_budget": 50, "large_budget": 75}
# jaxbench sweep records name budgets by size ('small'); the folders say 'small_budget'.
BUDGET_KEYS = {"small": "small_budget", "medium": "medium_budget", "large": "large_budget"}
# A sweep's run store, <root>/runs/, holds the same records as its budget views: read the views.
RUN_STORE = "runs"
# quadratic_deep's defined Hessian (draw 0): epoch-0 test loss over DeepOBS's 896 test points.
CANONICAL_QUADRATIC_LOSS0 = 353.4468
_DROPPED_HYPERPARAMS = ("use_locking", "use_nesterov", "amsbound")
_FILE = re.compile(r"random_seed__(-?\d+)__(.+)\.json$")
_METRICS = ("train_losses", "valid_losses", "test_losses",
            "train_accuracies", "valid_accuracies", "test_accuracies")
FINAL_COLUMNS = {k: "final_" + k.replace("losses", "loss").replace("accuracies", "accuracy")
                 for k in _METRICS}
_V11_TOP_LEVEL = {"train_losses", "test_losses", "minibatch_train_losses", "train_accuracies",
                  "test_accuracies", "testproblem", "optimizer", "optimizer_name", "batch_size",
                  "num_epochs", "random_seed", "weight_decay", "l2_reg", "lr_sched_epochs",
                  "lr_sched_factors", "train_log_interval", "print_train_iter", "tf_logging",
                  "no_logs", "data_dir", "output_dir", "training_params",
                  "analyzable_training_params"}


class Tree(NamedTuple):
  """Everything read from one or more roots."""
  runs: pd.DataFrame          # one row per run
  epochs: pd.DataFrame        # one row per run and evaluation epoch (0 .. num_epochs)
  problems: pd.DataFrame      # files skipped or read with a caveat: path, problem
  name_mapping: pd.DataFrame  # optimizer folder/class -> registry name, with counts


def optimizer_name(name: str, hyperparams: dict) -> tuple[str, str]:
  """Our registry name for a record's optimizer, and how it was found ('' if already ours)."""
  if name == "MomentumOptimizer" and hyperparams.get("use_nesterov"):
    return "nag", "MomentumOptimizer with use_nesterov=True"
  if name == "AdaBoundOptimizer" and hyperparams.get("amsbound"):
    return "amsbound", "AdaBoundOptimizer with amsbound=True"
  if name in TF_CLASS_NAMES:
    return TF_CLASS_NAMES[name], "TF class name"
  return name, ""


def hessian_instance(problem: str, loss0: float, config: Optional[dict]) -> str:
  """Which instance of a problem a run used ('' where problems have one instance)."""
  if problem != "quadratic_deep":
    return ""
  if isinstance(config, dict):
    draw = config.get("hessian_draw", (config.get("problem_params") or {}).get("hessian_draw", 0))
    return f"draw {int(draw or 0)}"
  if loss0 is not None and math.isfinite(loss0) and abs(loss0 - CANONICAL_QUADRATIC_LOSS0) < 5e-3:
    return "draw 0"
  return f"other draw (epoch-0 test loss {loss0:.2f})"


def _padding_start(values: np.ndarray) -> Optional[int]:
  """First epoch e > 0 from which every entry repeats the epoch-0 value (DeepOBS's padding)."""
  if len(values) < 2 or not np.isfinite(values[0]):
    return None
  same = values[1:] == values[0]
  if not same[-1]:
    return None
  # the trailing run of True in `same`
  last_different = np.flatnonzero(~same)
  return int(last_different[-1]) + 2 if last_different.size else 1


def _first_nonfinite(values: np.ndarray) -> Optional[int]:
  bad = np.flatnonzero(~np.isfinite(values))
  return int(bad[0]) if bad.size else None


def _dedupe(values: list) -> tuple[np.ndarray, int]:
  array = _as_floats(values)
  if array.size < 2:
    return array, 0
  keep = np.concatenate([[True], array[1:] != array[:-1]])
  return array[keep], int(array.size - keep.sum())


def _split_layout(parts: Sequence[str]) -> dict:
  """Folder parts above <problem>/<optimizer>/<setting>/<file> -> budget and schedule."""
  above = list(parts[:-4])
  budget, schedule = None, None
  if len(above) >= 2:
    budget, schedule = above[-2], above[-1]
  elif len(above) == 1:
    budget = above[0] if above[0] in BUDGET_TRIALS else None
  return {"budget": budget, "schedule_folder": schedule}


def _as_floats(values) -> np.ndarray:
  """A JSON list -> float array; None (our diverged entries) -> NaN."""
  if not isinstance(values, list):
    raise ValueError(f"expected a list, got {type(values).__name__}")
  return np.array(values, dtype=float)


def _parse(record: dict, parts: Sequence[str]) -> tuple[dict, dict, list[str]]:
  """One record -> (run row, per-epoch lists, caveats). Raises ValueError if unusable."""
  notes = []
  if not isinstance(record, dict):
    raise ValueError("not a JSON object")
  version = "1.2"
  if "optimizer_hyperparams" not in record and "valid_losses" not in record:
    version = "1.1"
    hyperparams = {k: v for k, v in record.items()
                   if k not in _V11_TOP_LEVEL and not isinstance(v, (list, dict))}
    notes.append("DeepOBS 1.1 record: no validation set (valid metrics NaN), hyperparameters "
                 "read from top-level keys")
  else:
    hyperparams = dict(record.get("optimizer_hyperparams") or {})
  for key in ("testproblem", "num_epochs", "random_seed", "test_losses"):
    if key not in record:
      raise ValueError(f"missing key {key!r}")
  folder_optimizer = record.get("optimizer_name") or record.get("optimizer") or parts[-3]
  name, how = optimizer_name(str(folder_optimizer), hyperparams)
  clean_hps = {k: v for k, v in hyperparams.items() if k not in _DROPPED_HYPERPARAMS}
  num_epochs = int(record["num_epochs"])
  lists = {k: _as_floats(record[k]) for k in _METRICS if record.get(k) is not None}
  for key, values in lists.items():
    if len(values) != num_epochs + 1:
      raise ValueError(f"{key} has {len(values)} entries, num_epochs + 1 = {num_epochs + 1}")
  test0 = float(lists["test_losses"][0])
  diverged_epoch = record.get("diverged_epoch")
  status = record.get("status") or "finished"
  # Only records without our own `status` (DeepOBS's, the published ones) are judged by the
  # padding: a run that truly never moves (Lookahead's TF1 wrapper with k = 1 syncs on every
  # call) repeats its epoch-0 values too, and its record says it finished.
  padded = None if "status" in record else _padding_start(lists["test_losses"])
  if padded is not None and status != "diverged":
    status, diverged_epoch = "diverged", padded
    notes.append(f"diverged at epoch {padded}: lists padded with epoch-0 values (cut off)")
  nonfinite = min([e for e in (_first_nonfinite(v) for v in lists.values()) if e is not None],
                  default=None)
  if nonfinite is not None and status != "diverged":
    status, diverged_epoch = "diverged", nonfinite
  if status == "diverged" and diverged_epoch is not None:
    for key in lists:
      lists[key] = lists[key].copy()
      lists[key][int(diverged_epoch):] = np.nan
  minibatch, duplicates = _dedupe(list(record.get("minibatch_train_losses") or []))
  if duplicates:
    notes.append(f"{duplicates} duplicated minibatch losses collapsed")
  layout = _split_layout(parts)
  schedule = record.get("schedule")
  schedule = schedule.get("name") if isinstance(schedule, dict) else schedule
  if not schedule:
    schedule = SCHEDULE_FOLDERS.get(layout["schedule_folder"], layout["schedule_folder"])
  training = record.get("training_params") or {}
  config = record.get("config") if isinstance(record.get("config"), dict) else None
  weight_decay = record.get("l2_reg", record.get("weight_decay"))
  classification = "test_accuracies" in lists
  final = {k: float(lists[k][-1]) if k in lists else np.nan for k in _METRICS}
  seed = int(record["random_seed"])
  epoch_wall = record.get("epoch_wall_seconds")
  row = {
      "problem": str(record["testproblem"]), "optimizer": name,
      "optimizer_folder": str(folder_optimizer), "name_mapping": how,
      "budget": BUDGET_KEYS.get(record.get("budget"), record.get("budget"))
                or layout["budget"] or ONESHOT,
      "schedule": schedule or "constant", "setting": parts[-2], "seed": seed,
      "trial": record.get("trial"), "role": record.get("role"),
      "selected": record.get("selected"),
      "num_epochs": num_epochs, "batch_size": record.get("batch_size"),
      "weight_decay": weight_decay, "hyperparams": clean_hps,
      "lr_sched_epochs": list(training.get("lr_sched_epochs") or []),
      "lr_sched_factors": list(training.get("lr_sched_factors") or []),
      "status": status, "diverged": status == "diverged",
      "diverged_epoch": None if diverged_epoch is None else int(diverged_epoch),
      "metric": "accuracy" if classification else "loss",
      "higher_is_better": classification,
      "instance": hessian_instance(str(record["testproblem"]), test0, config),
      "epoch0_test_loss": test0,
      "wall_seconds": record.get("wall_seconds"),
      "format": "jaxbench" if "jaxbench_version" in record else f"deepobs {version}",
      "num_minibatch_losses": len(minibatch), "duplicated_minibatch_losses": duplicates,
      "stamp": _FILE.search(parts[-1]).group(2) if _FILE.search(parts[-1]) else "",
  }
  for key in _METRICS:
    row[FINAL_COLUMNS[key]] = final[key]
  kind = "accuracy" if classification else "loss"
  row["final_test"] = row[f"final_test_{kind}"]
  row["final_valid"] = row.get(f"final_valid_{kind}", np.nan)
  per_epoch = dict(lists)
  per_epoch["epoch_wall_seconds"] = (np.array([0.0] + epoch_wall, dtype=float)
                                     if isinstance(epoch_wall, list)
                                     and len(epoch_wall) == num_epochs else None)
  return row, per_epoch, notes


def _json_files(root: str) -> Iterable[tuple[str, list[str]]]:
  views = any(os.path.isdir(os.path.join(root, b)) for b in BUDGET_TRIALS)
  for directory, subdirs, files in os.walk(root):
    subdirs.sort()
    if directory == root and views and RUN_STORE in subdirs:
      subdirs.remove(RUN_STORE)
    for name in sorted(files):
      if name.endswith(".json") and name.startswith("random_seed__"):
        path = os.path.join(directory, name)
        yield path, os.path.relpath(path, root).split(os.sep)


def read_tree(roots: Union[PathLike, Sequence[PathLike]], source: Optional[str] = None) -> Tree:
  """Reads every record under `roots`; `source` labels the rows (default: the root path)."""
  roots = [roots] if isinstance(roots, (str, os.PathLike)) else list(roots)
  rows, epoch_lists, problems = [], [], []
  for root in roots:
    root = os.fspath(root)
    if not os.path.isdir(root):
      raise RecordError(f"results root {root!r} is not a folder")
    label = source or root
    count = 0
    for path, parts in _json_files(root):
      count += 1
      if len(parts) < 4:
        problems.append({"path": path, "problem": "not in <problem>/<optimizer>/<setting>/ "
                         "layout; skipped"})
        continue
      try:
        with open(path, "rb") as f:
          record = json.loads(f.read())
        row, per_epoch, notes = _parse(record, parts)
      except (ValueError, TypeError, KeyError, AttributeError) as error:
        problems.append({"path": path, "problem": f"unreadable record, skipped: {error}"})
        continue
      row.update(source=label, path=path, run_id=len(rows))
      rows.append(row)
      epoch_lists.append(per_epoch)
      problems += [{"path": path, "problem": note} for note in notes
                   if not note.endswith("collapsed")]
    if count == 0:
      raise RecordError(f"no run records (random_seed__*.json) under {root!r}; point "
                        f"--results at a folder that jaxbench or DeepOBS wrote")
  runs = pd.DataFrame(rows)
  if runs.empty:
    raise RecordError(f"no readable run records under {', '.join(map(str, roots))}; "
                      f"{len(problems)} file(s) skipped (see the data problems)")
  runs = _fill_trials(runs)
  return Tree(runs, _epoch_frame(runs, epoch_lists),
              pd.DataFrame(problems, columns=["path", "problem"]), _mapping(runs))


def _fill_trials(runs: pd.DataFrame) -> pd.DataFrame:
  """Search trials without a `trial` key: seed-42 runs of a tuned budget, in time order."""
  runs = runs.copy()
  tuned = runs["budget"] != ONESHOT
  missing = runs["trial"].isna() & tuned & (runs["seed"] == 42)
  keys = ["source", "problem", "instance", "optimizer", "schedule", "budget"]
  order = runs[missing].sort_values("stamp").groupby(keys, sort=False).cumcount()
  runs.loc[order.index, "trial"] = order.values
  runs["trial"] = runs["trial"].astype("Int64")
  return runs


def _epoch_frame(runs: pd.DataFrame, epoch_lists: list[dict]) -> pd.DataFrame:
  lengths = np.array([n + 1 for n in runs["num_epochs"]])
  frame = {"run_id": np.repeat(runs["run_id"].to_numpy(), lengths),
           "epoch": np.concatenate([np.arange(n) for n in lengths])}
  for key in _METRICS + ("epoch_wall_seconds",):
    frame[key] = np.concatenate([
        lists[key] if lists.get(key) is not None else np.full(n, np.nan)
        for lists, n in zip(epoch_lists, lengths)])
  epochs = pd.DataFrame(frame)
  epochs["wall_seconds"] = epochs.groupby("run_id")["epoch_wall_seconds"].cumsum()
  return epochs.merge(runs[["run_id", "source", "problem", "instance", "optimizer", "budget",
                            "schedule", "setting", "seed", "metric"]], on="run_id")


def _mapping(runs: pd.DataFrame) -> pd.DataFrame:
  mapped = runs[runs["name_mapping"] != ""]
  if mapped.empty:
    return pd.DataFrame(columns=["optimizer_folder", "how", "optimizer", "runs"])
  return (mapped.groupby(["optimizer_folder", "name_mapping", "optimizer"]).size()
          .rename("runs").reset_index().rename(columns={"name_mapping": "how"}))


def load_runs(roots: Union[PathLike, Sequence[PathLike]], source: Optional[str] = None
              ) -> pd.DataFrame:
  """One row per run: identity, hyperparameters, status and final metrics (see `read_tree`)."""
  return read_tree(roots, source).runs


def load_epochs(roots: Union[PathLike, Sequence[PathLike]], source: Optional[str] = None
                ) -> pd.DataFrame:
  """One row per run and epoch: train/valid/test losses and accuracies, cumulative seconds."""
  return read_tree(roots, source).epochs
