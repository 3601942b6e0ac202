"""The reader: every published-record quirk (SPEC section 8), malformed and DeepOBS 1.1 records."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from jaxbench.analysis import load_epochs, load_runs, read_tree
from jaxbench.analysis.synthetic import write_run
from jaxbench.errors import RecordError

PUBLISHED = os.path.join(os.path.dirname(__file__), "data", "published")


def _write(path, record):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(record, f)


def _record(**changes):
  record = {"testproblem": "p", "batch_size": 8, "num_epochs": 3, "random_seed": 42,
            "l2_reg": None, "optimizer_name": "AdamOptimizer",
            "optimizer_hyperparams": {"learning_rate": 0.001, "use_locking": False},
            "training_params": {"lr_sched_epochs": None, "lr_sched_factors": None},
            "train_losses": [5.0, 3.0, 2.0, 1.0], "valid_losses": [5.0, 3.0, 2.0, 1.0],
            "test_losses": [5.0, 3.0, 2.0, 1.0], "minibatch_train_losses": [4.0, 4.0, 3.0]}
  record.update(changes)
  return record


def test_published_records_names_hessian_draws_and_duplicates():
  tree = read_tree(PUBLISHED)
  runs = tree.runs.set_index("optimizer")
  assert set(runs.index) == {"sgd", "adam"}
  assert set(runs["budget"]) == {"oneshot"} and set(runs["schedule"]) == {"constant"}
  # SPEC section 8: 353.4468 is draw 0; the Adam run's 347.36 is a later draw.
  assert runs.loc["sgd", "instance"] == "draw 0"
  assert runs.loc["adam", "instance"].startswith("other draw") and "347.36" in \
      runs.loc["adam", "instance"]
  # Every minibatch loss is logged twice in these files: 200 entries -> 100.
  assert list(runs["duplicated_minibatch_losses"]) == [100, 100]
  assert runs.loc["sgd", "final_test"] == pytest.approx(87.29810115269252)
  assert "use_locking" not in runs.loc["adam", "hyperparams"]
  assert set(tree.name_mapping["optimizer_folder"]) == {"AdamOptimizer",
                                                        "GradientDescentOptimizer"}
  assert len(load_epochs(PUBLISHED)) == 2 * 101


def test_nag_amsbound_weight_decay_null_schedule(tmp_path):
  base = tmp_path / "p"
  _write(str(base / "MomentumOptimizer" / "s1" / "random_seed__42__x.json"),
         _record(optimizer_name="MomentumOptimizer",
                 optimizer_hyperparams={"learning_rate": 0.01, "momentum": 0.99,
                                        "use_nesterov": True}))
  _write(str(base / "AdaBoundOptimizer" / "s2" / "random_seed__42__x.json"),
         _record(optimizer_name="AdaBoundOptimizer", l2_reg=None, weight_decay=0.002,
                 optimizer_hyperparams={"learning_rate": 0.001, "amsbound": True}))
  _write(str(base / "MomentumOptimizer" / "s3" / "random_seed__42__x.json"),
         _record(optimizer_name="MomentumOptimizer",
                 optimizer_hyperparams={"learning_rate": 0.01, "use_nesterov": False}))
  tree = read_tree(str(tmp_path))
  runs = tree.runs.set_index("setting")
  assert runs.loc["s1", "optimizer"] == "nag" and runs.loc["s3", "optimizer"] == "momentum"
  assert runs.loc["s2", "optimizer"] == "amsbound"
  # l2_reg is null there, weight_decay says 0.002: DeepOBS wrote one or the other.
  assert runs.loc["s2", "weight_decay"] in (None, 0.002)
  assert runs.loc["s1", "lr_sched_epochs"] == [] and runs.loc["s1", "lr_sched_factors"] == []
  how = set(tree.name_mapping["how"])
  assert "MomentumOptimizer with use_nesterov=True" in how
  assert "AdaBoundOptimizer with amsbound=True" in how


def test_weight_decay_key_alone(tmp_path):
  record = _record()
  del record["l2_reg"]
  record["weight_decay"] = 0.002
  _write(str(tmp_path / "p" / "AdamOptimizer" / "s" / "random_seed__42__x.json"), record)
  assert load_runs(str(tmp_path))["weight_decay"].iloc[0] == 0.002


def test_diverged_padding_cut_off_and_marked(tmp_path):
  # After epoch 1 DeepOBS repeated the epoch-0 values: diverged at epoch 2.
  _write(str(tmp_path / "p" / "AdamOptimizer" / "s" / "random_seed__42__x.json"),
         _record(test_losses=[5.0, 3.0, 5.0, 5.0], train_losses=[5.0, 3.0, 5.0, 5.0],
                 valid_losses=[5.0, 3.0, 5.0, 5.0]))
  tree = read_tree(str(tmp_path))
  run = tree.runs.iloc[0]
  assert run["diverged"] and run["diverged_epoch"] == 2 and math.isnan(run["final_test"])
  assert list(tree.epochs["test_losses"][:2]) == [5.0, 3.0]
  assert np.isnan(tree.epochs["test_losses"][2:]).all()
  assert any("diverged at epoch 2" in p for p in tree.problems["problem"])


def test_our_diverged_records_and_sweep_keys(tmp_path):
  write_run(str(tmp_path), "p", "adam", 42, [5.0, None, None],
            extra={"status": "diverged", "diverged_epoch": 1, "budget": "small_budget",
                   "trial": 7, "role": "search", "schedule": {"name": "cosine", "params": {}}})
  run = load_runs(str(tmp_path)).iloc[0]
  assert run["diverged"] and run["diverged_epoch"] == 1
  assert (run["budget"], run["trial"], run["role"], run["schedule"]) == (
      "small_budget", 7, "search", "cosine")
  assert run["format"] == "jaxbench"


def test_malformed_and_deepobs_11_records_listed_not_raised(tmp_path):
  folder = tmp_path / "p" / "AdamOptimizer" / "s"
  os.makedirs(folder)
  (folder / "random_seed__41__x.json").write_text("{not json")
  _write(str(folder / "random_seed__43__x.json"), _record(test_losses=[1.0, 2.0]))  # too short
  _write(str(folder / "random_seed__44__x.json"), _record(random_seed=44))
  v11 = {"testproblem": "p", "batch_size": 8, "num_epochs": 1, "random_seed": 45,
         "weight_decay": None, "optimizer": "AdamOptimizer", "learning_rate": 0.01,
         "beta1": 0.9, "train_losses": [2.0, 1.0], "test_losses": [2.0, 1.5],
         "minibatch_train_losses": [1.0]}
  _write(str(folder / "random_seed__45__x.json"), v11)
  tree = read_tree(str(tmp_path))
  assert sorted(tree.runs["seed"]) == [44, 45]
  old = tree.runs.set_index("seed").loc[45]
  assert old["format"] == "deepobs 1.1" and old["hyperparams"] == {"learning_rate": 0.01,
                                                                   "beta1": 0.9}
  assert math.isnan(old["final_valid"]) and old["final_test"] == 1.5
  problems = " | ".join(tree.problems["problem"])
  assert "unreadable record" in problems and "test_losses has 2 entries" in problems
  assert "DeepOBS 1.1 record" in problems


def test_empty_and_missing_roots_are_clear_errors(tmp_path):
  with pytest.raises(RecordError, match="no run records"):
    read_tree(str(tmp_path))
  with pytest.raises(RecordError, match="is not a folder"):
    read_tree(str(tmp_path / "nowhere"))


def test_sweep_views_budget_keys_selected_flag_and_run_store_skipped(tmp_path):
  """`jaxbench sweep` output: <root>/runs/ (the store) and per-budget views with keys budget
  ('small'), role ('trial' | 'rerun'), trial and selected; the store is not read twice."""
  root = str(tmp_path)
  view = dict(budget="small_budget", schedule="none")
  for trial, (lr, final, chosen) in enumerate(((0.1, 0.5, False), (0.01, 0.2, True))):
    write_run(root, "p", "adam", 42, [1.0, final], hyperparams={"learning_rate": lr},
              extra={"budget": "small", "role": "trial", "trial": trial, "selected": chosen},
              **view)
  write_run(root, "p", "adam", 43, [1.0, 0.4], hyperparams={"learning_rate": 0.01},
            extra={"budget": "small", "role": "rerun", "trial": 1, "selected": True}, **view)
  write_run(os.path.join(root, "runs"), "p", "adam", 42, [1.0, 0.5],
            hyperparams={"learning_rate": 0.1})
  from jaxbench.analysis import stats
  runs = load_runs(root)
  assert len(runs) == 3 and set(runs["budget"]) == {"small_budget"}
  table = stats.final_table(stats.selected(runs))
  assert table["seeds"].tolist() == [2] and table["mean"].tolist() == pytest.approx([0.3])
  curves = stats.best_so_far(runs)
  assert curves["best_valid"].tolist() == pytest.approx([0.5, 0.2])   # re-runs not trials


def test_our_finished_run_that_never_moves_is_not_taken_for_padding(tmp_path):
  """Lookahead's TF1 wrapper with k = 1 syncs on every call, so its parameters never move and
  every epoch repeats epoch 0. DeepOBS padding looks the same; our record's status decides."""
  import json
  from jaxbench.analysis import load_runs
  folder = tmp_path / "quadratic_deep" / "lookahead_momentum" / "num_epochs__2__batch_size__128__k__1"
  folder.mkdir(parents=True)
  record = {"testproblem": "quadratic_deep", "batch_size": 128, "num_epochs": 2,
            "random_seed": 42, "l2_reg": None, "optimizer_name": "lookahead_momentum",
            "optimizer_hyperparams": {"k": 1}, "training_params": {},
            "train_losses": [353.4, 353.4, 353.4], "valid_losses": [350.0, 350.0, 350.0],
            "test_losses": [353.4468, 353.4468, 353.4468], "minibatch_train_losses": [1.0, 1.0],
            "status": "finished", "diverged_epoch": None}
  (folder / "random_seed__42__2026-12-01-00-00-00.json").write_text(json.dumps(record))
  runs = load_runs(str(tmp_path))
  assert len(runs) == 1 and runs.iloc[0]["status"] == "finished"
  assert runs.iloc[0]["final_test_loss"] == 353.4468
