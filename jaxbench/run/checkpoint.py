"""Checkpoints of a run batch's whole engine state plus its metric history (orbax-checkpoint).

Where: outside the results tree, because DeepOBS's analyzer takes every folder of the results
root for a test problem (it does not skip dot folders: `deepobs/analyzer/analyze.py` lists
`os.listdir(results_path)`). The root is `RunSpec.checkpoint_root`, else
`$JAXBENCH_CHECKPOINT_DIR`, else `$XDG_CACHE_HOME/jaxbench/checkpoints` (~/.cache/...); below it

  <root>/<hash of the output root>/<batch key>/<runs hash>/      orbax steps (the epoch number)
  <root>/<hash of the output root>/<batch key>/<runs hash>.json  which runs it trains

The batch key (`identity.batch_key`) holds everything the runs share, train_log_interval and the
data included; the runs file lists each run's fingerprint and seed. A relaunch adopts any
checkpoint of its batch key that holds a pending run (so a kill while the records of a finished
batch were being written resumes from that batch's final checkpoint) and deletes the ones whose
runs are all finished or no longer asked for.

An orbax CheckpointManager keeps only the latest step. Orbax writes each step into a temporary
folder and renames it when complete, so a kill during a save leaves the previous checkpoint
usable; temporary folders of interrupted saves are removed when the manager opens. The history
(per-epoch metrics, mini-batch losses, wall times) is saved as JSON in the same step, so state
and history always agree.

Failures are named: an unreadable checkpoint raises CheckpointError with its folder (the loop
sets it aside and restarts the batch); a failed save raises StorageError saying which epoch's
checkpoint is kept and that re-running the command resumes from it.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import signal
import threading
import time
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from jaxbench.errors import CheckpointError, StorageError

ENV_ROOT = "JAXBENCH_CHECKPOINT_DIR"
RUNS_SUFFIX = ".json"
CORRUPT_MARK = ".corrupt-"

# Phrases of storage failures as they appear inside TensorStore/orbax messages (which quote whole
# specs): the one-line reason keeps only the phrase.
_KNOWN_REASONS = {
    "no space left on device": "no space left on device",
    "read-only file system": "read-only file system",
    "permission denied": "permission denied",
    "disk quota exceeded": "disk quota exceeded",
    "resource_exhausted": "no space left on device",
}


@contextlib.contextmanager
def signals_deferred():
  """Holds SIGINT/SIGTERM back while a checkpoint is written, then delivers them.

  A KeyboardInterrupt raised inside orbax/TensorStore's write could leave a half-written step and
  abort the interpreter at exit (seen once under SIGTERM). Signals that arrive meanwhile are
  recorded and re-raised through the previous handlers once the write is complete, so Ctrl-C
  still stops the run, just after a whole checkpoint. (Handlers can only be set from the main
  thread; elsewhere nothing is deferred.)
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  received: list[int] = []
  previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  for signum in previous:
    signal.signal(signum, lambda number, frame: received.append(number))
  try:
    yield
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)
    for signum in received:
      signal.raise_signal(signum)


def describe_failure(error: BaseException) -> str:
  """A short reason for a failed read or write, without TensorStore spec dumps."""
  seen = error
  while seen is not None:
    if isinstance(seen, OSError) and seen.errno is not None:
      return os.strerror(seen.errno).lower() if seen.errno != errno.ENOSPC else \
          "no space left on device"
    seen = seen.__cause__ or seen.__context__
  text = str(error).lower()
  for phrase, reason in _KNOWN_REASONS.items():
    if phrase in text:
      return reason
  first = str(error).splitlines()[0] if str(error) else ""
  first = re.sub(r"\{.*", "{...}", first)  # cut quoted specs
  return f"{type(error).__name__}: {first[:160]}"


def default_root() -> epath.Path:
  if os.environ.get(ENV_ROOT):
    return epath.Path(os.environ[ENV_ROOT])
  cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return epath.Path(cache) / "jaxbench" / "checkpoints"


def _digest(text: str) -> str:
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def batches_dir(checkpoint_root: Optional[str], output_dir: str, batch_key: str) -> epath.Path:
  """The folder of one batch key's checkpoints, namespaced by the (absolute) output root."""
  root = epath.Path(checkpoint_root) if checkpoint_root else default_root()
  output = output_dir if "://" in output_dir else os.path.abspath(output_dir)
  return root / _digest(output) / batch_key


def runs_id(runs: list) -> str:
  """The folder name of a batch of runs: a hash of their (fingerprint, seed) pairs."""
  return _digest(json.dumps(sorted([list(r) for r in runs])))


def existing(directory: epath.Path) -> list[tuple[epath.Path, list]]:
  """(checkpoint folder, runs) for every checkpoint of a batch key; unreadable runs files count
  as no runs (the folder is then cleaned up as an orphan)."""
  directory = epath.Path(directory)
  if not directory.exists():
    return []
  out = []
  for runs_file in sorted(directory.glob(f"*{RUNS_SUFFIX}")):
    try:
      runs = [tuple(r) for r in json.loads(runs_file.read_text())["runs"]]
    except (OSError, ValueError, KeyError, TypeError):
      runs = []
    out.append((directory / runs_file.name[:-len(RUNS_SUFFIX)], runs))
  return out


def remove(directory: epath.Path) -> None:
  """Deletes one checkpoint (folder and runs file) and the parents it leaves empty."""
  directory = epath.Path(directory)
  if directory.exists():
    directory.rmtree()
  runs_file = directory.parent / (directory.name + RUNS_SUFFIX)
  if runs_file.exists():
    runs_file.unlink()
  for parent in (directory.parent, directory.parent.parent):
    try:
      if parent.exists() and not any(parent.iterdir()):
        parent.rmdir()
    except OSError:
      pass  # another process wrote there meanwhile: keep it


def set_aside(directory: epath.Path) -> epath.Path:
  """Renames an unreadable checkpoint to `<folder>.corrupt-<time>` (kept for inspection, never
  read again) and returns the new name."""
  directory = epath.Path(directory)
  target = directory.parent / f"{directory.name}{CORRUPT_MARK}{time.strftime('%Y%m%d-%H%M%S')}"
  if directory.exists():
    directory.rename(target)
  runs_file = directory.parent / (directory.name + RUNS_SUFFIX)
  if runs_file.exists():
    runs_file.unlink()
  return target


class Checkpointer:
  """Save/restore (epoch, state, history) for one run batch; a thin wrapper over orbax."""

  def __init__(self, directory: epath.Path, runs: list, output_dir: str):
    self.directory = epath.Path(directory)
    self.saved_epoch: Optional[int] = None
    try:
      self.directory.parent.mkdir(parents=True, exist_ok=True)
      runs_file = self.directory.parent / (self.directory.name + RUNS_SUFFIX)
      if not runs_file.exists():
        runs_file.write_text(json.dumps({"output_dir": output_dir,
                                         "runs": [list(r) for r in runs]}))
    except OSError as e:
      raise StorageError(f"cannot create the checkpoint folder {self.directory} "
                         f"({describe_failure(e)})") from None
    try:
      self._manager = ocp.CheckpointManager(
          self.directory,
          options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True,
                                               cleanup_tmp_directories=True,
                                               enable_async_checkpointing=False))
      self.saved_epoch = self._manager.latest_step()
    except Exception as e:  # orbax/TensorStore raise many types for one unreadable folder
      raise CheckpointError(f"checkpoint {self.directory} is unreadable "
                            f"({describe_failure(e)})") from None

  def latest_epoch(self) -> Optional[int]:
    return self.saved_epoch

  def save(self, epoch: int, state: Any, history: dict) -> None:
    try:
      with signals_deferred():
        self._save(epoch, state, history)
    except Exception as e:
      kept = (f"the checkpoint of epoch {self.saved_epoch} is kept"
              if self.saved_epoch is not None else "no earlier checkpoint of this batch exists")
      raise StorageError(
          f"cannot write the checkpoint of epoch {epoch} to {self.directory} "
          f"({describe_failure(e)}); {kept}; free space or fix the folder, then re-run the "
          "same command to resume") from None
    self.saved_epoch = epoch

  def _save(self, epoch: int, state: Any, history: dict) -> None:
    self._manager.save(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        history=ocp.args.JsonSave(_to_json(history))), force=True)
    self._manager.wait_until_finished()

  def restore(self, like_state: Any) -> tuple[int, Any, dict]:
    """Restores the latest checkpoint into the structure (and shardings) of `like_state`."""
    epoch = self.saved_epoch
    if epoch is None:
      raise CheckpointError(f"no checkpoint in {self.directory}")
    try:
      abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like_state)
      restored = self._manager.restore(epoch, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract), history=ocp.args.JsonRestore()))
      history = from_json_floats(dict(restored["history"]))
    except Exception as e:
      raise CheckpointError(f"checkpoint {self.directory} (epoch {epoch}) is unreadable "
                            f"({describe_failure(e)})") from None
    if len(history.get("metrics", ())) != epoch + 1:
      raise CheckpointError(f"checkpoint {self.directory} (epoch {epoch}) is unreadable "
                            "(its history does not match its epoch)")
    return epoch, restored["state"], history

  def close(self) -> None:
    try:
      self._manager.close()
    except Exception:  # closing a manager over a vanished or damaged folder: nothing to keep
      pass

  def delete_all(self) -> None:
    """Removes the batch's checkpoints (after its records are written)."""
    self.close()
    remove(self.directory)


def _to_json(value: Any) -> Any:
  """History as plain JSON; non-finite floats as strings so that NaN survives a round trip."""
  if isinstance(value, dict):
    return {k: _to_json(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_to_json(v) for v in value]
  if isinstance(value, np.ndarray):
    return _to_json(value.tolist())
  if isinstance(value, (np.floating, float)):
    value = float(value)
    return value if np.isfinite(value) else repr(value)
  if isinstance(value, np.integer):
    return int(value)
  return value


def from_json_floats(value: Any) -> Any:
  """Inverse of `_to_json` for the 'nan'/'inf' strings."""
  if isinstance(value, dict):
    return {k: from_json_floats(v) for k, v in value.items()}
  if isinstance(value, list):
    return [from_json_floats(v) for v in value]
  if value in ("nan", "inf", "-inf"):
    return float(value)
  return value
