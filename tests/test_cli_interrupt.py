"""Ctrl-C and SIGTERM during training: one line, the shell's exit code, and the command resumes.

Before: SIGINT printed a 50-75-line KeyboardInterrupt trace and SIGTERM exited silently.
"""
from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _command(out):
  # Long enough that the signal lands mid-training (quadratic_deep: 7 steps per epoch at batch
  # 128 for 1,000 examples), checkpoints every epoch so there is one to keep.
  return [sys.executable, "-m", "jaxbench.main", "--config=experiments/quadratic_deep.py",
          "--config.optimizer.name=sgd", "--config.num_seeds=1", "--config.num_epochs=100000",
          "--config.checkpoint_every_epochs=1", "--config.progress=lines",
          f"--config.output_dir={out}"]


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_prints_one_line_and_exits_with_the_shell_code(tmp_path, signum, code):
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
  process = subprocess.Popen(_command(tmp_path / "out"), cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  try:
    for line in process.stdout:  # wait until two epochs are done: training is under way
      if "epoch 2/" in line:
        break
    else:
      pytest.fail(f"no progress line; stderr: {process.stderr.read()[-3000:]}")
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
  finally:
    process.kill()
  # 128 + signal number: what a shell reports for a process the signal ended.
  assert process.returncode == code, (process.returncode, stderr[:8000])
  assert "Traceback" not in stderr
  lines = [l for l in stderr.splitlines() if l.startswith("jaxbench:")]
  assert len(lines) == 1, stderr[-3000:]
  # The run layer says where training stopped and which checkpoint it kept (one per epoch here,
  # and the signal came after epoch 2's progress line, so at least epoch 1's).
  match = re.fullmatch(
      rf"jaxbench: {signal.Signals(signum).name}: interrupted in epoch (\d+) of .*; the "
      r"checkpoint of epoch (\d+) is kept in .*; re-run the same command to resume from it",
      lines[0])
  assert match, lines[0]
  stopped, kept = int(match.group(1)), int(match.group(2))
  assert 1 <= kept <= stopped, lines[0]
