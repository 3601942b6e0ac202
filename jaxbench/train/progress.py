"""Progress display and the final results tables.

On a terminal: one live line rewritten with '\\r' (runs done/total, epoch, step, latest metrics,
elapsed, remaining-time estimate); elsewhere (logs, CI, pipes): one plain line per epoch. Plain
ANSI only, so no new dependency. The host learns metrics once per epoch (the engine runs whole
epochs in compiled code), so the line advances per epoch.
"""
from __future__ import annotations

import math
import sys
import time
from typing import IO, Mapping, Optional, Sequence

import numpy as np


def format_seconds(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _bar(fraction: float, width: int = 20) -> str:
  filled = int(round(max(0.0, min(1.0, fraction)) * width))
  return "[" + "#" * filled + "." * (width - filled) + "]"


class Progress:
  """Progress over all run batches of one command.

  Work is counted in run-epochs (a batch of R runs over E epochs is R*E units), so the estimate
  weighs batches by their size. Time for compilation and epoch-0 evaluation is included in the
  elapsed time but not extrapolated.
  """
  LINES_EVERY_SECONDS = 30.0  # plain-line mode: at most one mid-epoch line this often

  def __init__(self, total_runs: int, total_run_epochs: int, mode: str = "auto",
               stream: Optional[IO[str]] = None, clock=time.monotonic):
    self.stream = stream or sys.stdout
    if mode == "auto":
      mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "lines"
    self.mode = mode
    self.total_runs = total_runs
    self.total_units = max(1, total_run_epochs)
    self.clock = clock
    self.start = clock()
    self.runs_done = 0
    self.units_done = 0
    self._units_timed = 0
    self._seconds_timed = 0.0
    self._label = ""
    self._batch_runs = 0
    self._num_epochs = 0
    self._steps_done = np.zeros(1, int)
    self._batch_units_timed, self._batch_seconds_timed = 0, 0.0
    self._line_open = False

  def skip(self, num_runs: int, num_epochs: int) -> None:
    """Runs whose records already exist: counted as done, not timed."""
    self.runs_done += num_runs
    self.total_units = max(1, self.total_units - num_runs * num_epochs)
    self.message(f"skipping {num_runs} finished run(s) (records exist)")

  def start_batch(self, label: str, num_runs: int, num_epochs: int,
                  steps_in_epochs: Sequence[int], start_epoch: int = 0) -> None:
    """steps_in_epochs: training steps of each epoch (fewer where max_steps cuts training)."""
    self._label, self._batch_runs = label, num_runs
    self._num_epochs = num_epochs
    self._steps_done = np.concatenate([[0], np.cumsum(steps_in_epochs)]).astype(int)
    self._batch_units_timed, self._batch_seconds_timed = 0, 0.0
    if start_epoch:
      self.units_done += num_runs * start_epoch
      self.message(f"{label}: resumed from the checkpoint after epoch {start_epoch}")

  def epoch(self, epoch: int, metrics: Mapping[str, np.ndarray], epoch_seconds: float) -> None:
    """Reports evaluation after `epoch` (0 = before training)."""
    if epoch > 0:
      self.units_done += self._batch_runs
      self._units_timed += self._batch_runs
      self._seconds_timed += epoch_seconds
      self._batch_units_timed += self._batch_runs
      self._batch_seconds_timed += epoch_seconds
    elapsed = self.clock() - self.start
    # Problems differ by orders of magnitude in cost: prefer the current batch's own rate.
    if self._batch_units_timed:
      rate = self._batch_seconds_timed / self._batch_units_timed
    else:
      rate = self._seconds_timed / self._units_timed if self._units_timed else float("nan")
    eta = rate * (self.total_units - self.units_done)
    shown = []
    for key in ("train_eval_loss", "valid_loss", "test_loss", "test_accuracy"):
      if key in metrics:
        values = np.asarray(metrics[key], dtype=float)
        shown.append(f"{key}={np.nanmean(values) if np.isfinite(values).any() else np.nan:.4g}")
    step = int(self._steps_done[min(epoch, len(self._steps_done) - 1)])
    text = (f"{self._label} runs {self.runs_done}/{self.total_runs} "
            f"epoch {epoch}/{self._num_epochs} step {step}/{int(self._steps_done[-1])} "
            f"{' '.join(shown)} "
            f"elapsed {format_seconds(elapsed)} eta {format_seconds(eta)}")
    if self.mode == "bar":
      line = f"{_bar(self.units_done / self.total_units)} {text}"
      self.stream.write("\r\x1b[2K" + line)
      self._line_open = True
    elif self.mode == "lines":
      self.stream.write(text + "\n")
    self.stream.flush()

  def training(self, epoch: int, fraction: float) -> None:
    """Mid-epoch report: `fraction` of training epoch `epoch` (1-based, as in records) is done.

    Long epochs (a conv problem's runs looped one after another) otherwise show nothing for
    minutes. The bar is redrawn every call; plain lines at most every LINES_EVERY_SECONDS.
    """
    now = self.clock()
    if self.mode == "lines" and now - getattr(self, "_last_training_line", -1e9) \
        < self.LINES_EVERY_SECONDS:
      return
    text = (f"{self._label} runs {self.runs_done}/{self.total_runs} "
            f"epoch {epoch}/{self._num_epochs} training {fraction:.0%} "
            f"elapsed {format_seconds(now - self.start)}")
    if self.mode == "bar":
      done = (self.units_done + fraction * self._batch_runs) / self.total_units
      self.stream.write("\r\x1b[2K" + f"{_bar(done)} {text}")
      self._line_open = True
    elif self.mode == "lines":
      self._last_training_line = now
      self.stream.write(text + "\n")
    else:
      return
    self.stream.flush()

  def end_batch(self) -> None:
    self.runs_done += self._batch_runs
    self._close_line()

  def message(self, text: str) -> None:
    if self.mode == "none":
      return
    self._close_line()
    self.stream.write(text + "\n")
    self.stream.flush()

  def _close_line(self) -> None:
    if self._line_open:
      self.stream.write("\n")
      self._line_open = False


def mean_std(values: Sequence[float]) -> tuple[float, float]:
  """Mean and (population, ddof=0) standard deviation over seeds, ignoring diverged (None/NaN)."""
  array = np.array([np.nan if v is None else v for v in values], dtype=float)
  finite = array[np.isfinite(array)]
  if finite.size == 0:
    return float("nan"), float("nan")
  return float(finite.mean()), float(finite.std())


FINAL_COLUMNS = (("train_losses", "train_eval loss"), ("valid_losses", "valid loss"),
                 ("test_losses", "test loss"), ("train_accuracies", "train_eval acc"),
                 ("valid_accuracies", "valid acc"), ("test_accuracies", "test acc"))


def _cell(value: Optional[float]) -> str:
  return "nan" if value is None or not np.isfinite(value) else f"{value:.4f}"


def seed_table(records: Sequence[Mapping]) -> str:
  """Final metrics per seed of one run group, then mean and std over seeds."""
  columns = [(k, t) for k, t in FINAL_COLUMNS if all(k in r for r in records)]
  header = ["seed"] + [t for _, t in columns] + ["status"]
  rows = [[str(r["random_seed"])] + [_cell(r[k][-1]) for k, _ in columns]
          + [str(r.get("status", ""))] for r in records]
  stats = [mean_std([r[k][-1] for r in records]) for k, _ in columns]
  rows.append(["mean"] + [_cell(m) for m, _ in stats] + [""])
  rows.append(["std"] + [_cell(s) for _, s in stats] + [""])
  return _render(header, rows)


def comparison_table(groups: Sequence[tuple[str, str, Sequence[Mapping]]]) -> str:
  """Final test metric mean ± std per (problem, optimizer): the quickstart's comparison."""
  header = ["problem", "optimizer", "seeds", "test loss", "test accuracy"]
  rows = []
  for problem, optimizer, recs in groups:
    loss = mean_std([r["test_losses"][-1] for r in recs])
    acc = (mean_std([r["test_accuracies"][-1] for r in recs])
           if all("test_accuracies" in r for r in recs) else None)
    rows.append([problem, optimizer, str(len(recs)), f"{_cell(loss[0])} ± {_cell(loss[1])}",
                 "-" if acc is None else f"{_cell(acc[0])} ± {_cell(acc[1])}"])
  return _render(header, rows)


def _render(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
  fmt = lambda row: "  ".join(str(x).rjust(w) for x, w in zip(row, widths))
  return "\n".join([fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows])
