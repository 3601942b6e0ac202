"""The tuning protocol over planted records (no training): plan arithmetic, nesting, common random
numbers, narrowing around the incumbent, selection on validation (never test), ties, divergence,
re-run seeds, and config errors."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxbench import errors, optimizers, tuning
from jaxbench.run import loop as run_loop
from jaxbench.run import identity, records
from jaxbench.sweep import driver, dryrun, plan, protocol, study as study_lib
from jaxbench.sweep.study import Unit


def _study(tmp_path, **overrides):
  config = study_lib.base_config().to_dict()
  config.update(output_dir=str(tmp_path / "out"), **overrides)
  return study_lib.from_config(config)


def test_full_study_plan_matches_spec_arithmetic(tmp_path):
  study = _study(tmp_path)
  # SPEC section 5, written out: 15 optimizers x 8 problems x 4 schedules x 4 budgets.
  assert plan.configurations(study) == 15 * 8 * 4 * 4 == 1920
  # Per (problem, optimizer, schedule): 10 one-shot seeds + 3 budgets x (25 trials + 9 re-runs),
  # the 75 trials counted once because the budgets nest: 10 + 75 + 27.
  assert plan.runs_per_unit(study) == 10 + 3 * (25 + 9) == 112
  figures = dryrun.dry_run(study, calibrate_problems=False, stream=open(os.devnull, "w"))
  assert figures["configurations"] == 1920 and figures["units"] == 480
  assert figures["runs"] == 480 * 112 == 53760
  # quadratic_deep: 1,000 points in batches of 128 -> 7 steps x 100 epochs.
  assert plan.steps_per_run("quadratic_deep", study) == 7 * 100
  # fmnist_2c2d: 50,000 training images (60,000 - 10,000 validation) / 128 -> 390 x 100.
  assert plan.steps_per_run("fmnist_2c2d", study) == 390 * 100
  assert not (tmp_path / "out").exists()  # the dry run stores nothing


def test_first_version_of_the_paper(tmp_path):
  study = _study(tmp_path, optimizers=",".join(optimizers.paper_names()[:-1]).replace(
      "adabelief,", "") + ",lookahead_radam", budgets="oneshot,small,medium")
  assert len(study.optimizers) == 14
  assert plan.configurations(study) == 14 * 8 * 4 * 3 == 1344
  assert len(study.units()) * plan.runs_per_unit(study) == 14 * 8 * 4 * (10 + 50 + 2 * 9) \
      == 34944


def test_trials_nest_and_share_random_numbers(tmp_path):
  study = _study(tmp_path)
  adam, momentum = Unit("quadratic_deep", "adam", "constant"), \
      Unit("quadratic_deep", "momentum", "constant")
  trials = protocol.trial_hyperparams(study, adam, 50)
  assert protocol.trial_hyperparams(study, adam, 25) == trials[:25]
  assert [t["learning_rate"] for t in trials] == [
      t["learning_rate"] for t in protocol.trial_hyperparams(study, momentum, 50)]
  # The search seed is 42, the draws are the sampler's documented numbers.
  u = tuning.uniform(3, "learning_rate", 42)
  assert trials[3]["learning_rate"] == pytest.approx(1e-4 * 1e4 ** u, rel=1e-12)
  spec = protocol.trial_spec(study, adam, trials[3])
  assert spec.seeds == (42,) and spec.hyperparams["eps"] == optimizers.defaults("adam")["eps"]
  assert protocol.rerun_spec(study, adam, trials[3]).seeds == tuple(range(43, 52))
  assert protocol.oneshot_spec(study, adam).seeds == tuple(range(42, 52))
  assert protocol.oneshot_spec(study, adam).hyperparams == optimizers.defaults("adam")


def _plant(spec, seed, valid, test, diverged=False, metric="loss"):
  """A finished run record with the given final validation and test metric."""
  n = spec.num_epochs + 1
  metrics = {"train_eval_loss": [1.0] * n, "valid_loss": [2.0] * (n - 1) + [valid],
             "test_loss": [2.0] * (n - 1) + [test]}
  if metric == "accuracy":
    metrics.update(train_eval_accuracy=[0.1] * n, valid_accuracy=[0.1] * (n - 1) + [valid],
                   test_accuracy=[0.1] * (n - 1) + [test])
  record = records.build_record(
      testproblem=spec.problem, batch_size=spec.batch_size, num_epochs=spec.num_epochs,
      random_seed=seed, l2_reg=None, optimizer_name=spec.optimizer,
      optimizer_hyperparams=spec.hyperparams, training_params={}, metrics=metrics,
      minibatch_train_losses=[],
      extra={"status": "diverged" if diverged else "finished",
             "run_identity": identity.run_identity(spec),
             "run_fingerprint": identity.fingerprint(identity.run_identity(spec))})
  records.write_record(spec.output_dir, record, run_loop.setting_of(spec))


def _small(tmp_path, **overrides):
  return _study(tmp_path, budget_sizes="small=3,medium=5,large=7", num_epochs=1,
                num_rerun_seeds=2, **overrides)


def test_selection_uses_validation_never_test(tmp_path):
  study = _small(tmp_path, budgets="small,medium")
  unit = Unit("quadratic_deep", "sgd", "constant")
  trials = protocol.trial_hyperparams(study, unit, 5)
  # (valid, test): test prefers trial 0, validation prefers trial 1; trial 3 would win on
  # validation but diverged; trial 4 ties trial 1 (ties -> the lower index).
  planted = [(5.0, 0.1), (1.0, 9.0), (3.0, 0.5), (0.5, 0.2), (1.0, 0.3)]
  state = protocol.unit_state(study, unit)
  assert [s.seeds for s in state.pending] == [(42,)] * 5 and not state.selections
  for index, (valid, test) in enumerate(planted[:3]):
    _plant(protocol.trial_spec(study, unit, trials[index]), 42, valid, test)
  state = protocol.unit_state(study, unit)
  assert state.selections == {"small": 1}  # medium still waits for trials 3 and 4
  for index in (3, 4):
    valid, test = planted[index]
    _plant(protocol.trial_spec(study, unit, trials[index]), 42, valid, test,
           diverged=index == 3)
  state = protocol.unit_state(study, unit)
  assert state.selections == {"small": 1, "medium": 1}
  # Both budgets chose trial 1: one set of re-runs, seeds 43 and 44, in trial 1's folder.
  assert len(state.pending) == 1 and state.pending[0].seeds == (43, 44)
  assert run_loop.group_dir(state.pending[0]) == run_loop.group_dir(
      protocol.trial_spec(study, unit, trials[1]))
  assert not state.complete
  for seed in (43, 44):
    _plant(state.pending[0], seed, 1.0, 9.0)
  state = protocol.unit_state(study, unit)
  assert state.complete and not state.pending


def test_accuracy_problems_select_the_highest_and_all_diverged_selects_none(tmp_path):
  study = _small(tmp_path, budgets="small", problems="fmnist_logreg")
  unit = Unit("fmnist_logreg", "sgd", "constant")
  trials = protocol.trial_hyperparams(study, unit, 3)
  for index, (valid, test) in enumerate([(0.7, 0.9), (0.8, 0.1), (0.75, 0.95)]):
    _plant(protocol.trial_spec(study, unit, trials[index]), 42, valid, test, metric="accuracy")
  assert protocol.unit_state(study, unit).selections == {"small": 1}

  unit = Unit("fmnist_logreg", "adam", "constant")
  for hyperparams in protocol.trial_hyperparams(study, unit, 3):
    _plant(protocol.trial_spec(study, unit, hyperparams), 42, 0.9, 0.9, diverged=True,
           metric="accuracy")
  state = protocol.unit_state(study, unit)
  assert state.selections == {"small": None} and state.complete and not state.pending


def test_large_budget_narrows_around_the_incumbent_of_the_medium_trials(tmp_path):
  study = _small(tmp_path, budgets="large")
  unit = Unit("quadratic_deep", "adam", "constant")
  first = protocol.trial_hyperparams(study, unit, 5)
  state = protocol.unit_state(study, unit)
  assert len(state.pending) == 5  # trials 5 and 6 wait for the incumbent
  for index, hyperparams in enumerate(first):
    _plant(protocol.trial_spec(study, unit, hyperparams), 42, 10.0 - (index == 2), 1.0)
  state = protocol.unit_state(study, unit)
  center = first[2]["learning_rate"]
  assert len(state.trials) == 7 and state.trials[:5] == first
  for index in (5, 6):
    u = tuning.uniform(index, "learning_rate", 42)
    low, high = max(1e-4, center / 2), min(1.0, center * 2)
    want = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    assert state.trials[index]["learning_rate"] == pytest.approx(want, rel=1e-12)
    # Other hyperparameters keep their common random numbers.
    assert state.trials[index]["b1"] == tuning.sample(optimizers.search_space("adam"), index)["b1"]
  assert [s.seeds for s in state.pending] == [(42,), (42,)]


def test_deepobs_grid():
  grid = study_lib.DEEPOBS_LR_GRID
  assert len(grid) == 36 and grid[0] == pytest.approx(1e-5) and grid[-1] == pytest.approx(100)
  np.testing.assert_allclose(np.diff(np.log10(grid)), 0.2, rtol=1e-9)  # 5 per decade


@pytest.mark.parametrize("overrides, error, match", [
    ({"problems": "quadratic_dep"}, errors.UnknownKeyError,
     r"'quadratic_dep' is unknown \(did you mean 'quadratic_deep'\?\); valid choices"),
    ({"budgets": "oneshot,huge"}, errors.UnknownKeyError, r"'huge' is unknown.*oneshot"),
    ({"budget_sizes": "small=5,medium=3,large=7"}, errors.ConfigError, r"nest"),
    ({"optimizers": "adam,adam"}, errors.ConfigError, r"twice"),
    ({"extra_optimizers": "no_colon"}, errors.ConfigError, r"package.module:factory"),
    ({"problemz": "x"}, errors.UnknownKeyError, r"'config.problemz' \(did you mean 'problems'"),
    ({"per_problem": {"quadratic_deep": {"epochs": 3}}}, errors.UnknownKeyError, r"epochs"),
])
def test_config_errors(tmp_path, overrides, error, match):
  with pytest.raises(error, match=match):
    _study(tmp_path, **overrides)


def test_shards_split_units_deterministically(tmp_path):
  units = _study(tmp_path).units()
  shards = [driver.shard_units(units, 3, i) for i in range(3)]
  assert sorted(sum(shards, [])) == sorted(units)
  assert not set(shards[0]) & set(shards[1])
  with pytest.raises(errors.ConfigError, match=r"--shard_index=3 must be .* 0..2"):
    driver.shard_units(units, 3, 3)


def test_command_prints_one_line_for_a_bad_config(tmp_path):
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  done = subprocess.run(
      [sys.executable, "-m", "jaxbench.sweep", "--config=experiments/crowded_valley.py",
       "--config.problems=quadratic_dep", f"--config.output_dir={tmp_path / 'out'}"],
      cwd=root, capture_output=True, text=True)
  assert done.returncode != 0 and "Traceback" not in done.stderr
  assert done.stderr.strip().splitlines()[-1].startswith(
      "jaxbench: error: config.problems: 'quadratic_dep' is unknown (did you mean "
      "'quadratic_deep'?); valid choices:")
  assert not (tmp_path / "out").exists()
