"""Run records against SPEC section 7 (DeepOBS 1.2 JSON layout), and their atomic writing."""
from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

from jaxbench.run import records


@pytest.mark.parametrize("value, expected", [
    (0.15848931925, "1.5848931925e-01"),   # SPEC's example
    (0.9, "9.e-01"),                       # SPEC's example: all mantissa zeros stripped
    (0.01, "1.e-02"),
    (1e-3, "1.e-03"),
    (0.99, "9.9e-01"),
    (1.0, "1.e+00"),
    (3e-4, "3.e-04"),
    (0.5, "5.e-01"),
    (1e-8, "1.e-08"),
    (123.25, "1.2325e+02"),
])
def test_float2str_matches_deepobs(value, expected):
  assert records.float2str(value) == expected


def test_format_value_non_floats_use_str_like_deepobs():
  assert records.format_value(5) == "5"
  assert records.format_value(np.int64(20)) == "20"
  assert records.format_value(True) == "True"
  assert records.format_value(None) == "None"
  assert records.format_value("nesterov") == "nesterov"
  assert records.format_value(np.float32(0.5)) == "5.e-01"


def test_setting_name_sorted_hyperparams():
  name = records.setting_name(100, 128, {"rho": 0.99, "learning_rate": 0.15848931925, "k": 5})
  assert name == ("num_epochs__100__batch_size__128__k__5__learning_rate__1.5848931925e-01"
                  "__rho__9.9e-01")


def test_setting_name_training_params_after_hyperparams_none_skipped():
  name = records.setting_name(3, 64, {"learning_rate": 0.01},
                              {"lr_schedule": "cosine", "zzz": None})
  assert name == "num_epochs__3__batch_size__64__learning_rate__1.e-02__lr_schedule__cosine"


def test_record_filename_pattern():
  name = records.record_filename(42)
  assert re.fullmatch(r"random_seed__42__\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}\.json", name)


def _metrics(num_epochs, accuracy=True):
  m = {"train_eval_loss": np.linspace(2, 1, num_epochs + 1),
       "valid_loss": np.linspace(2.1, 1.1, num_epochs + 1),
       "test_loss": np.linspace(2.2, 1.2, num_epochs + 1)}
  if accuracy:
    m.update(train_eval_accuracy=np.linspace(.1, .9, num_epochs + 1),
             valid_accuracy=np.linspace(.1, .8, num_epochs + 1),
             test_accuracy=np.linspace(.1, .7, num_epochs + 1))
  return m


def _record(num_epochs=3, accuracy=True, seed=42, **extra):
  return records.build_record(
      testproblem="fmnist_2c2d", batch_size=128, num_epochs=num_epochs, random_seed=seed,
      l2_reg=None, optimizer_name="momentum",
      optimizer_hyperparams={"learning_rate": 0.01, "rho": 0.99},
      training_params={"lr_sched_epochs": [1, 2], "lr_sched_factors": [0.75, 0.25]},
      metrics=_metrics(num_epochs, accuracy), minibatch_train_losses=np.arange(7.0),
      extra={"status": "finished", **extra})


def test_record_schema_classification():
  rec = _record()
  for key in records.DEEPOBS_KEYS + records.ACCURACY_KEYS:
    assert key in rec, key
  for key in ("train_losses", "valid_losses", "test_losses") + records.ACCURACY_KEYS:
    assert len(rec[key]) == 3 + 1
  # DeepOBS's "train_losses" are the train_eval evaluations.
  assert rec["train_losses"][0] == pytest.approx(2.0)
  assert rec["test_accuracies"][-1] == pytest.approx(0.7)
  assert rec["l2_reg"] is None
  assert rec["training_params"]["lr_sched_factors"] == [0.75, 0.25]
  json.dumps(rec, allow_nan=False)  # strict JSON, plain Python types


def test_record_schema_loss_only_problem_has_no_accuracy_keys():
  rec = _record(accuracy=False)
  for key in records.ACCURACY_KEYS:
    assert key not in rec


def test_record_rejects_wrong_lengths_and_key_clash():
  with pytest.raises(ValueError, match="num_epochs \\+ 1"):
    records.build_record(
        testproblem="p", batch_size=1, num_epochs=3, random_seed=0, l2_reg=None,
        optimizer_name="sgd", optimizer_hyperparams={}, training_params={},
        metrics=_metrics(2, False), minibatch_train_losses=[])
  with pytest.raises(ValueError, match="testproblem"):
    _record(testproblem="x")


def test_nonfinite_values_become_null():
  rec = records.build_record(
      testproblem="p", batch_size=1, num_epochs=1, random_seed=0, l2_reg=None,
      optimizer_name="sgd", optimizer_hyperparams={}, training_params={},
      metrics={"train_eval_loss": [1.0, np.nan], "valid_loss": [1.0, np.inf],
               "test_loss": [1.0, 2.0]}, minibatch_train_losses=[np.float32(np.nan)])
  assert rec["train_losses"] == [1.0, None]
  assert rec["valid_losses"] == [1.0, None]
  assert rec["minibatch_train_losses"] == [None]


def test_write_record_path_and_never_rewritten(tmp_path):
  rec = _record()
  setting = records.setting_name(3, 128, rec["optimizer_hyperparams"])
  path = records.write_record(tmp_path, rec, setting)
  expected_dir = (tmp_path / "fmnist_2c2d" / "momentum" /
                  "num_epochs__3__batch_size__128__learning_rate__1.e-02__rho__9.9e-01")
  assert os.fspath(path.parent) == os.fspath(expected_dir)
  assert re.fullmatch(r"random_seed__42__[\d-]+\.json", path.name)
  assert records.read_record(path) == rec
  # A second write of the same seed keeps the first record untouched.
  again = records.write_record(tmp_path, _record(status="other"), setting)
  assert again == path
  assert records.read_record(path)["status"] == "finished"
  assert len(list(expected_dir.iterdir())) == 1
  assert records.existing_records(expected_dir, 42) == [path]
  assert records.existing_records(expected_dir, 43) == []
  assert records.existing_records(tmp_path / "missing", 42) == []


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
  rec = _record()
  setting = "s"
  first = records.write_record(tmp_path, rec, setting)
  before = first.read_text()

  real_fsync = os.fsync

  def die(fd):  # the whole text is in the temporary file when the writer dies
    raise KeyboardInterrupt("killed mid-write")

  monkeypatch.setattr(os, "fsync", die)
  with pytest.raises(KeyboardInterrupt):
    records.write_record(tmp_path, _record(seed=43), setting)
  monkeypatch.setattr(os, "fsync", real_fsync)
  folder = first.parent
  assert sorted(p.name for p in folder.iterdir()) == [first.name]  # no temp, no partial seed 43
  assert first.read_text() == before
  # The seed is still "not done", so a re-launch writes it.
  assert records.existing_records(folder, 43) == []
  second = records.write_record(tmp_path, _record(seed=43), setting)
  assert records.read_record(second)["random_seed"] == 43


def test_record_files_get_the_umask_mode_and_temp_files_are_cleaned(tmp_path):
  old = os.umask(0o022)
  try:
    path = records.write_record(tmp_path, _record(), "s")
  finally:
    os.umask(old)
  assert os.stat(path).st_mode & 0o777 == 0o644
  stale = path.parent / f".{path.name}.123.abcd1234.tmp"  # left by a writer killed mid-write
  stale.write_text('{"half')
  assert records.remove_temp_files(path.parent) == [stale]
  assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("text, reason", [
    ("", "unreadable"),
    ('{"testproblem": "fmnist_2c2d", "batch_si', "unreadable"),
    ('{"hello": 1}', "missing keys"),
    ("[1, 2]", "expected a JSON object"),
])
def test_bad_records_are_named_and_set_aside(tmp_path, text, reason):
  path = tmp_path / "random_seed__42__2020-01-01-00-00-00.json"
  path.write_text(text)
  with pytest.raises(records.RecordError, match=reason) as caught:
    records.read_record(path)
  assert str(path) in str(caught.value)
  moved = records.set_aside(path)
  assert moved.name == "random_seed__42__2020-01-01-00-00-00.corrupt"
  assert records.existing_records(tmp_path, 42) == []


def test_wrong_lengths_are_not_a_record(tmp_path):
  rec = _record()
  rec["test_losses"] = rec["test_losses"][:2]
  path = tmp_path / "r.json"
  path.write_text(json.dumps(rec))
  with pytest.raises(records.RecordError, match="test_losses needs num_epochs \\+ 1 = 4"):
    records.read_record(path)


def test_divergence_fill_repeats_epoch_zero_as_deepobs():
  # Training epoch 1 diverged: entries 0 and 1 are real, entries 2 and 3 repeat entry 0.
  metrics = {"test_loss": [5.0, 4.0, float("nan"), float("nan")]}
  filled, minibatch = records.deepobs_divergence_fill(
      metrics, [4.5, 4.2, float("inf"), float("nan")], diverged_epoch=1)
  assert filled == {"test_loss": [5.0, 4.0, 5.0, 5.0]}
  assert minibatch == [4.5, 4.2, 4.5, 4.5]
  same, _ = records.deepobs_divergence_fill(metrics, [1.0], diverged_epoch=None)
  assert same == metrics
