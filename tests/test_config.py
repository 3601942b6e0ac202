"""Config validation: every bad config fails before compiling, naming the key and the choices."""
from __future__ import annotations

import importlib.util
import pathlib

import pytest

from jaxbench import config as config_lib
from jaxbench import problems

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


@pytest.mark.parametrize("key, value, error, words", [
    ("problem", "fmnist_2c3d", ValueError, ["config.problem", "'fmnist_2c2d'", "valid choices"]),
    ("optimizer.name", "adamm", ValueError, ["config.optimizer.name", "'adam'", "'sgd'"]),
    ("schedule.name", "cosinus", ValueError, ["config.schedule.name", "'cosine'", "'cosine_wr'"]),
    ("optimizer.rho", 0.9, KeyError, ["config.optimizer.rho", "'sgd'", "'learning_rate'"]),
    ("num_seeds", 0, ValueError, ["config.num_seeds", ">= 1"]),
    ("num_seeds", "3", TypeError, ["config.num_seeds", "int"]),
    ("num_epochs", 2.5, TypeError, ["config.num_epochs", "int"]),
    ("optimizer.learning_rate", "fast", TypeError, ["config.optimizer.learning_rate", "float"]),
    ("batch_size", 0, ValueError, ["batch_size", ">= 1"]),
    ("data.source", "internet", ValueError, ["config.data.source", "'files'", "'tfds'"]),
    ("progress", "fancy", ValueError, ["config.progress", "'bar'", "'lines'"]),
    ("strategy.runs", "pmap", ValueError, ["'pmap'", "'vmap'", "'loop'"]),
    ("schedule.params", {"wiggle": 1}, KeyError, ["wiggle", "'constant'"]),
])
def test_bad_values_name_key_and_choices(tmp_path, key, value, error, words):
  with pytest.raises(error) as info:
    config_lib.resolve(_config(tmp_path, **{key: value}))
  message = str(info.value)
  for word in words:
    assert word in message, (word, message)


def test_unknown_keys(tmp_path):
  config = _config(tmp_path)
  config["num_epoch"] = 3
  with pytest.raises(KeyError, match="config.num_epoch.*did you mean 'num_epochs'.*valid keys"):
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
  with pytest.raises(ValueError, match=r"config.suite\[0\].optimizer='nope'"):
    config_lib.resolve(_config(tmp_path, suite=({"optimizer": "nope"},)))


def test_unwritable_output_root_fails_early(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a folder")
  with pytest.raises(ValueError, match="config.output_dir=.*a_file/results.*not a writable"):
    config_lib.resolve(_config(tmp_path, output_dir=str(blocker / "results")))
  with pytest.raises(ValueError, match="config.output_dir"):
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
  files = {p.stem for p in EXPERIMENTS.glob("*.py")} - {"quickstart", "__init__"}
  assert files == set(problems.names())
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


@pytest.mark.parametrize("overrides,words", [
    ({"optimizer.learning_rate": -1.0}, ["config.optimizer", "learning_rate=-1.0", "[0, inf]"]),
    ({"optimizer.name": "adam", "optimizer.b1": 1.5}, ["b1=1.5", "[0, 1)"]),
    ({"optimizer.name": "lookahead_momentum", "optimizer.k": 0}, ["k=0", "integer"]),
])
def test_out_of_range_hyperparameters_fail_before_compiling(tmp_path, overrides, words):
  # The engine traces hyperparameters (no range check under jit), so resolve() must catch them.
  with pytest.raises(ValueError) as info:
    config_lib.resolve(_config(tmp_path, **overrides))
  for word in words:
    assert word in str(info.value)


def test_invalid_schedule_parameter_value_fails_before_compiling(tmp_path):
  with pytest.raises(ValueError) as info:
    config_lib.resolve(_config(tmp_path, **{"schedule.name": "step_decay",
                                            "schedule.params": {"delta_t": 0.0}}))
  assert "config.schedule" in str(info.value) and "delta_t" in str(info.value)
