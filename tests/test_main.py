"""The main command and the `jaxbench` console entry point, end to end in subprocesses."""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _run(args, timeout=180):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _main(*flags):
  return _run([sys.executable, "-m", "jaxbench.main", *flags])


@pytest.mark.parametrize("flag, words", [
    # The other bad cases are covered in-process by tests/test_config.py; these check the
    # command's error path (one line, exit 2, no traceback, nothing run).
    ("--config.optimizer.name=adamm", ["config.optimizer.name='adamm'", "'adam'", "'sgd'"]),
    ("--config.swa.start_epoch=100", ["config.swa.start_epoch=100", "config.num_epochs=100"]),
])
def test_bad_config_fails_fast_with_message(tmp_path, flag, words):
  result = _main("--config=experiments/quadratic_deep.py", f"--config.output_dir={tmp_path}",
                 flag)
  assert result.returncode == 2
  assert result.stderr.startswith("jaxbench: error: ") and result.stderr.count("\n") == 1
  for word in words:
    assert word in result.stderr, (word, result.stderr[-2000:])
  assert "Traceback" not in result.stderr
  assert not list(tmp_path.glob("quadratic_deep")), "nothing may run"


def test_cli_run_writes_records_and_prints_table(tmp_path):
  exe = shutil.which("jaxbench")
  prefix = [exe] if exe else [sys.executable, "-m", "jaxbench.cli"]
  out = tmp_path / "out"
  result = _run(prefix + ["run", "--config=experiments/quadratic_deep.py",
                          "--config.optimizer.name=sgd", "--config.num_epochs=2", "--config.num_seeds=2", "--config.seed=7",
                          "--config.optimizer.learning_rate=0.001",
                          "--config.checkpoint_every_epochs=0", f"--config.output_dir={out}"])
  assert result.returncode == 0, result.stderr[-3000:]
  folder = out / "quadratic_deep" / "sgd" / "num_epochs__2__batch_size__128__learning_rate__1.e-03"
  files = sorted(p.name for p in folder.glob("*.json"))
  assert [f.split("__")[1] for f in files] == ["7", "8"]
  record = json.loads((folder / files[0]).read_text())
  assert len(record["test_losses"]) == 3 and record["optimizer_hyperparams"] == {
      "learning_rate": 0.001}
  # Not a terminal: plain progress lines, then the per-seed table and the folder.
  assert "epoch 2/2" in result.stdout and "\r" not in result.stdout
  assert "mean" in result.stdout and "std" in result.stdout and str(folder) in result.stdout
  # A second launch trains nothing and leaves the records alone.
  again = _run(prefix + ["run", "--config=experiments/quadratic_deep.py",
                         "--config.optimizer.name=sgd", "--config.num_epochs=2", "--config.num_seeds=2", "--config.seed=7",
                         "--config.optimizer.learning_rate=0.001",
                         f"--config.output_dir={out}"])
  assert again.returncode == 0 and "skipping 2 finished run(s)" in again.stdout
  assert sorted(p.name for p in folder.glob("*.json")) == files


def test_cli_unknown_command():
  from jaxbench import cli
  with pytest.raises(SystemExit, match="unknown command 'train'.*run, sweep, analyze, bench"):
    cli.main(["jaxbench", "train"])
