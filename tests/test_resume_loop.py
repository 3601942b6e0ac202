"""The run layer with the real engine on tiny problems: batches of settings, records, resume.

two_d_rosenbrock's test set is all zeros, so every record's epoch-0 test loss is the Rosenbrock
function at the start point (-0.5, 1.5): (1 - u)^2 + 100 (v - u^2)^2 = 2.25 + 156.25 = 158.5.
Full batches (1000 of the 10,000 training pairs) keep every batch at a few steps.
"""
from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest

from jaxbench import errors
from jaxbench.run import checkpoint as checkpoint_lib
from jaxbench.run import identity, loop, records
from jaxbench.run.spec import RunSpec
from jaxbench.train import progress as progress_lib

START_LOSS = 2.25 + 156.25


@pytest.fixture(autouse=True)
def _checkpoint_root(tmp_path, monkeypatch):
  monkeypatch.setenv(checkpoint_lib.ENV_ROOT, str(tmp_path / "ckpt"))


def _spec(tmp_path, lr=1e-4, seeds=(42, 43), **kw):
  fields = dict(
      problem="two_d_rosenbrock", optimizer="sgd", hyperparams={"learning_rate": lr},
      explicit_hyperparams={"learning_rate": lr}, schedule="constant", schedule_params={},
      seeds=tuple(seeds), batch_size=1000, num_epochs=3, max_steps=None, train_log_interval=10,
      data_source="auto", data_dir=None, synthetic_size=None, eval_size=None,
      output_dir=str(tmp_path / "out"), checkpoint_every_epochs=1, strategy=None)
  fields.update(kw)
  return RunSpec(**fields)


class _Progress(progress_lib.Progress):
  """Records messages; raises KeyboardInterrupt when epoch `stop_at` is reported."""

  def __init__(self, stop_at=None):
    super().__init__(1, 1, mode="lines", stream=io.StringIO())
    self.stop_at = stop_at

  def epoch(self, epoch, metrics, epoch_seconds):
    super().epoch(epoch, metrics, epoch_seconds)
    if epoch == self.stop_at:
      raise KeyboardInterrupt("simulated Ctrl-C")

  @property
  def text(self):
    return self.stream.getvalue()


def _plain(record):
  out = {k: v for k, v in record.items()
         if k not in records.TIMING_KEYS + ("batch_seeds", "config")}
  return out


def _checkpoint_files(tmp_path):
  return [p for p in (tmp_path / "ckpt").rglob("*") if p.is_file()]


def test_settings_run_as_one_batch_and_equal_their_runs_alone(tmp_path):
  a, b = _spec(tmp_path, 1e-4), _spec(tmp_path, 2e-4, seeds=(42,))
  result_a, result_b = loop.execute([a, b])
  assert [r["batch_seeds"] for r in result_a.records + result_b.records] == [[42, 43, 42]] * 3
  assert result_a.directory != result_b.directory
  assert result_b.directory.endswith("learning_rate__2.e-04")
  for record in result_a.records + result_b.records:
    assert record["test_losses"][0] == pytest.approx(START_LOSS)
    assert len(record["test_losses"]) == 3 + 1 and record["status"] == "finished"
    assert record["run_fingerprint"] == identity.fingerprint(record["run_identity"])
  # The larger rate descends further; each run equals the same run trained alone.
  assert result_b.records[0]["train_losses"][-1] < result_a.records[0]["train_losses"][-1]
  (alone,) = loop.execute([dataclasses.replace(b, output_dir=str(tmp_path / "alone"))])
  assert alone.records[0]["batch_seeds"] == [42]
  np.testing.assert_allclose(alone.records[0]["test_losses"], result_b.records[0]["test_losses"],
                             rtol=1e-6)
  # Nothing of the checkpoints stays after a successful run.
  assert not (tmp_path / "ckpt").exists() or not list((tmp_path / "ckpt").iterdir())


def test_max_runs_per_batch_chunks_and_incompatible_specs_split(tmp_path):
  a = _spec(tmp_path, 1e-4, seeds=(42, 43, 44))
  other_epochs = _spec(tmp_path, 1e-4, seeds=(42,), num_epochs=2)
  result, short = loop.execute([a, other_epochs], max_runs_per_batch=2)
  assert [r["batch_seeds"] for r in result.records] == [[42, 43], [42, 43], [44]]
  assert short.records[0]["batch_seeds"] == [42] and len(short.records[0]["test_losses"]) == 3
  with pytest.raises(errors.ConfigError, match="max_runs_per_batch=0"):
    loop.plan([a], {0: (42,)}, max_runs_per_batch=0)


def test_diverged_run_repeats_epoch_zero_like_deepobs(tmp_path):
  # sgd at rate 1 on Rosenbrock: the first step lands near u = -247 and the loss overflows.
  (result,) = loop.execute([_spec(tmp_path, 1.0, seeds=(42,))])
  (record,) = result.records
  assert record["status"] == "diverged"
  e = record["diverged_epoch"]
  for key in ("train_losses", "valid_losses", "test_losses"):
    values = record[key]
    assert None not in values
    assert values[e + 1:] == [values[0]] * (3 - e)
  assert record["test_losses"][0] == pytest.approx(START_LOSS)
  assert None not in record["minibatch_train_losses"]


def test_relaunch_skips_finished_runs_and_trains_only_new_seeds(tmp_path):
  (first,) = loop.execute([_spec(tmp_path)])
  before = {r["random_seed"]: r for r in first.records}
  progress = _Progress()
  (again,) = loop.execute([_spec(tmp_path)], progress=progress)
  assert again.skipped and "skipping 2 finished run(s)" in progress.text
  (more,) = loop.execute([_spec(tmp_path, seeds=(42, 43, 44))])
  assert [r["batch_seeds"] for r in more.records] == [[42, 43], [42, 43], [44]]
  assert {r["random_seed"]: r for r in more.records[:2]} == before


def test_interrupt_keeps_checkpoint_and_resume_equals_uninterrupted(tmp_path):
  (clean,) = loop.execute([_spec(tmp_path / "clean")])
  with pytest.raises(loop.Interrupted) as caught:
    loop.execute([_spec(tmp_path)], progress=_Progress(stop_at=3))
  assert caught.value.checkpoint_epoch == 2
  assert "checkpoint of epoch 2 is kept" in caught.value.message
  assert "re-run the same command" in caught.value.message
  progress = _Progress()
  (resumed,) = loop.execute([_spec(tmp_path)], progress=progress)
  assert "resumed from the checkpoint after epoch 2" in progress.text
  assert [_plain(r) for r in resumed.records] == [_plain(r) for r in clean.records]
  assert not _checkpoint_files(tmp_path)


def _die_at_second_temp_file(monkeypatch):
  """records._write_temp raising KeyboardInterrupt (a kill) on its second call: the first
  record of a batch is fully written to its temporary file, the second is not."""
  real_write_temp = records._write_temp
  calls = []

  def write_then_die(path, content):
    calls.append(content["random_seed"])
    if len(calls) == 2:
      raise KeyboardInterrupt("killed between two records")
    return real_write_temp(path, content)

  monkeypatch.setattr(records, "_write_temp", write_then_die)
  return calls


def test_kill_while_writing_records_resumes_from_the_final_checkpoint(tmp_path, monkeypatch):
  (clean,) = loop.execute([_spec(tmp_path / "clean")])
  with monkeypatch.context() as patched, pytest.raises(loop.Interrupted) as caught:
    calls = _die_at_second_temp_file(patched)
    loop.execute([_spec(tmp_path)])
  assert calls == [42, 43]
  assert caught.value.checkpoint_epoch == 3
  # The batch's records appear together: seed 42's finished temporary file was not published.
  assert loop.pending_seeds(_spec(tmp_path)) == (42, 43)
  progress = _Progress()
  (resumed,) = loop.execute([_spec(tmp_path)], progress=progress)
  # No training: the batch's checkpoint after the last epoch holds everything.
  assert "resumed from the checkpoint after epoch 3" in progress.text
  assert "epoch 1/3" not in progress.text
  assert [_plain(r) for r in resumed.records] == [_plain(r) for r in clean.records]
  assert not _checkpoint_files(tmp_path)


def test_kill_while_writing_records_without_checkpoints_retrains_the_same_batch(
    tmp_path, monkeypatch):
  """No checkpoint to resume from: the relaunch trains the batch again, and with the same runs
  in it (a batch half written would leave the second setting to train alone, in a batch of 1)."""
  two_settings = [_spec(tmp_path, lr=1e-4, seeds=(42,), checkpoint_every_epochs=0),
                  _spec(tmp_path, lr=2e-4, seeds=(42,), checkpoint_every_epochs=0)]
  with monkeypatch.context() as patched, pytest.raises(loop.Interrupted):
    _die_at_second_temp_file(patched)
    loop.execute(two_settings)
  assert [loop.pending_seeds(spec) for spec in two_settings] == [(42,), (42,)]
  assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no temp file left
  results = loop.execute(two_settings)
  assert [(r["optimizer_hyperparams"]["learning_rate"], r["batch_seeds"])
          for result in results for r in result.records] == [(1e-4, [42, 42]), (2e-4, [42, 42])]


def test_checkpoint_orphaned_by_new_seeds_is_deleted(tmp_path):
  with pytest.raises(loop.Interrupted):
    loop.execute([_spec(tmp_path)], progress=_Progress(stop_at=2))
  assert any(p.name.endswith(".json") for p in _checkpoint_files(tmp_path))
  loop.execute([_spec(tmp_path, seeds=(50,))])
  assert not _checkpoint_files(tmp_path)


def test_checkpoint_of_another_log_interval_is_not_resumed(tmp_path):
  with pytest.raises(loop.Interrupted):
    loop.execute([_spec(tmp_path, train_log_interval=1)], progress=_Progress(stop_at=2))
  progress = _Progress()
  (result,) = loop.execute([_spec(tmp_path, train_log_interval=5)], progress=progress)
  assert "resumed" not in progress.text
  assert "train_log_interval__5" in result.directory
  # 10 steps per epoch, logged at steps 0 and 5 of each of 3 epochs.
  assert len(result.records[0]["minibatch_train_losses"]) == 2 * 3


@pytest.mark.parametrize("damage", ["metadata", "arrays"])
def test_corrupt_checkpoint_is_named_set_aside_and_the_batch_restarts(tmp_path, damage):
  (clean,) = loop.execute([_spec(tmp_path / "clean")])
  with pytest.raises(loop.Interrupted) as caught:
    loop.execute([_spec(tmp_path)], progress=_Progress(stop_at=3))
  step = next(p for p in (tmp_path / "ckpt").rglob("2") if p.is_dir())
  if damage == "metadata":
    (step / "state" / "_METADATA").write_text('{"tree_metad')   # truncated JSON
    (step / "history" / "metadata").write_text('{"metr')
  else:
    for path in (step / "state").rglob("*"):
      if path.is_file() and "metadata" not in path.name:
        path.write_bytes(b"\0garbage")
  progress = _Progress()
  (resumed,) = loop.execute([_spec(tmp_path)], progress=progress)
  assert caught.value.checkpoint_dir in progress.text and "set it aside" in progress.text
  assert "resumed" not in progress.text
  assert [_plain(r) for r in resumed.records] == [_plain(r) for r in clean.records]


def test_schedules_are_checked_with_the_real_steps_per_epoch(tmp_path):
  # quadratic_deep: 1000 training points, batch 128 -> 7 steps per epoch. A warm-up of 0.3
  # epochs is round(2.1) = 2 steps (0 at one step per epoch); 0.05 epochs is round(0.35) = 0.
  def spec(delta_t):
    return _spec(tmp_path, problem="quadratic_deep", batch_size=128, schedule="warmup_linear",
                 schedule_params={"delta_t": delta_t, "then": "constant"}, num_epochs=5)
  assert loop.load_datasets([spec(0.3)])
  with pytest.raises(errors.ConfigError, match=r"config\.schedule\.params.*7 steps per epoch"
                     r".*delta_t=0.05"):
    loop.load_datasets([spec(0.05)])


def test_setting_folder_spells_non_default_training_params(tmp_path):
  spec = _spec(tmp_path, max_steps=3, data_source="synthetic", eval_size=100,
               problem_options={"hessian_draw": 2}, train_log_interval=1)
  name = identity.setting_of(spec)
  assert name == ("num_epochs__3__batch_size__1000__learning_rate__1.e-04__data_source__synthetic"
                  "__eval_size__100__hessian_draw__2__max_steps__3__train_log_interval__1")
  base = _spec(tmp_path)
  assert identity.setting_of(base) == "num_epochs__3__batch_size__1000__learning_rate__1.e-04"
  # Identity changes with every input that changes the numbers, not with the seeds or output.
  fp = identity.fingerprint(identity.run_identity(base))
  for change in (dict(data_dir="/x"), dict(max_steps=2), dict(eval_size=5),
                 dict(problem_options={"hessian_draw": 1}), dict(swa_start_epoch=1),
                 dict(schedule_params={"a": 1})):
    assert identity.fingerprint(identity.run_identity(
        dataclasses.replace(base, **change))) != fp, change
  assert identity.fingerprint(identity.run_identity(
      dataclasses.replace(base, seeds=(1,), output_dir="/elsewhere"))) == fp
  assert identity.batch_key(base) == identity.batch_key(_spec(tmp_path, 0.5))
  assert identity.batch_key(base) != identity.batch_key(_spec(tmp_path, train_log_interval=2))


def test_record_of_another_data_folder_is_an_error_naming_both(tmp_path):
  loop.execute([_spec(tmp_path, seeds=(42,))])
  with pytest.raises(errors.RecordError, match=r"data\.dir: recorded None, this run '/some/where'"):
    loop.pending_seeds(_spec(tmp_path, seeds=(42,), data_dir="/some/where"))
  path = next((tmp_path / "out").rglob("random_seed__42__*.json"))
  record = json.loads(path.read_text())
  del record["run_identity"], record["run_fingerprint"]
  path.write_text(json.dumps(record))
  with pytest.raises(errors.RecordError, match="has no run identity"):
    loop.pending_seeds(_spec(tmp_path, seeds=(42,)))
