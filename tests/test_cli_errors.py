"""How the main command fails, run for real in subprocesses: expected failures (JaxbenchError,
flag typos, a missing config file) print one line and exit 2; genuine bugs keep their traceback."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXIT_ERROR = 2  # the documented code for an expected failure (Python's own crash code is 1)


def _run(args, timeout=180):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _one_line_error(result, words):
  lines = result.stderr.strip().splitlines()
  assert result.returncode == EXIT_ERROR, (result.returncode, result.stderr[-3000:])
  assert len(lines) == 1 and lines[0].startswith("jaxbench: error: "), result.stderr[-3000:]
  for word in words:
    assert word in lines[0], (word, lines[0])


@pytest.mark.parametrize("flags, words", [
    # Each printed a 57-line absl/ml_collections trace before.
    (["--config=experiments/quadratic_deep.py", "--config.num_epoch=3"],
     ["'config.num_epoch'", "did you mean 'num_epochs'?"]),
    (["--config=experiments/quadratic_deep.py", "--config.schedule.params.foo=1"],
     ["'config.schedule.params.foo'", "'delta_t'", "'then_params'"]),
    (["--config=experiments/quadratic_dep.py"],
     ["'experiments/quadratic_dep.py'", "no such config file",
      "did you mean 'experiments/quadratic_deep.py'?"]),
    (["--config=experiments/quadratic_deep.py", "--config.num_epochs=five"],
     ["--config.num_epochs=five", "int()"]),
])
def test_flag_typos_print_one_line(flags, words):
  _one_line_error(_run([sys.executable, "-m", "jaxbench.main", *flags]), words)


def test_schedule_family_parameters_are_overridable(tmp_path):
  # README: every key can be overridden on the command line, schedule parameters included.
  # Rejected for the chosen schedule (constant takes none) -> the schedule's valid parameters;
  # accepted for one that takes it. One-line error both times, so nothing trains.
  result = _run([sys.executable, "-m", "jaxbench.main", "--config=experiments/quadratic_deep.py",
                 f"--config.output_dir={tmp_path}", "--config.schedule.params.delta_t=5"])
  _one_line_error(result, ["config.schedule.params.delta_t=5.0", "'constant'", "none"])
  result = _run([sys.executable, "-m", "jaxbench.main", "--config=experiments/quadratic_deep.py",
                 f"--config.output_dir={tmp_path}", "--config.schedule.name=step_decay",
                 "--config.schedule.params.delta_t=5", "--config.schedule.params.alpha_up=1.0"])
  _one_line_error(result, ["config.schedule.params.alpha_up=1.0", "'step_decay'", "'delta_t'",
                           "'k'"])


# A stand-in for the run layer: jaxbench.main.main() with loop.run_specs replaced, so the error
# path is exercised without training (the command itself, flags and all, runs unchanged).
_PATCHED_MAIN = textwrap.dedent("""
    import sys
    from jaxbench import errors, main
    def run_specs(specs, config):
      raise {error}
    main.loop.run_specs = run_specs
    sys.argv = ["jaxbench", "--config=experiments/quadratic_deep.py",
                "--config.output_dir=" + sys.argv[1]]
    main.main()
""")


def test_expected_failure_from_the_run_layer_is_one_line(tmp_path):
  # Before: a missing dataset (an OSError) printed a traceback.
  script = _PATCHED_MAIN.format(
      error='errors.DataError("dataset \'mnist\' not found in /nowhere; fetch it with ...")')
  result = _run([sys.executable, "-c", script, str(tmp_path)])
  _one_line_error(result, ["dataset 'mnist' not found in /nowhere"])


def test_genuine_bug_keeps_its_traceback(tmp_path):
  # Before: every KeyError/TypeError/ValueError became one line and the bug's location was lost.
  script = _PATCHED_MAIN.format(error='KeyError("a bug")')
  result = _run([sys.executable, "-c", script, str(tmp_path)])
  assert result.returncode == 1, result.stderr[-3000:]
  assert "Traceback (most recent call last)" in result.stderr
  assert "in run_specs" in result.stderr and "KeyError: 'a bug'" in result.stderr
  assert "jaxbench: error" not in result.stderr


def test_bug_in_a_config_file_keeps_its_traceback(tmp_path):
  config_file = tmp_path / "broken.py"
  config_file.write_text("def get_config():\n  return 1 / 0\n")
  result = _run([sys.executable, "-m", "jaxbench.main", f"--config={config_file}"])
  assert result.returncode == 1, result.stderr[-3000:]
  assert "ZeroDivisionError" in result.stderr and "Traceback" in result.stderr


def test_config_error_raised_by_a_config_file_is_one_line(tmp_path):
  config_file = tmp_path / "typo.py"
  config_file.write_text("from jaxbench import config as config_lib\n"
                         "def get_config():\n"
                         "  return config_lib.problem_config('fmnist_2c3d')\n")
  result = _run([sys.executable, "-m", "jaxbench.main", f"--config={config_file}"])
  _one_line_error(result, [str(config_file), "problem='fmnist_2c3d'",
                           "did you mean 'fmnist_2c2d'?"])
