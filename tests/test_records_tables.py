"""Final tables over records and the progress display (terminal vs. log lines)."""
from __future__ import annotations

import io

import numpy as np
import pytest

from jaxbench.train import progress


def _rec(seed, test_loss, test_acc=None, status="finished"):
  rec = {"random_seed": seed, "status": status, "train_losses": [9.0, 1.0],
         "valid_losses": [9.0, 2.0], "test_losses": [9.0, test_loss]}
  if test_acc is not None:
    rec.update(train_accuracies=[0.0, 0.5], valid_accuracies=[0.0, 0.5],
               test_accuracies=[0.0, test_acc])
  return rec


def test_mean_std_over_seeds_ignores_diverged():
  # mean of 1, 2, 3 = 2; population std = sqrt(2/3) = 0.8165.
  assert progress.mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, np.sqrt(2 / 3)))
  assert progress.mean_std([1.0, None, 3.0, float("nan")]) == pytest.approx((2.0, 1.0))
  mean, std = progress.mean_std([None])
  assert np.isnan(mean) and np.isnan(std)


def test_seed_table_rows_and_stats():
  table = progress.seed_table([_rec(42, 0.5, 0.8), _rec(43, 0.7, 0.6), _rec(44, 0.9, 0.7)])
  lines = table.splitlines()
  assert lines[0].split()[:2] == ["seed", "train_eval"]
  assert lines[2].split()[0] == "42" and "0.5000" in lines[2]
  mean_line = next(l for l in lines if l.strip().startswith("mean"))
  std_line = next(l for l in lines if l.strip().startswith("std"))
  assert "0.7000" in mean_line                            # (0.5 + 0.7 + 0.9) / 3
  assert f"{np.sqrt(((0.2 ** 2) * 2) / 3):.4f}" in std_line  # 0.1633


def test_comparison_table():
  table = progress.comparison_table([
      ("fmnist_2c2d", "adam", [_rec(42, 0.5, 0.8), _rec(43, 0.7, 0.6)]),
      ("quadratic_deep", "sgd", [_rec(42, 90.0), _rec(43, 92.0)])])
  lines = table.splitlines()
  assert "0.6000 ± 0.1000" in lines[2] and "0.7000 ± 0.1000" in lines[2]
  assert "91.0000 ± 1.0000" in lines[3] and lines[3].rstrip().endswith("-")


class _Clock:
  def __init__(self):
    self.now = 0.0

  def __call__(self):
    return self.now


def test_progress_lines_and_eta():
  stream, clock = io.StringIO(), _Clock()
  bar = progress.Progress(total_runs=2, total_run_epochs=2 * 4, mode="lines", stream=stream,
                          clock=clock)
  bar.start_batch("p/o", 2, 4, [10, 10, 5, 0])
  bar.epoch(0, {"test_loss": np.array([2.0, 4.0])}, 0.0)
  clock.now = 10.0
  bar.epoch(1, {"test_loss": np.array([1.0, 3.0])}, 5.0)   # 5 s for 2 run-epochs
  lines = stream.getvalue().splitlines()
  assert "epoch 0/4 step 0/25 test_loss=3" in lines[0]
  # 6 run-epochs left at 2.5 s each = 15 s.
  assert "epoch 1/4 step 10/25 test_loss=2" in lines[1] and "eta 00:15" in lines[1]
  assert "elapsed 00:10" in lines[1]


def test_progress_bar_on_terminal_rewrites_one_line():
  class Tty(io.StringIO):
    def isatty(self):
      return True
  stream = Tty()
  bar = progress.Progress(total_runs=1, total_run_epochs=2, stream=stream)
  assert bar.mode == "bar"
  bar.start_batch("p/o", 1, 2, [3, 3])
  bar.epoch(0, {}, 0.0)
  bar.epoch(1, {}, 1.0)
  bar.end_batch()
  text = stream.getvalue()
  assert text.count("\r") == 2 and text.endswith("\n") and "[##########..........]" in text


def test_mid_epoch_training_progress_bar_and_throttled_lines():
  class Tty(io.StringIO):
    def isatty(self):
      return True
  stream = Tty()
  bar = progress.Progress(total_runs=2, total_run_epochs=2 * 2, stream=stream)
  bar.start_batch("p/o", 2, 2, [4, 4])
  bar.training(1, 0.5)  # half of epoch 1 of 2 runs = 1 of 4 run-epochs: a quarter of the bar
  assert stream.getvalue().startswith("\r") and "epoch 1/2 training 50%" in stream.getvalue()
  assert "[#####...............]" in stream.getvalue()

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
