"""Progress display and the final results tables, drawn with rich.

Modes: 'bar' — a rich progress bar per run batch (label, bar over run-epochs, percent, runs done,
epoch and step, latest metrics, elapsed, remaining time), kept live by rich while the batch trains
and left on screen when it ends; 'lines' — one plain line per epoch (logs, CI, pipes); 'none' —
nothing; 'auto' — 'bar' on a terminal, 'lines' elsewhere. The host learns metrics once per epoch
(the engine runs whole epochs in compiled code); `training` reports progress inside an epoch.
The tables are rich Tables printed through the same console: styled on a terminal, plain text
elsewhere.
"""
from __future__ import annotations

import atexit
import math
import os
import sys
import time
from typing import IO, Mapping, Optional, Sequence, Union

import numpy as np
from rich import box
from rich import progress as rich_progress
from rich.console import Console, RenderableType
from rich.text import Text
from rich.table import Table

from jaxbench.errors import ConfigError

MODES = ("auto", "bar", "lines", "none")
SHOWN_METRICS = ("train_eval_loss", "valid_loss", "test_loss", "test_accuracy")
# Off a terminal rich wraps at 80 columns; log lines and tables read better unwrapped.
PLAIN_WIDTH = 200


def format_seconds(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, secs = divmod(rest, 60)
  return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def resolve_mode(mode: str, stream: IO[str]) -> str:
  if mode not in MODES:
    raise ConfigError(f"unknown progress mode {mode!r}; "
                      f"choose one of {', '.join(map(repr, MODES))}")
  if mode == "auto":
    return "bar" if getattr(stream, "isatty", lambda: False)() else "lines"
  return mode


def make_console(stream: IO[str], terminal: bool) -> Console:
  """A console on `stream`: rich styling when `terminal`, plain text otherwise."""
  return Console(file=stream, force_terminal=terminal, width=None if terminal else PLAIN_WIDTH,
                 highlight=False, markup=False, emoji=False)


class _TwoLineBar(rich_progress.Progress):
  """rich's bar, with the task's `detail` (runs, epoch, step, metrics) on a line below it: the
  metrics wrap at word boundaries on a narrow terminal instead of squeezing the bar's columns."""

  def get_renderables(self):
    yield self.make_tasks_table(self.tasks)
    for task in self.tasks:
      yield Text("  " + task.fields["detail"])


def same_terminal(a: IO[str], b: IO[str]) -> bool:
  try:
    return a.isatty() and b.isatty() and os.path.samestat(os.fstat(a.fileno()),
                                                          os.fstat(b.fileno()))
  except (AttributeError, OSError, ValueError):  # no file descriptor (StringIO, closed)
    return False


class Progress:
  """Progress over all run batches of one command.

  Work is counted in run-epochs (a batch of R runs over E epochs is R*E units), so the bar and the
  estimate weigh batches by their size. The remaining time is this package's own estimate, not
  rich's: rich extrapolates over a recent time window, which holds a single sample when epochs
  are long, and counts compilation; here remaining run-epochs are multiplied by the current
  batch's measured seconds per run-epoch (the global rate before its first epoch), because
  problems differ by orders of magnitude in cost.
  """
  LINES_EVERY_SECONDS = 30.0  # plain-line mode: at most one mid-epoch line this often

  def __init__(self, total_runs: int, total_run_epochs: int, mode: str = "auto",
               stream: Optional[IO[str]] = None, clock=time.monotonic):
    self.stream = stream or sys.stdout
    self.mode = resolve_mode(mode, self.stream)
    self.console = make_console(self.stream, terminal=self.mode == "bar")
    self.total_runs = total_runs
    self.total_units = max(1, total_run_epochs)
    self.clock = clock
    self.start = clock()
    self.runs_done = 0
    self.units_done = 0
    self._units_timed = 0
    self._seconds_timed = 0.0
    self._label = ""
    self._status = ""  # the latest epoch / step / metrics or mid-epoch fraction
    self._batch_runs = 0
    self._num_epochs = 0
    self._steps_done = np.zeros(1, int)
    self._batch_units_timed, self._batch_seconds_timed = 0, 0.0
    self._last_training_line = -math.inf
    self._bar = None
    if self.mode == "bar":
      self._bar = _TwoLineBar(
          rich_progress.TextColumn("{task.description}", markup=False),
          rich_progress.BarColumn(bar_width=30), rich_progress.TaskProgressColumn(),
          rich_progress.TimeElapsedColumn(), rich_progress.TextColumn("eta {task.fields[eta]}"),
          console=self.console, get_time=clock, refresh_per_second=2,
          # rich prints stray stderr text above the bar, but into the bar's stream: only do it
          # when that is the same terminal, so an error line never moves from stderr to stdout.
          redirect_stderr=same_terminal(self.stream, sys.stderr))
      self._task = self._bar.add_task("", total=self.total_units, detail="", eta="?")

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
    self._status = ""
    if start_epoch:
      self.units_done += num_runs * start_epoch
      self.message(f"{label}: resumed from the checkpoint after epoch {start_epoch}")
    if self._bar is not None:
      self._bar.update(self._task, description=label, total=self.total_units,
                       completed=self.units_done, detail=self._detail(), eta="?")
      self._bar.start()
      # A batch interrupted by an exception never reaches end_batch: give the cursor back.
      atexit.register(self._bar.stop)

  def epoch(self, epoch: int, metrics: Mapping[str, np.ndarray], epoch_seconds: float) -> None:
    """Reports evaluation after `epoch` (0 = before training)."""
    if epoch > 0:
      self.units_done += self._batch_runs
      self._units_timed += self._batch_runs
      self._seconds_timed += epoch_seconds
      self._batch_units_timed += self._batch_runs
      self._batch_seconds_timed += epoch_seconds
    step = int(self._steps_done[min(epoch, len(self._steps_done) - 1)])
    self._status = (f"epoch {epoch}/{self._num_epochs} step {step}/{int(self._steps_done[-1])} "
                    f"{_metrics_text(metrics)}")
    eta = format_seconds(self._remaining_seconds())
    if self._bar is not None:
      self._bar.update(self._task, completed=self.units_done, detail=self._detail(), eta=eta,
                       refresh=True)
    elif self.mode == "lines":
      self.message(f"{self._label} {self._detail()} "
                   f"elapsed {format_seconds(self._elapsed())} eta {eta}")

  def training(self, epoch: int, fraction: float) -> None:
    """Mid-epoch report: `fraction` of training epoch `epoch` (1-based, as in records) is done.

    Long epochs (a conv problem's runs looped one after another) otherwise show nothing for
    minutes. The bar advances every call; plain lines at most every LINES_EVERY_SECONDS.
    """
    self._status = f"epoch {epoch}/{self._num_epochs} training {fraction:.0%}"
    if self._bar is not None:
      self._bar.update(self._task, completed=self.units_done + fraction * self._batch_runs,
                       detail=self._detail(), refresh=True)
    elif self.mode == "lines" and self.clock() - self._last_training_line \
        >= self.LINES_EVERY_SECONDS:
      self._last_training_line = self.clock()
      self.message(f"{self._label} {self._detail()} elapsed {format_seconds(self._elapsed())}")

  def end_batch(self) -> None:
    self.runs_done += self._batch_runs
    if self._bar is not None:
      self._bar.update(self._task, completed=self.units_done, detail=self._detail())
      self._bar.stop()  # leaves the batch's final bar (runs done, last epoch) on screen
      atexit.unregister(self._bar.stop)

  def message(self, text: Union[str, RenderableType]) -> None:
    """A line of text or a rich renderable (the tables below); printed above a live bar."""
    if self.mode != "none":
      # Text is not word-wrapped: a record path must stay one line to copy.
      self.console.print(text, soft_wrap=isinstance(text, str))

  def _detail(self) -> str:
    return f"runs {self.runs_done}/{self.total_runs} {self._status}".rstrip()

  def _elapsed(self) -> float:
    return self.clock() - self.start

  def _remaining_seconds(self) -> float:
    if self._batch_units_timed:
      rate = self._batch_seconds_timed / self._batch_units_timed
    else:
      rate = self._seconds_timed / self._units_timed if self._units_timed else float("nan")
    return rate * (self.total_units - self.units_done)


def _metrics_text(metrics: Mapping[str, np.ndarray]) -> str:
  """Mean over the batch's runs of each shown metric (NaN where every run diverged)."""
  shown = []
  for key in SHOWN_METRICS:
    if key in metrics:
      values = np.asarray(metrics[key], dtype=float)
      shown.append(f"{key}={np.nanmean(values) if np.isfinite(values).any() else np.nan:.4g}")
  return " ".join(shown)


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


def _table(*headers: str) -> Table:
  table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold")
  table.add_column(headers[0])
  for header in headers[1:]:
    table.add_column(header, justify="right")
  return table


def seed_table(records: Sequence[Mapping]) -> Table:
  """Final metrics per seed of one run group, then mean and std over seeds."""
  columns = [(k, t) for k, t in FINAL_COLUMNS if all(k in r for r in records)]
  # Two-line headers keep the eight columns inside an 80-column terminal.
  table = _table("seed", *(t.replace(" ", "\n") for _, t in columns), "status")
  for i, r in enumerate(records):
    table.add_row(str(r["random_seed"]), *(_cell(r[k][-1]) for k, _ in columns),
                  str(r.get("status", "")), end_section=i == len(records) - 1)
  stats = [mean_std([r[k][-1] for r in records]) for k, _ in columns]
  table.add_row("mean", *(_cell(m) for m, _ in stats), "", style="bold")
  table.add_row("std", *(_cell(s) for _, s in stats), "")
  return table


def comparison_table(groups: Sequence[tuple[str, str, Sequence[Mapping]]]) -> Table:
  """Final test metric mean ± std per (problem, optimizer): the quickstart's comparison."""
  table = _table("problem", "optimizer", "seeds", "test loss", "test accuracy")
  table.columns[1].justify = "left"
  for problem, optimizer, recs in groups:
    loss = mean_std([r["test_losses"][-1] for r in recs])
    acc = (mean_std([r["test_accuracies"][-1] for r in recs])
           if all("test_accuracies" in r for r in recs) else None)
    table.add_row(problem, optimizer, str(len(recs)), f"{_cell(loss[0])} ± {_cell(loss[1])}",
                  "-" if acc is None else f"{_cell(acc[0])} ± {_cell(acc[1])}")
  return table
