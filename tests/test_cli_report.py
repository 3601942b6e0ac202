"""`config.report`: after the runs the main command writes the analysis report and prints its path.

The analysis package is a stand-in here (a module placed in sys.modules), so these tests check
the hook's contract — `jaxbench.analysis.report.write_report(results_root, out_dir) -> path`,
called once with the results root and its `_report` sibling — not the report itself.
"""
from __future__ import annotations

import importlib.machinery
import os
import pathlib
import subprocess
import sys
import textwrap
import types

from jaxbench import main

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _fake_analysis(monkeypatch, calls):
  package = types.ModuleType("jaxbench.analysis")
  package.__spec__ = importlib.machinery.ModuleSpec("jaxbench.analysis", None, is_package=True)
  report = types.ModuleType("jaxbench.analysis.report")

  def write_report(results, out_dir, reference=None):
    calls.append((results, out_dir, reference))
    return pathlib.Path(out_dir) / "report.html"

  report.write_report = write_report
  package.report = report
  monkeypatch.setitem(sys.modules, "jaxbench.analysis", package)
  monkeypatch.setitem(sys.modules, "jaxbench.analysis.report", report)


def test_report_goes_next_to_the_results_root(tmp_path, monkeypatch):
  calls = []
  _fake_analysis(monkeypatch, calls)
  path = main.write_report(str(tmp_path / "results" / "quickstart"))
  assert calls == [(str(tmp_path / "results" / "quickstart"),
                    str(tmp_path / "results" / "quickstart_report"), None)]
  assert path == str(tmp_path / "results" / "quickstart_report" / "report.html")


def test_main_command_prints_the_report_path(tmp_path):
  script = textwrap.dedent("""
      import importlib.machinery, pathlib, sys, types
      package = types.ModuleType("jaxbench.analysis")
      package.__spec__ = importlib.machinery.ModuleSpec("jaxbench.analysis", None,
                                                        is_package=True)
      report = types.ModuleType("jaxbench.analysis.report")
      def write_report(results, out_dir):
        records = sorted(pathlib.Path(results).rglob("*.json"))
        path = pathlib.Path(out_dir) / "report.html"
        path.parent.mkdir(parents=True)
        path.write_text(f"{len(records)} records")
        return path
      report.write_report = write_report
      package.report = report
      sys.modules.update({"jaxbench.analysis": package, "jaxbench.analysis.report": report})
      from jaxbench import main
      sys.argv = ["jaxbench"] + sys.argv[1:]
      main.main()
  """)
  out = tmp_path / "out"
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  result = subprocess.run(
      [sys.executable, "-c", script, "--config=experiments/quadratic_deep.py",
       "--config.optimizer.name=sgd", "--config.num_epochs=1", "--config.num_seeds=2",
       "--config.max_steps=2", "--config.checkpoint_every_epochs=0", "--config.report",
       f"--config.output_dir={out}"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
  assert result.returncode == 0, result.stderr[-3000:]
  report = tmp_path / "out_report" / "report.html"
  # Called after the runs: both seeds' records exist when the report is written.
  assert report.read_text() == "2 records"
  assert result.stdout.strip().splitlines()[-1] == f"report: {report}"
