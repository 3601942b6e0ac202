"""Config validation: every bad config fails before compiling, naming the key and the choices."""
from __future__ import annotations

import importlib.util
import pathlib

import pytest

from jaxbench import config as config_lib
from jaxbench import problems
from jaxbench.errors import ConfigError
from jaxbench.errors import UnknownKeyError

EXPERIMENTS = pathlib.Path(__file__).resolve().parent.parent / "experiments"


def _config(tmp_path, **overrides):
  config = config_lib.base_config().to_dict()
  config["output_dir"] = str(tmp_path / "out")
  for key, value in overrides.items():
    target = config
    *parents, leaf = key.split(".")
    for parent in parents:
      target = target[parent]
    target[leaf] = value
  return config


def _load_experiment(name):
  spec = importlib.util.spec_from_file_location(f"exp_{name}", EXPERIMENTS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def test_defaults_resolve_to_problem_settings_and_consecutive_seeds(tmp_path):
  (spec,) = config_lib.resolve(_config(tmp_path, problem="fmnist_2c2d", seed=7, num_seeds=4))
  assert (spec.batch_size, spec.num_epochs) == (128, 100)   # SPEC section 1, P3
  assert spec.seeds == (7, 8, 9, 10)
  assert spec.optimizer == "sgd" and spec.hyperparams == {"learning_rate": 0.01}  # SPEC 2


def test_explicit_hyperparams_and_overrides(tmp_path):
  (spec,) = config_lib.resolve(_config(
      tmp_path, **{"optimizer.name": "momentum", "optimizer.learning_rate": 3e-4,
                   "batch_size": 32, "num_epochs": 2, "max_steps": 5}))
  assert spec.hyperparams == {"learning_rate": 3e-4, "rho": 0.99}
  assert spec.explicit_hyperparams == {"learning_rate": 3e-4}
  assert (spec.batch_size, spec.num_epochs, spec.max_steps) == (32, 2, 5)


# Every failure is a ConfigError (a ValueError, so older callers still match); unknown names and
# keys are UnknownKeyErrors (also KeyErrors). The command line prints both as one line.
@pytest.mark.parametrize("key, value, error, words", [
    ("problem", "fmnist_2c3d", UnknownKeyError, ["config.problem", "'fmnist_2c2d'",
                                                 "valid choices"]),
    ("optimizer.name", "adamm", UnknownKeyError, ["config.optimizer.name", "'adam'", "'sgd'"]),
    ("schedule.name", "cosinus", UnknownKeyError, ["config.schedule.name", "'cosine'",
                                                   "'cosine_wr'"]),
    ("optimizer.rho", 0.9, UnknownKeyError, ["config.optimizer.rho", "'sgd'", "'learning_rate'"]),
    ("num_seeds", 0, ConfigError, ["config.num_seeds", ">= 1"]),
    ("num_seeds", "3", ConfigError, ["config.num_seeds", "int"]),
    ("num_epochs", 2.5, ConfigError, ["config.num_epochs", "int"]),
    ("optimizer.learning_rate", "fast", ConfigError, ["config.optimizer.learning_rate", "float"]),
    ("batch_size", 0, ConfigError, ["batch_size", ">= 1"]),
    ("data.source", "internet", UnknownKeyError, ["config.data.source", "'files'", "'tfds'"]),
    ("progress", "fancy", UnknownKeyError, ["config.progress", "'bar'", "'lines'"]),
    ("strategy.runs", "pmap", ConfigError, ["config.strategy", "'pmap'", "'vmap'", "'loop'"]),
    ("schedule.params", {"wiggle": 1}, UnknownKeyError, ["wiggle", "'constant'"]),
    ("report", "yes", ConfigError, ["config.report", "bool"]),
])
def test_bad_values_name_key_and_choices(tmp_path, key, value, error, words):
  with pytest.raises(error) as info:
    config_lib.resolve(_config(tmp_path, **{key: value}))
  assert isinstance(info.value, ValueError)
  message = str(info.value)
  for word in words:
    assert word in message, (word, message)


def test_unknown_keys(tmp_path):
  config = _config(tmp_path)
  config["num_epoch"] = 3
  with pytest.raises(UnknownKeyError,
                     match="config.num_epoch.*did you mean 'num_epochs'.*valid keys"):
    config_lib.resolve(config)
  config = _config(tmp_path)
  config["data"]["directory"] = "/x"
  with pytest.raises(KeyError, match="config.data.directory.*'dir'.*'source'"):
    config_lib.resolve(config)
  config = _config(tmp_path, suite=({"problem": "quadratic_deep", "epochs": 3},))
  with pytest.raises(KeyError, match=r"config.suite\[0\].'epochs'.*'num_epochs'"):
    config_lib.resolve(config)


def test_suite_entries_override_top_level(tmp_path):
  config = _config(tmp_path, num_seeds=2, suite=(
      {"problem": "quadratic_deep", "optimizer": "adam", "hparams": {"learning_rate": 0.1}},
      {"problem": "fmnist_2c2d", "optimizer": "sgd", "num_epochs": 3, "max_steps": 4}))
  first, second = config_lib.resolve(config)
  assert (first.problem, first.optimizer, first.hyperparams["learning_rate"]) == (
      "quadratic_deep", "adam", 0.1)
  assert first.hyperparams["b2"] == 0.999
  assert (second.problem, second.num_epochs, second.max_steps, second.batch_size) == (
      "fmnist_2c2d", 3, 4, 128)
  assert first.seeds == second.seeds == (42, 43)
  with pytest.raises(UnknownKeyError, match=r"config.suite\[0\].optimizer='nope'"):
    config_lib.resolve(_config(tmp_path, suite=({"optimizer": "nope"},)))


def test_unwritable_output_root_fails_early(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a folder")
  with pytest.raises(ConfigError, match="config.output_dir=.*a_file/results.*not a writable"):
    config_lib.resolve(_config(tmp_path, output_dir=str(blocker / "results")))
  with pytest.raises(ConfigError, match="config.output_dir"):
    config_lib.resolve(_config(tmp_path, output_dir=""))


def test_batch_size_larger_than_training_set_fails_before_compiling(tmp_path):
  from jaxbench.run import loop
  specs = config_lib.resolve(_config(tmp_path, problem="quadratic_deep", batch_size=5000))
  # quadratic_deep trains on 1,000 generated examples (SPEC P1).
  with pytest.raises(ValueError, match="batch_size.*5000"):
    loop.load_datasets(specs)


PAPER_SETTINGS = {  # SPEC section 1: (batch size, epochs)
    "quadratic_deep": (128, 100), "mnist_vae": (64, 50), "fmnist_2c2d": (128, 100),
    "cifar10_3c3d": (128, 100), "fmnist_vae": (64, 100), "cifar100_allcnnc": (256, 350),
    "svhn_wrn164": (128, 160), "tolstoi_char_rnn": (50, 200), "mnist_logreg": (128, 50),
    "mnist_2c2d": (128, 100)}


def test_one_experiment_per_problem_with_paper_settings(tmp_path):
  # Every problem has its own experiment (study configs such as crowded_valley sit beside them).
  files = {p.stem for p in EXPERIMENTS.glob("*.py")}
  assert set(problems.names()) <= files, sorted(set(problems.names()) - files)
  for name in problems.names():
    config = _load_experiment(name)
    config.output_dir = str(tmp_path / "out")
    (spec,) = config_lib.resolve(config)
    assert spec.problem == name
    assert spec.seeds == tuple(range(42, 52))  # SPEC section 5: seeds 42-51
    if name in PAPER_SETTINGS:
      assert (spec.batch_size, spec.num_epochs) == PAPER_SETTINGS[name], name


def test_quickstart_config(tmp_path):
  config = _load_experiment("quickstart")
  config.output_dir = str(tmp_path / "out")
  specs = config_lib.resolve(config)
  pairs = {(s.problem, s.optimizer) for s in specs}
  assert pairs == {(p, o) for p in ("quadratic_deep", "fmnist_2c2d")
                   for o in ("sgd", "momentum", "adam")}
  assert all(len(s.seeds) == 3 for s in specs)
  assert all(s.num_epochs <= 10 for s in specs)
  assert config.report is True  # the quickstart ends with the analysis report
  assert config_lib.base_config().report is False


@pytest.mark.parametrize("overrides,words", [
    ({"optimizer.learning_rate": -1.0}, ["config.optimizer", "learning_rate=-1.0", "[0, inf]"]),
    ({"optimizer.name": "adam", "optimizer.b1": 1.5}, ["b1=1.5", "[0, 1)"]),
    ({"optimizer.name": "lookahead_momentum", "optimizer.k": 0}, ["k=0", "integer"]),
])
def test_out_of_range_hyperparameters_fail_before_compiling(tmp_path, overrides, words):
  # The engine traces hyperparameters (no range check under jit), so resolve() must catch them.
  with pytest.raises(ConfigError) as info:
    config_lib.resolve(_config(tmp_path, **overrides))
  for word in words:
    assert word in str(info.value)


def test_schedule_with_steps_per_epoch_dependent_checks_is_accepted(tmp_path):
  # Defect 3: resolve() used to build the schedule at steps_per_epoch=1, so warmup_linear's
  # default warm-up (num_epochs / 20 = 0.25 epochs) "gave 0 warm-up steps" and a valid run was
  # refused. fmnist_2c2d has 50,000 training examples / 128 = 390 steps per epoch (SPEC P3), so
  # the warm-up is round(0.25 * 390) = 98 steps; the run layer checks that with the real count.
  (spec,) = config_lib.resolve(_config(tmp_path, problem="fmnist_2c2d", num_epochs=5,
                                       **{"schedule.name": "warmup_linear"}))
  assert (spec.schedule, spec.schedule_params, spec.num_epochs) == ("warmup_linear", {}, 5)


def test_schedule_params_placeholders_pass_only_set_values(tmp_path):
  config = config_lib.base_config()
  config.output_dir = str(tmp_path / "out")
  config.schedule.name = "warmup_linear"
  config.schedule.params.delta_t = 5.0
  config.schedule.params.then = "step_decay"
  config.schedule.params.then_params.k = 0.5
  (spec,) = config_lib.resolve(config)
  assert spec.schedule_params == {"delta_t": 5.0, "then": "step_decay", "then_params": {"k": 0.5}}
  config.schedule.name = "cosine_decay"  # takes delta_t and alpha_lo, not `then`
  with pytest.raises(UnknownKeyError) as info:
    config_lib.resolve(config)
  for word in ["config.schedule.params.then='step_decay'", "'cosine_decay'", "'alpha_lo'",
               "'delta_t'"]:
    assert word in str(info.value), (word, str(info.value))


def test_then_params_are_checked_against_the_following_schedule(tmp_path):
  config = _config(tmp_path, **{"schedule.name": "warmup_linear",
                                "schedule.params": {"then": "cosine", "then_params": {"k": 0.1}}})
  with pytest.raises(UnknownKeyError, match=r"then_params.k=0.1.*'cosine'.*none"):
    config_lib.resolve(config)
  # Default `then` of warmup_linear is cosine_decay, which takes alpha_lo and delta_t.
  config = _config(tmp_path, **{"schedule.name": "warmup_linear",
                                "schedule.params": {"then_params": {"period_mult": 2.0}}})
  with pytest.raises(UnknownKeyError, match=r"'cosine_decay'.*'alpha_lo', 'delta_t'"):
    config_lib.resolve(config)


@pytest.mark.parametrize("path", ["num_epochs", "schedule.params.delta_t",
                                  "schedule.params.then_params.alpha_lo",
                                  "problem_options.hessian_draw", "swa.start_epoch", "report",
                                  "optimizer.b1"])
def test_check_override_accepts_every_declared_key(path):
  config_lib.check_override(path)


@pytest.mark.parametrize("path, error, words", [
    ("num_epoch", UnknownKeyError, ["'config.num_epoch'", "did you mean 'num_epochs'?"]),
    ("schedule.params.warmup_epochs", UnknownKeyError,
     ["'config.schedule.params.warmup_epochs'", "'delta_t'", "'then_params'"]),
    ("optimizer.beta1", UnknownKeyError, ["'config.optimizer.beta1'", "'b1'"]),
    ("num_epochs.x", ConfigError, ["config.num_epochs is a single value"]),
])
def test_check_override_rejects_unknown_paths(path, error, words):
  with pytest.raises(error) as info:
    config_lib.check_override(path)
  for word in words:
    assert word in str(info.value), (word, str(info.value))


def test_hessian_draw_goes_to_problem_options_only_when_set(tmp_path):
  (spec,) = config_lib.resolve(_config(tmp_path))
  assert spec.problem_options == {}
  (spec,) = config_lib.resolve(_config(tmp_path, **{"problem_options.hessian_draw": 3}))
  assert spec.problem_options == {"hessian_draw": 3}
  # Draw 0 is the defined problem: the same runs as not setting it.
  (spec,) = config_lib.resolve(_config(tmp_path, **{"problem_options.hessian_draw": 0}))
  assert spec.problem_options == {}
  with pytest.raises(ConfigError, match=r"hessian_draw=-1 must be >= 0"):
    config_lib.resolve(_config(tmp_path, **{"problem_options.hessian_draw": -1}))
  with pytest.raises(ConfigError,
                     match=r"hessian_draw=2 is only valid for problem\(s\) 'quadratic_deep', "
                           r"not config.problem='fmnist_2c2d'"):
    config_lib.resolve(_config(tmp_path, problem="fmnist_2c2d",
                               **{"problem_options.hessian_draw": 2}))


def test_swa_start_epoch_goes_to_run_spec_and_must_precede_the_end(tmp_path):
  (spec,) = config_lib.resolve(_config(tmp_path))
  assert spec.swa_start_epoch is None
  (spec,) = config_lib.resolve(_config(tmp_path, num_epochs=5, **{"swa.start_epoch": 4}))
  assert spec.swa_start_epoch == 4
  with pytest.raises(ConfigError, match=r"config.swa.start_epoch=5 must be < config.num_epochs=5"):
    config_lib.resolve(_config(tmp_path, num_epochs=5, **{"swa.start_epoch": 5}))
  # A suite group's own (shorter) training counts.
  with pytest.raises(ConfigError, match=r"start_epoch=5 must be < config.suite\[1\].num_epochs=3"):
    config_lib.resolve(_config(tmp_path, num_epochs=8, suite=({}, {"num_epochs": 3}),
                               **{"swa.start_epoch": 5}))
