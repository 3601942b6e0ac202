"""Ctrl-C and SIGTERM during training: one line, the shell's exit code, and the command resumes.

Before: SIGINT printed a 50-75-line KeyboardInterrupt trace and SIGTERM exited silently.
"""
from __future__ import annotations

import os
import pathlib
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
  assert lines == [
      f"jaxbench: interrupted by {signal.Signals(signum).name}; finished runs' records and the "
      "last checkpoint are kept; run the same command again to resume"], stderr[-3000:]
