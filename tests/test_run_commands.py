"""The run layer through real commands in subprocesses: stale records (defect 10), corrupt and
foreign records (11), storage failures mid-run (14), DeepOBS 1.2's analyzer on our records (17)."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import matplotlib

from jaxbench.run import records

ROOT = pathlib.Path(__file__).resolve().parent.parent
QUICK = ["--config=experiments/quadratic_deep.py", "--config.optimizer.name=sgd",
         "--config.num_epochs=2", "--config.batch_size=500", "--config.progress=lines"]


def _env(tmp_path):
  return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
              JAXBENCH_CHECKPOINT_DIR=str(tmp_path / "ckpt"))


def _main(tmp_path, *flags):
  return subprocess.run([sys.executable, "-m", "jaxbench.main", *QUICK,
                         f"--config.output_dir={tmp_path / 'out'}", *flags],
                        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                        timeout=300)


def _folders(tmp_path):
  return {p.name: sorted(q.name for q in p.iterdir())
          for p in (tmp_path / "out" / "quadratic_deep" / "sgd").iterdir()}


def test_records_of_other_data_or_max_steps_are_never_reused(tmp_path):
  first = _main(tmp_path, "--config.data.source=synthetic", "--config.max_steps=3",
                "--config.num_seeds=2")
  assert first.returncode == 0, first.stderr
  second = _main(tmp_path, "--config.num_seeds=4")
  assert second.returncode == 0, second.stderr
  assert "skipping" not in second.stdout  # nothing of the synthetic 3-step runs counts
  folders = _folders(tmp_path)
  base = "num_epochs__2__batch_size__500__learning_rate__1.e-02"
  assert sorted(folders) == [base, base + "__data_source__synthetic__max_steps__3"]
  assert [n.split("__")[1] for n in folders[base]] == ["42", "43", "44", "45"]
  for name, files in folders.items():
    for file in files:
      record = records.read_record(tmp_path / "out" / "quadratic_deep" / "sgd" / name / file)
      synthetic = "synthetic" in name
      assert record["run_identity"]["max_steps"] == (3 if synthetic else None)
      assert record["run_identity"]["data"]["source"] == ("synthetic" if synthetic else "auto")
  # Same folder, another data folder: one line naming both values, no traceback.
  third = _main(tmp_path, "--config.num_seeds=1", f"--config.data.dir={tmp_path}")
  assert third.returncode != 0 and "Traceback" not in third.stderr
  assert f"data.dir: recorded None, this run '{tmp_path}'" in third.stderr


def test_corrupt_and_foreign_records_are_set_aside_and_recomputed(tmp_path):
  assert _main(tmp_path, "--config.num_seeds=3").returncode == 0
  (folder,) = (tmp_path / "out" / "quadratic_deep" / "sgd").iterdir()
  paths = {int(p.name.split("__")[1]): p for p in folder.glob("*.json")}
  valid_text = paths[42].read_text()
  paths[43].write_text(paths[43].read_text()[:25])               # truncated
  paths[44].write_text(json.dumps({"results": [1, 2, 3]}))       # valid JSON, foreign keys
  again = _main(tmp_path, "--config.num_seeds=3")
  assert again.returncode == 0, again.stderr
  for seed in (43, 44):
    assert str(paths[seed]) in again.stderr
    assert paths[seed].with_suffix(".corrupt").exists()
  assert "skipping 1 finished run(s)" in again.stdout
  assert paths[42].read_text() == valid_text
  by_seed = {records.read_record(p)["random_seed"] for p in folder.glob("*.json")}
  assert by_seed == {42, 43, 44}


DRIVER = textwrap.dedent("""
    import errno, os, sys
    import orbax.checkpoint as ocp
    from jaxbench import config as config_lib, errors
    from jaxbench.run import loop, records

    fault = os.environ.get("FAULT")
    real_save, real_replace = ocp.CheckpointManager.save, os.replace

    def save(self, step, *args, **kwargs):
      if fault == "checkpoint" and step == 2:  # as TensorStore reports a full disk
        raise ValueError('RESOURCE_EXHAUSTED: Error writing local file "/x/d/1f": '
                         'No space left on device [tensorstore_spec={"driver": "ocdbt", '
                         '"base": {"driver": "file", "path": "/x"}, "cache_pool": {}}]')
      return real_save(self, step, *args, **kwargs)

    def replace(src, dst, *args, **kwargs):
      if fault == "record" and str(dst).endswith(".json"):
        raise OSError(errno.EROFS, "Read-only file system", dst)
      return real_replace(src, dst, *args, **kwargs)

    ocp.CheckpointManager.save, os.replace = save, replace
    config = config_lib.problem_config("quadratic_deep", "sgd")
    config.update(dict(num_epochs=3, batch_size=500, num_seeds=2, checkpoint_every_epochs=1,
                       output_dir=sys.argv[1], progress="lines"))
    config = config.to_dict()
    try:
      loop.run_specs(config_lib.resolve(config), config)
    except errors.JaxbenchError as e:
      print(f"jaxbench: error: {e}", file=sys.stderr)
      sys.exit(1)
""")


def test_full_disk_and_read_only_folder_are_one_line_and_resume(tmp_path):
  driver = tmp_path / "driver.py"
  driver.write_text(DRIVER)

  def run(fault):
    return subprocess.run([sys.executable, str(driver), str(tmp_path / "out")], cwd=ROOT,
                          env=dict(_env(tmp_path), FAULT=fault, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=300)

  full = run("checkpoint")
  assert full.returncode == 1 and "Traceback" not in full.stderr
  (line,) = [l for l in full.stderr.splitlines() if l.startswith("jaxbench: error:")]
  assert "cannot write the checkpoint of epoch 2" in line and "no space left on device" in line
  assert "the checkpoint of epoch 1 is kept" in line and "re-run the same command" in line
  assert "tensorstore_spec" not in full.stderr

  read_only = run("record")
  assert read_only.returncode == 1 and "Traceback" not in read_only.stderr
  assert "resumed from the checkpoint after epoch 1" in read_only.stdout
  assert "read-only file system" in read_only.stderr
  assert "the checkpoint of epoch 3 is kept" in read_only.stderr

  fine = run("")
  assert fine.returncode == 0, fine.stderr
  assert "resumed from the checkpoint after epoch 3" in fine.stdout
  assert len(list((tmp_path / "out").rglob("random_seed__*.json"))) == 2
  assert not [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".")]
  assert not [p for p in (tmp_path / "ckpt").rglob("*") if p.is_file()]


ANALYZER_CONFIG = textwrap.dedent("""
    from jaxbench import config as config_lib

    def get_config():
      config = config_lib.problem_config("quadratic_deep", "sgd")
      config.num_seeds, config.num_epochs, config.batch_size = 2, 2, 100
      # Rate 10 diverges (Hessian eigenvalues up to 60: |1 - 10 * 60| ** 14 overflows float32).
      config.suite = tuple({"hparams": {"learning_rate": lr}} for lr in (1e-2, 1e-3, 10.0)) + (
          # DeepOBS's plot_testset_performances indexes a 2-D grid of axes: it needs two problems.
          {"problem": "two_d_rosenbrock", "hparams": {"learning_rate": 1e-3},
           "batch_size": 1000},)
      return config
""")


def test_deepobs_analyzer_reads_our_records_and_never_picks_a_diverged_setting(tmp_path):
  config = tmp_path / "three_rates.py"
  config.write_text(ANALYZER_CONFIG)
  done = subprocess.run([sys.executable, "-m", "jaxbench.main", f"--config={config}",
                         f"--config.output_dir={tmp_path / 'out'}", "--config.progress=none"],
                        cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr
  diverged = [records.read_record(p) for p in (tmp_path / "out").rglob("*__1.e+01/*.json")]
  assert [r["status"] for r in diverged] == ["diverged", "diverged"]

  matplotlib.use("Agg")
  from deepobs import analyzer  # pylint: disable=import-outside-toplevel  (10 s; this test only)
  results = str(tmp_path / "out")
  optimizer = os.path.join(results, "quadratic_deep", "sgd")
  best = analyzer.get_performance_dictionary(optimizer, mode="final", metric="valid_losses")
  assert best["Hyperparameters"]["learning_rate"] == 1e-2
  table = analyzer.plot_results_table(results, mode="final", metric="valid_losses")
  assert table.loc[("quadratic_deep", "Hyperparameters"), "sgd"]["learning_rate"] == 1e-2
  analyzer.plot_optimizer_performance(optimizer, mode="final", metric="valid_losses", show=False)
  analyzer.plot_hyperparameter_sensitivity(optimizer, "learning_rate", mode="final",
                                           metric="valid_losses", xscale="log", show=False)
  analyzer.plot_testset_performances(results, mode="final", metric="valid_losses", show=False)
