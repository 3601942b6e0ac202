"""Checkpoints of a run batch's whole engine state plus its metric history (orbax-checkpoint).

One folder per run batch, `<output_dir>/.checkpoints/<batch id>/`, managed by an orbax
CheckpointManager that keeps only the latest step (the epoch number). Orbax writes each step into
a temporary folder and renames it when complete, so a kill during a save leaves the previous
checkpoint usable. The history (per-epoch metrics, mini-batch losses, wall times) is saved as JSON
in the same step, so state and history always agree.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

CHECKPOINT_FOLDER = ".checkpoints"


def batch_id(parts: Any) -> str:
  """A stable folder name for a run batch: a hash of what it runs (problem, setting, seeds, ...)."""
  text = json.dumps(parts, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_dir(output_dir: str, identifier: str) -> epath.Path:
  return epath.Path(output_dir) / CHECKPOINT_FOLDER / identifier


class Checkpointer:
  """Save/restore (epoch, state, history) for one run batch; a thin wrapper over orbax."""

  def __init__(self, directory: epath.Path):
    self.directory = epath.Path(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True,
                                             enable_async_checkpointing=False))

  def latest_epoch(self) -> Optional[int]:
    return self._manager.latest_step()

  def save(self, epoch: int, state: Any, history: dict) -> None:
    self._manager.save(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        history=ocp.args.JsonSave(_to_json(history))), force=True)
    self._manager.wait_until_finished()

  def restore(self, like_state: Any) -> tuple[int, Any, dict]:
    """Restores the latest checkpoint into the structure (and shardings) of `like_state`."""
    epoch = self._manager.latest_step()
    if epoch is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, like_state)
    restored = self._manager.restore(epoch, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), history=ocp.args.JsonRestore()))
    return epoch, restored["state"], dict(restored["history"])

  def delete_all(self) -> None:
    """Removes the batch's checkpoints (after its records are written)."""
    self._manager.close()
    if self.directory.exists():
      self.directory.rmtree()

  def close(self) -> None:
    self._manager.close()


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
