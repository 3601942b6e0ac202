"""The outer loop against a tiny stand-in engine: records, skipping, checkpoint and resume.

The stand-in follows the engine contract (BUILD_NOTES.md, "Contracts between the parts") with a closed-form "training":
w_e = 0.5 * w_{e-1} + e with w_0 = seed, so every recorded number is known by hand.
"""
from __future__ import annotations

import io
import sys
import types
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import pytest

from jaxbench import config as config_lib
from jaxbench.run import loop, records


def _run_all(config, **kwargs):
  return loop.run_specs(config_lib.resolve(config), config_lib.to_dict(config), **kwargs)


class FakeState(NamedTuple):
  w: jnp.ndarray
  diverged: jnp.ndarray
  diverged_epoch: jnp.ndarray


class FakeTrainer:
  crash_at_epoch = None  # class-level switch so a test can simulate a kill
  calls: list = []

  def __init__(self, run_batch, dataset, strategy=None, mesh=None):
    self.run_batch = run_batch
    self.steps_per_epoch = 3
    self.compile_seconds = 0.25
    self.strategy = {"runs": "loop", "steps_per_dispatch": 1, "unroll": 1}

  def init(self):
    seeds = jnp.asarray(self.run_batch.seeds, jnp.float32)
    return FakeState(seeds, jnp.zeros(seeds.shape, bool), jnp.full(seeds.shape, -1, jnp.int32))

  def run_epoch(self, state, epoch, on_progress=None):  # 0-based training epoch, as the engine's
    if on_progress is not None:
      on_progress(1.0)
    epoch += 1  # the record entry it produces
    FakeTrainer.calls.append(epoch)
    if FakeTrainer.crash_at_epoch == epoch:
      raise KeyboardInterrupt(f"simulated kill in epoch {epoch}")
    w = 0.5 * state.w + epoch
    # Seed 43 "diverges" in epoch 2: the engine's mask freezes it.
    hit = (jnp.asarray(self.run_batch.seeds) == 43) & (epoch == 2)
    diverged = state.diverged | hit
    diverged_epoch = jnp.where(hit, epoch - 1, state.diverged_epoch)  # training epoch
    minibatch = np.stack([np.asarray(w) + i for i in range(3)], axis=1)
    return FakeState(w, diverged, diverged_epoch), minibatch

  def evaluate(self, state):
    w = np.asarray(state.w, np.float64)
    return {"train_eval_loss": w, "valid_loss": w + 1, "test_loss": w + 2,
            "train_eval_accuracy": w / 100, "valid_accuracy": w / 200, "test_accuracy": w / 300}


class FakeRunBatch:
  def __init__(self, **kwargs):
    self.__dict__.update(kwargs)


@pytest.fixture
def fake_engine(monkeypatch):
  module = types.ModuleType("jaxbench.train.engine")
  module.RunBatch = FakeRunBatch
  module.Trainer = FakeTrainer
  monkeypatch.setitem(sys.modules, "jaxbench.train.engine", module)
  import jaxbench.train
  monkeypatch.setattr(jaxbench.train, "engine", module, raising=False)
  FakeTrainer.crash_at_epoch = None
  FakeTrainer.calls = []
  return module


def _config(tmp_path, **kw):
  config = config_lib.base_config().to_dict()
  config.update(problem="fmnist_2c2d", num_epochs=4, num_seeds=2, seed=42,
                output_dir=str(tmp_path / "out"), progress="lines", checkpoint_every_epochs=1)
  config.update(kw)
  return config


def _expected_w(seed, num_epochs):
  w = [float(seed)]
  for e in range(1, num_epochs + 1):
    w.append(0.5 * w[-1] + e)
  return w


def _strip_timing(record):
  return {k: v for k, v in record.items() if k not in records.TIMING_KEYS}


def test_records_written_with_hand_computed_metrics(tmp_path, fake_engine, monkeypatch):
  monkeypatch.setattr(loop, "load_datasets", lambda specs: {})
  stream = io.StringIO()
  (result,) = _run_all(_config(tmp_path), progress_stream=stream)
  assert len(result.records) == 2
  first, second = result.records
  expected = _expected_w(42, 4)
  assert first["train_losses"] == pytest.approx(expected)
  assert first["test_losses"] == pytest.approx([w + 2 for w in expected])
  assert first["test_accuracies"] == pytest.approx([w / 300 for w in expected])
  # 4 epochs x 3 logged mini-batch losses, in order.
  assert first["minibatch_train_losses"] == pytest.approx(
      [expected[e] + i for e in range(1, 5) for i in range(3)])
  assert first["status"] == "finished" and first["diverged_epoch"] is None
  assert second["status"] == "diverged" and second["diverged_epoch"] == 1
  assert first["optimizer_hyperparams"] == {"learning_rate": 0.01}
  assert first["training_params"] == {"lr_sched_epochs": None, "lr_sched_factors": None}
  assert first["l2_reg"] is None and first["compile_seconds"] == 0.25
  assert len(first["epoch_wall_seconds"]) == 4
  assert first["config"]["optimizer"]["name"] == "sgd"
  assert result.directory.endswith(
      "out/fmnist_2c2d/sgd/num_epochs__4__batch_size__128__learning_rate__1.e-02")
  text = stream.getvalue()
  assert "epoch 4/4" in text and "records:" in text and "mean" in text and "std" in text
  # Checkpoints are gone once the records exist.
  assert not list((tmp_path / "out" / ".checkpoints").glob("*/*"))


def test_relaunch_skips_finished_runs(tmp_path, fake_engine, monkeypatch):
  monkeypatch.setattr(loop, "load_datasets", lambda specs: {})
  _run_all(_config(tmp_path), progress_stream=io.StringIO())
  FakeTrainer.calls = []
  stream = io.StringIO()
  (result,) = _run_all(_config(tmp_path), progress_stream=stream)
  assert FakeTrainer.calls == [] and result.skipped
  assert "skipping 2 finished run(s)" in stream.getvalue()
  # One more seed: only seed 44 trains.
  (result,) = _run_all(_config(tmp_path, num_seeds=3), progress_stream=io.StringIO())
  assert FakeTrainer.calls == [1, 2, 3, 4]
  assert [r["random_seed"] for r in result.records] == [42, 43, 44]
  assert [r["batch_seeds"] for r in result.records] == [[42, 43], [42, 43], [44]]


def test_resume_after_kill_equals_uninterrupted(tmp_path, fake_engine, monkeypatch):
  monkeypatch.setattr(loop, "load_datasets", lambda specs: {})
  (clean,) = _run_all(_config(tmp_path / "a"), progress_stream=io.StringIO())
  FakeTrainer.crash_at_epoch = 3
  FakeTrainer.calls = []
  with pytest.raises(KeyboardInterrupt):
    _run_all(_config(tmp_path / "b"), progress_stream=io.StringIO())
  assert FakeTrainer.calls == [1, 2, 3]
  assert list((tmp_path / "b" / "out" / ".checkpoints").glob("*/2"))  # epoch 2 saved
  FakeTrainer.crash_at_epoch = None
  FakeTrainer.calls = []
  stream = io.StringIO()
  (resumed,) = _run_all(_config(tmp_path / "b"), progress_stream=stream)
  assert FakeTrainer.calls == [3, 4]  # epochs 1-2 came from the checkpoint
  assert "resumed from the checkpoint after epoch 2" in stream.getvalue()
  for a, b in zip(clean.records, resumed.records):
    a, b = _strip_timing(a), _strip_timing(b)
    a["config"].pop("output_dir"), b["config"].pop("output_dir")
    assert a == b


def test_suite_runs_groups_in_order_and_prints_comparison(tmp_path, fake_engine, monkeypatch):
  monkeypatch.setattr(loop, "load_datasets", lambda specs: {})
  stream = io.StringIO()
  config = _config(tmp_path, num_seeds=2, suite=(
      {"problem": "fmnist_2c2d", "optimizer": "sgd"},
      {"problem": "fmnist_2c2d", "optimizer": "adam", "num_epochs": 2}))
  first, second = _run_all(config, progress_stream=stream)
  assert (first.spec.optimizer, second.spec.optimizer) == ("sgd", "adam")
  assert len(second.records[0]["test_losses"]) == 3
  assert "/adam/num_epochs__2__batch_size__128__" in second.directory
  text = stream.getvalue()
  assert "Comparison" in text
  # Seeds 42 and 43 of the stand-in: final test loss w_4 + 2 (sgd) and w_2 + 2 (adam).
  sgd = [_expected_w(s, 4)[-1] + 2 for s in (42, 43)]
  adam = [_expected_w(s, 2)[-1] + 2 for s in (42, 43)]
  assert f"{np.mean(sgd):.4f} ± {np.std(sgd):.4f}" in text
  assert f"{np.mean(adam):.4f} ± {np.std(adam):.4f}" in text
