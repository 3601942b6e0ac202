"""Resume after a real kill: SIGKILL `python -m jaxbench.main` after its first checkpoint, restart
it, and check the records equal an uninterrupted run's (timing keys aside)."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from jaxbench.run import records

ROOT = pathlib.Path(__file__).resolve().parent.parent
NUM_EPOCHS = 25


def _command(output_dir):
  return [sys.executable, "-m", "jaxbench.main", "--config=experiments/quadratic_deep.py",
          f"--config.num_epochs={NUM_EPOCHS}", "--config.num_seeds=2",
          "--config.checkpoint_every_epochs=1", "--config.optimizer.name=sgd",
          "--config.optimizer.learning_rate=0.001", f"--config.output_dir={output_dir}"]


def _env(checkpoints):
  return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
              JAXBENCH_CHECKPOINT_DIR=str(checkpoints))


def _records(output_dir):
  found = sorted(pathlib.Path(output_dir).glob("quadratic_deep/sgd/*/random_seed__*.json"))
  out = {}
  for path in found:
    record = records.read_record(path)
    for key in records.TIMING_KEYS:
      record.pop(key, None)
    record["config"].pop("output_dir")
    out[record["random_seed"]] = record
  return out


@pytest.mark.slow
def test_kill_and_resume_equals_uninterrupted(tmp_path):
  clean_dir, killed_dir = tmp_path / "clean", tmp_path / "killed"
  checkpoints = tmp_path / "checkpoints"
  clean = subprocess.Popen(_command(clean_dir), cwd=ROOT, env=_env(tmp_path / "clean_ckpt"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

  victim = subprocess.Popen(_command(killed_dir), cwd=ROOT, env=_env(checkpoints),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 120
  while time.monotonic() < deadline and victim.poll() is None:
    # A finished checkpoint step is a folder named by its epoch (orbax renames it when complete).
    if any(p.name.isdigit() for p in checkpoints.glob("*/*/*/*")):
      break
    time.sleep(0.01)
  assert victim.poll() is None, "the run ended before its first checkpoint could be seen"
  victim.send_signal(signal.SIGKILL)
  victim.wait()
  assert not list(killed_dir.glob("quadratic_deep/sgd/*/*.json")), "killed before any record"

  resumed = subprocess.run(_command(killed_dir), cwd=ROOT, env=_env(checkpoints), capture_output=True,
                           text=True, timeout=180)
  assert resumed.returncode == 0, resumed.stdout + resumed.stderr
  assert "resumed from the checkpoint after epoch" in resumed.stdout, resumed.stdout
  out, _ = clean.communicate(timeout=180)
  assert clean.returncode == 0, out

  clean_records, resumed_records = _records(clean_dir), _records(killed_dir)
  assert sorted(clean_records) == [42, 43]
  assert clean_records == resumed_records
  assert len(clean_records[42]["test_losses"]) == NUM_EPOCHS + 1
  # The checkpoint is removed once the records exist, and nothing of it is in the results tree.
  assert not any(p.is_file() for p in checkpoints.rglob("*"))
  assert sorted(p.name for p in killed_dir.iterdir()) == ["quadratic_deep"]
