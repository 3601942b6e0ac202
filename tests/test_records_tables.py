"""Final tables over records and the progress display (rich bar on a terminal, plain lines)."""
from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxbench.errors import ConfigError
from jaxbench.train import progress

ANSI_ESCAPE = "\x1b["


def _rec(seed, test_loss, test_acc=None, status="finished"):
  rec = {"random_seed": seed, "status": status, "train_losses": [9.0, 1.0],
         "valid_losses": [9.0, 2.0], "test_losses": [9.0, test_loss]}
  if test_acc is not None:
    rec.update(train_accuracies=[0.0, 0.5], valid_accuracies=[0.0, 0.5],
               test_accuracies=[0.0, test_acc])
  return rec


def _plain(renderable) -> str:
  stream = io.StringIO()
  progress.make_console(stream, terminal=False).print(renderable)
  return stream.getvalue()


def _row(text, first_cell):
  """The cells of the table row whose first cell is `first_cell`."""
  (row,) = [line.split() for line in text.splitlines() if line.split()[:1] == [first_cell]]
  return row


def test_mean_std_over_seeds_ignores_diverged():
  # mean of 1, 2, 3 = 2; population std = sqrt(2/3) = 0.8165.
  assert progress.mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, np.sqrt(2 / 3)))
  assert progress.mean_std([1.0, None, 3.0, float("nan")]) == pytest.approx((2.0, 1.0))
  mean, std = progress.mean_std([None])
  assert np.isnan(mean) and np.isnan(std)


def test_seed_table_shows_each_seed_then_mean_and_std_over_the_finite_ones():
  records = [_rec(42, 0.5, 0.8), _rec(43, 0.7, 0.6), _rec(44, 0.9, 0.7),
             _rec(45, float("nan"), float("nan"), status="diverged")]
  text = _plain(progress.seed_table(records))
  assert ANSI_ESCAPE not in text  # off a terminal: plain text for logs
  # Columns: seed, train_eval/valid/test loss, train_eval/valid/test acc, status.
  assert _row(text, "42") == ["42", "1.0000", "2.0000", "0.5000", "0.5000", "0.5000", "0.8000",
                              "finished"]
  assert _row(text, "45")[3] == "nan" and _row(text, "45")[-1] == "diverged"
  # Seed 45 diverged and is left out. Test loss: (0.5 + 0.7 + 0.9) / 3 = 0.7, population std
  # sqrt((0.2^2 + 0 + 0.2^2) / 3) = 0.1633; test accuracy: 0.7 and sqrt(0.02 / 3) = 0.0816.
  mean, std = _row(text, "mean"), _row(text, "std")
  assert mean[1:] == ["1.0000", "2.0000", "0.7000", "0.5000", "0.5000", "0.7000"]
  assert std[1:] == ["0.0000", "0.0000", "0.1633", "0.0000", "0.0000", "0.0816"]


def test_seed_table_without_accuracies_has_only_loss_columns():
  text = _plain(progress.seed_table([_rec(1, 90.0), _rec(2, 92.0)]))
  assert "acc" not in text
  assert _row(text, "mean") == ["mean", "1.0000", "2.0000", "91.0000"]
  assert _row(text, "std") == ["std", "0.0000", "0.0000", "1.0000"]


def test_comparison_table_mean_pm_std_per_problem_and_optimizer():
  text = _plain(progress.comparison_table([
      ("fmnist_2c2d", "adam", [_rec(42, 0.5, 0.8), _rec(43, 0.7, 0.6)]),
      ("quadratic_deep", "sgd", [_rec(42, 90.0), _rec(43, 92.0)])]))
  # adam: loss (0.5 + 0.7) / 2 = 0.6 ± 0.1, accuracy 0.7 ± 0.1; sgd: 91 ± 1, no accuracy.
  assert _row(text, "fmnist_2c2d") == ["fmnist_2c2d", "adam", "2", "0.6000", "±", "0.1000",
                                       "0.7000", "±", "0.1000"]
  assert _row(text, "quadratic_deep") == ["quadratic_deep", "sgd", "2", "91.0000", "±", "1.0000",
                                          "-"]


class _Clock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


class _Tty(io.StringIO):
  def isatty(self):
    return True


def test_auto_mode_is_a_bar_on_a_terminal_and_lines_elsewhere():
  assert progress.Progress(1, 1, stream=_Tty()).mode == "bar"
  assert progress.Progress(1, 1, stream=io.StringIO()).mode == "lines"
  with pytest.raises(ConfigError, match="'fancy'.*'auto', 'bar', 'lines', 'none'"):
    progress.Progress(1, 1, mode="fancy", stream=io.StringIO())


def test_progress_lines_and_eta():
  stream, clock = io.StringIO(), _Clock()
  bar = progress.Progress(total_runs=2, total_run_epochs=2 * 4, mode="lines", stream=stream,
                          clock=clock)
  bar.start_batch("p/o", 2, 4, [10, 10, 5, 0])
  bar.epoch(0, {"test_loss": np.array([2.0, 4.0])}, 0.0)
  clock.now = 10.0
  bar.epoch(1, {"test_loss": np.array([1.0, 3.0])}, 5.0)   # 5 s for 2 run-epochs
  bar.end_batch()
  text = stream.getvalue()
  assert ANSI_ESCAPE not in text and "\r" not in text
  lines = text.splitlines()
  assert len(lines) == 2
  assert "epoch 0/4 step 0/25 test_loss=3" in lines[0]      # mean of 2 and 4
  # 6 run-epochs left at 2.5 s each = 15 s.
  assert "epoch 1/4 step 10/25 test_loss=2" in lines[1] and "eta 00:15" in lines[1]
  assert "elapsed 00:10" in lines[1]


def test_bar_on_a_forced_terminal_shows_mid_epoch_progress_and_reaches_100_percent():
  stream, clock = io.StringIO(), _Clock()  # not a tty: 'bar' forces the terminal rendering
  bar = progress.Progress(total_runs=2, total_run_epochs=2 * 2, mode="bar", stream=stream,
                          clock=clock)
  bar.start_batch("quadratic_deep/sgd", 2, 2, [4, 4])
  bar.epoch(0, {"test_loss": np.array([2.0, 4.0])}, 0.0)
  bar.training(1, 0.5)  # half of epoch 1 of 2 runs = 1 of 4 run-epochs: a quarter
  mid = stream.getvalue()
  assert "epoch 1/2 training 50%" in mid and " 25%" in mid and "100%" not in mid
  clock.now = 4.0
  bar.epoch(1, {"test_loss": np.array([1.0, 3.0])}, 4.0)  # 2 s per run-epoch, 2 left: 4 s
  assert "epoch 1/2 step 4/8 test_loss=2" in stream.getvalue()[len(mid):]
  assert " 50%" in stream.getvalue()[len(mid):] and "eta 00:04" in stream.getvalue()
  bar.epoch(2, {"test_loss": np.array([0.5, 1.5])}, 4.0)
  bar.end_batch()
  bar.message("after the bar")
  text = stream.getvalue()
  assert ANSI_ESCAPE in text and "\r" in text       # redrawn in place with terminal codes
  final = text.split("\r")[-1]                       # the bar left on screen after the batch
  assert "100%" in final and "runs 2/2 epoch 2/2 step 8/8 test_loss=1" in final
  assert final.endswith("after the bar\n")


def test_tables_on_a_terminal_are_styled_and_keep_the_numbers():
  stream = io.StringIO()
  bar = progress.Progress(1, 1, mode="bar", stream=stream)
  bar.message(progress.comparison_table([("quadratic_deep", "sgd", [_rec(1, 90.0),
                                                                   _rec(2, 92.0)])]))
  assert ANSI_ESCAPE in stream.getvalue() and "91.0000 ± 1.0000" in stream.getvalue()


def test_mode_none_prints_nothing():
  stream = io.StringIO()
  bar = progress.Progress(total_runs=3, total_run_epochs=3 * 2, mode="none", stream=stream)
  bar.skip(1, 2)
  bar.start_batch("p/o", 2, 2, [4, 4], start_epoch=1)
  bar.training(2, 0.5)
  bar.epoch(2, {"test_loss": np.array([1.0, 3.0])}, 1.0)
  bar.end_batch()
  bar.message(progress.seed_table([_rec(1, 90.0)]))
  assert stream.getvalue() == ""
  assert bar.runs_done == 3 and bar.units_done == bar.total_units == 4


def test_mid_epoch_training_lines_are_throttled():
  stream, clock = io.StringIO(), _Clock()
  lines = progress.Progress(total_runs=1, total_run_epochs=1, mode="lines", stream=stream,
                            clock=clock)
  lines.start_batch("p/o", 1, 1, [100])
  lines.training(1, 0.1)
  clock.now = 10.0
  lines.training(1, 0.2)              # within LINES_EVERY_SECONDS of the last line: dropped
  clock.now = 10.0 + lines.LINES_EVERY_SECONDS
  lines.training(1, 0.3)
  printed = stream.getvalue().splitlines()
  assert [line.split("training ")[1].split()[0] for line in printed] == ["10%", "30%"]


def test_a_bar_interrupted_mid_batch_gives_the_cursor_back_at_exit():
  # The run layer never reaches end_batch when training raises; the hidden cursor must return.
  code = ("import sys; from jaxbench.train import progress\n"
          "bar = progress.Progress(1, 2, mode='bar', stream=sys.stdout)\n"
          "bar.start_batch('p/o', 1, 2, [3, 3])\n"
          "raise KeyboardInterrupt\n")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
  assert result.returncode != 0 and "KeyboardInterrupt" in result.stderr
  hide, show = "\x1b[?25l", "\x1b[?25h"
  assert hide in result.stdout and result.stdout.rindex(show) > result.stdout.rindex(hide)


def test_stderr_is_redirected_above_the_bar_only_on_the_same_terminal():
  leader, follower = os.openpty()
  with open(follower, "w") as tty, open(os.dup(follower), "w") as same, \
      open(os.devnull, "w") as other:
    assert progress.same_terminal(tty, same)
    assert not progress.same_terminal(tty, other)   # stderr to a file stays there
    assert not progress.same_terminal(io.StringIO(), tty)
  os.close(leader)


def test_on_a_narrow_terminal_the_detail_wraps_below_the_bar_and_keeps_its_numbers(monkeypatch):
  monkeypatch.setenv("COLUMNS", "60")
  stream, clock = io.StringIO(), _Clock()
  bar = progress.Progress(total_runs=1, total_run_epochs=1, mode="bar", stream=stream,
                          clock=clock)
  bar.start_batch("fmnist_2c2d/adam", 1, 1, [5])
  clock.now = 3.0
  bar.epoch(1, {"train_eval_loss": np.array([0.25]), "test_accuracy": np.array([0.875])}, 3.0)
  bar.end_batch()
  final = stream.getvalue().split("\r")[-1]
  first_line = final.splitlines()[0]
  assert "100%" in first_line and "0:00:03" in first_line and "eta 00:00" in first_line
  assert "train_eval_loss=0.25" in final and "test_accuracy=0.875" in final
