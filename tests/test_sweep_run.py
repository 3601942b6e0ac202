"""The sweep end to end on a tiny study (two_d_beale, a few steps): records and views, two shards
= the unsharded set, SIGKILL-and-resume = an uninterrupted sweep, nothing run twice."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxbench.run import records
from jaxbench.sweep import driver, protocol, study as study_lib

OVERRIDES = dict(problems="two_d_beale", optimizers="adam", schedules="constant,cosine",
                 budgets="oneshot,small,large", budget_sizes="small=2,medium=3,large=4",
                 num_rerun_seeds=1, num_epochs=2, max_steps=2, checkpoint_every_epochs=1,
                 progress="none")
VOLATILE = set(records.TIMING_KEYS) | {"config", "batch_seeds", "finished_at"}


def _study(root):
  config = study_lib.base_config().to_dict()
  config.update(OVERRIDES, output_dir=str(root))
  return study_lib.from_config(config), config


def _tree(root) -> dict:
  """{(folder relative to root, seed): record without wall-clock keys} of every record."""
  out = {}
  for folder, _, files in os.walk(root):
    for name in files:
      if not name.endswith(".json") or "/." in folder:
        continue
      seed = int(name.split("__")[1])
      key = (os.path.relpath(folder, root), seed)
      assert key not in out, f"two records for seed {seed} in {folder}"
      record = json.loads(open(os.path.join(folder, name)).read())
      out[key] = {k: v for k, v in record.items() if k not in VOLATILE}
  return out


def _same(a: dict, b: dict) -> None:
  assert sorted(a) == sorted(b)
  for key in a:
    left, right = a[key], b[key]
    assert sorted(left) == sorted(right), key
    for name in left:
      if isinstance(left[name], list) and left[name] and isinstance(left[name][0], float):
        np.testing.assert_allclose(left[name], right[name], rtol=1e-6, err_msg=str(key))
      else:
        assert left[name] == right[name], (key, name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  root = tmp_path_factory.mktemp("reference")
  study, config = _study(root)
  driver.run_study(study, config)
  return root, study


def test_records_views_and_selection(reference):
  root, study = reference
  tree = _tree(root)
  for unit in study.units():
    state = protocol.unit_state(study, unit)
    assert state.complete
    # Views: every budget holds its own trials (nested) and the winner's re-run.
    for budget, size in (("small", 2), ("large", 4)):
      folder = f"{study_lib.BUDGET_FOLDERS[budget]}/" \
               f"{study_lib.SCHEDULE_FOLDERS[unit.schedule]}/two_d_beale/adam"
      view = {k: v for k, v in tree.items() if k[0].startswith(folder + "/")}
      trials = sorted(v["trial"] for v in view.values() if v["role"] == "trial")
      assert trials == list(range(size))
      assert {v["budget"] for v in view.values()} == {budget}
      winner = state.selections[budget]
      selected = [v for v in view.values() if v["selected"]]
      assert {v["random_seed"] for v in selected} == {42, 43}
      assert {v["trial"] for v in selected} == {winner}
      # The winner is the best final validation loss among the budget's finite trials.
      finals = {v["trial"]: v["valid_losses"][-1] for v in view.values()
                if v["role"] == "trial" and v.get("status") != "diverged"}
      assert winner == min(finals, key=lambda t: (finals[t], t))
    oneshot = [v for k, v in tree.items() if k[0].startswith(
        f"oneshot/{study_lib.SCHEDULE_FOLDERS[unit.schedule]}/")]
    assert sorted(v["random_seed"] for v in oneshot) == [42, 43]
  # Every run exists once in the store; the small trials are the large budget's first two.
  runs = [k for k in tree if k[0].startswith("runs/")]
  assert len(runs) == len(set(runs))


def test_two_shards_give_the_unsharded_records(reference, tmp_path):
  ref_root, _ = reference
  study, config = _study(tmp_path)
  for index in (0, 1):
    states = driver.run_study(study, config, num_shards=2, shard_index=index)
    assert [s.unit for s in states] == study.units()[index::2]
  _same(_tree(tmp_path), _tree(ref_root))


def test_sigkill_and_resume_gives_the_same_records(reference, tmp_path):
  ref_root, _ = reference
  args = [sys.executable, "-m", "jaxbench.sweep", "--config=experiments/crowded_valley.py",
          f"--config.output_dir={tmp_path}"] + [f"--config.{k}={v}" for k, v in OVERRIDES.items()]
  cwd = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  deadline = time.monotonic() + 300
  while time.monotonic() < deadline and process.poll() is None:
    if len([f for _, _, files in os.walk(tmp_path) for f in files if f.endswith(".json")]) >= 4:
      break
    time.sleep(0.2)
  assert process.poll() is None, process.stderr.read().decode()[-2000:]
  process.send_signal(signal.SIGKILL)
  process.wait()
  partial = _tree(tmp_path)
  assert 4 <= len(partial) < len(_tree(ref_root))
  done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr[-2000:]
  final = _tree(tmp_path)
  _same(final, _tree(ref_root))
  for key, record in partial.items():  # records that existed were kept, not redone
    assert final[key] == record
  # A third invocation has nothing left to do and changes nothing.
  again = subprocess.run(args + ["--status"], cwd=cwd, capture_output=True, text=True)
  assert again.returncode == 0 and "running" not in again.stdout
  _same(_tree(tmp_path), final)


def test_progress_lines_and_summary_on_a_finished_study(reference):
  root, study = reference
  config = study_lib.base_config().to_dict()
  config.update(OVERRIDES, output_dir=str(root), progress="lines")
  lines_study = study_lib.from_config(config)
  stream = io.StringIO()
  driver.run_study(lines_study, config, stream=stream)  # everything exists: nothing trains
  lines = stream.getvalue().splitlines()
  assert lines[-1].startswith("[sweep] units 2/2 runs ") and "elapsed" in lines[-1]
  tree = _tree(root)
  for row in driver.summary(study):
    assert row.status == "done"
    folder = (f"{study_lib.BUDGET_FOLDERS[row.budget]}/"
              f"{study_lib.SCHEDULE_FOLDERS[row.unit.schedule]}/two_d_beale/adam/")
    finals = [v["test_losses"][-1] for k, v in tree.items()
              if k[0].startswith(folder) and v["selected"]]
    assert row.seeds == len(finals) == 2
    assert row.mean == pytest.approx(np.mean(finals)) and row.std == pytest.approx(np.std(finals))
