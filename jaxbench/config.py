"""Experiment configuration: the base ConfigDict, and its validation into concrete run specs.

Configs are ml_collections files (`experiments/*.py`, each `get_config() -> ConfigDict`) built on
`base_config()`, locked by `jaxbench.main`, and overridable from the command line as
`--config.optimizer.learning_rate=3e-4`. Locking means every overridable field must exist up
front, so optional fields are typed `placeholder`s (None = "use the default"):

- `optimizer.name` plus one placeholder per hyperparameter name known to *any* registered
  optimizer (learning_rate, beta1, ...). Only the ones that are set are passed on; setting one
  the chosen optimizer does not take is an error that lists the ones it does take.
- `batch_size`, `num_epochs`: None = the problem's defaults (SPEC section 1).
- `suite`: a tuple of dicts, each a run group that overrides the top-level fields (problem,
  optimizer, hparams, batch_size, num_epochs, max_steps, schedule, schedule_params). Empty = one
  group from the top-level fields.

`resolve(config)` checks everything that can be checked without compiling (names, keys, types,
ranges, the output root) and returns one `RunSpec` per group; `jaxbench.run.loop` checks the
batch size against the loaded training set before building the compiled step.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
import uuid
from typing import Any, Mapping, Optional

import ml_collections
from etils import epath
from ml_collections import config_dict

from jaxbench.run.spec import RunSpec

SUITE_KEYS = ("problem", "optimizer", "hparams", "batch_size", "num_epochs", "max_steps",
              "schedule", "schedule_params")
PROGRESS_MODES = ("auto", "bar", "lines", "none")


def _optimizer_hparam_types() -> dict[str, type]:
  """Union of hyperparameter names over all registered optimizers, typed by their defaults."""
  from jaxbench import optimizers
  types: dict[str, type] = {}
  for name in optimizers.names():
    for hp, value in optimizers.defaults(name).items():
      kind = (bool if isinstance(value, bool) else int if isinstance(value, int)
              else str if isinstance(value, str) else float)
      previous = types.get(hp, kind)
      types[hp] = kind if previous is kind else float  # ints and floats mixed: float
  return types


def base_config() -> ml_collections.ConfigDict:
  """Every key a jaxbench config may have, with its default."""
  config = ml_collections.ConfigDict()
  config.problem = "quadratic_deep"
  config.optimizer = ml_collections.ConfigDict()
  config.optimizer.name = "sgd"
  for hp, kind in sorted(_optimizer_hparam_types().items()):
    config.optimizer[hp] = config_dict.placeholder(kind)
  config.schedule = ml_collections.ConfigDict()
  config.schedule.name = "constant"
  config.schedule.params = ml_collections.ConfigDict()  # family parameters (config files only)
  config.seed = 42
  config.num_seeds = 1
  config.batch_size = config_dict.placeholder(int)
  config.num_epochs = config_dict.placeholder(int)
  config.max_steps = config_dict.placeholder(int)     # cap on training steps per epoch
  config.train_log_interval = 10
  config.data = ml_collections.ConfigDict()
  config.data.source = "auto"
  config.data.dir = config_dict.placeholder(str)
  config.data.synthetic_size = config_dict.placeholder(int)
  # Evaluate on the first N examples of train_eval/valid/test (None = the full sets, as SPEC).
  # A shortening for demos (the quickstart); recorded in each run's config.
  config.data.eval_size = config_dict.placeholder(int)
  config.output_dir = "results"
  config.checkpoint_every_epochs = 10                  # 0 disables checkpointing
  config.strategy = ml_collections.ConfigDict()
  config.strategy.runs = config_dict.placeholder(str)  # 'vmap' | 'loop'; None = engine's choice
  config.strategy.steps_per_dispatch = config_dict.placeholder(int)
  config.strategy.unroll = config_dict.placeholder(int)
  config.suite = ()
  config.progress = "auto"
  return config


def _choices(values) -> str:
  return ", ".join(repr(v) for v in sorted(values))


def _check_name(key: str, value: Any, valid) -> None:
  valid = list(valid)
  if not isinstance(value, str) or value not in valid:
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{key}={value!r} is unknown{hint}; valid choices: {_choices(valid)}")


def _check_int(key: str, value: Any, minimum: int, allow_none: bool = False) -> None:
  if value is None and allow_none:
    return
  if isinstance(value, bool) or not isinstance(value, int):
    raise TypeError(f"{key}={value!r} must be an int >= {minimum}"
                    + (" or None" if allow_none else ""))
  if value < minimum:
    raise ValueError(f"{key}={value} must be >= {minimum}")


def _check_keys(config: Mapping, reference: Mapping, prefix: str) -> None:
  """Unknown keys (a typo in a config file) and wrong types, against base_config()."""
  for key, value in config.items():
    path = f"{prefix}.{key}"
    if key not in reference:
      close = difflib.get_close_matches(key, list(reference), n=1)
      hint = f" (did you mean {close[0]!r}?)" if close else ""
      raise KeyError(f"unknown config key {path!r}{hint}; valid keys: {_choices(reference)}")
    ref = reference[key]
    if isinstance(ref, Mapping) and key not in ("params",):
      if not isinstance(value, Mapping):
        raise TypeError(f"{path} must be a group of keys {_choices(ref)}, got {value!r}")
      _check_keys(value, ref, path)


def _field_types(config: ml_collections.ConfigDict) -> dict:
  """Declared types of the base config's scalar fields, including placeholders."""
  types = {}
  for key in config.keys():
    ref = config.get_ref(key) if not isinstance(config[key], ml_collections.ConfigDict) else None
    if ref is not None:
      types[key] = ref.get_type()
    else:
      types[key] = _field_types(config[key])
  return types


def _check_types(config: Mapping, types: Mapping, prefix: str) -> None:
  for key, kind in types.items():
    if key not in config:
      continue
    value, path = config[key], f"{prefix}.{key}"
    if isinstance(kind, Mapping):
      if key != "params":
        _check_types(config[key], kind, path)
      continue
    if value is None or kind in (tuple, list, dict):
      continue
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
      ok = True
    if not ok:
      raise TypeError(f"{path}={value!r} has type {type(value).__name__}; expected "
                      f"{kind.__name__}")


def check_output_root(output_dir: str) -> epath.Path:
  """Creates the output root and proves it writable, so a run never dies at its final write."""
  if not isinstance(output_dir, str) or not output_dir:
    raise ValueError(f"config.output_dir={output_dir!r} must be a non-empty path")
  root = epath.Path(output_dir)
  probe = root / f".jaxbench_write_probe_{os.getpid()}_{uuid.uuid4().hex[:8]}"
  try:
    root.mkdir(parents=True, exist_ok=True)
    probe.write_text("ok")
    probe.unlink()
  except Exception as e:  # any backend error means: cannot write records there
    raise ValueError(f"config.output_dir={output_dir!r} is not a writable location: "
                     f"{type(e).__name__}: {e}") from e
  return root


def _resolve_group(config: Mapping, group: Mapping, index: Optional[int]) -> RunSpec:
  """One RunSpec from the top-level fields overridden by a suite entry."""
  from jaxbench import optimizers, problems, schedules
  where = "config" if index is None else f"config.suite[{index}]"
  for key in group:
    if key not in SUITE_KEYS:
      raise KeyError(f"unknown key {where}.{key!r}; valid keys: {_choices(SUITE_KEYS)}")
  problem_name = group.get("problem", config["problem"])
  _check_name(f"{where}.problem" if "problem" in group else "config.problem", problem_name,
              problems.names())
  opt_cfg = config["optimizer"]
  opt_name = group.get("optimizer", opt_cfg["name"])
  _check_name(f"{where}.optimizer" if "optimizer" in group else "config.optimizer.name", opt_name,
              optimizers.names())
  defaults = dict(optimizers.defaults(opt_name))
  explicit = {k: v for k, v in opt_cfg.items() if k != "name" and v is not None}
  explicit.update(group.get("hparams", {}) or {})
  for hp, value in explicit.items():
    if hp not in defaults:
      raise KeyError(f"config.optimizer.{hp}={value!r} is not a hyperparameter of optimizer "
                     f"{opt_name!r}; valid choices: {_choices(defaults)}")
    if isinstance(defaults[hp], str):
      if not isinstance(value, str):
        raise TypeError(f"config.optimizer.{hp}={value!r} must be a string like the default "
                        f"{defaults[hp]!r}")
      continue
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise TypeError(f"config.optimizer.{hp}={value!r} must be a number")
    if isinstance(defaults[hp], float):
      explicit[hp] = float(value)
  hyperparams = {**defaults, **explicit}
  # The engine traces hyperparameters (no range check inside jit), so check the values here,
  # before anything compiles.
  try:
    optimizers.check_hyperparams(opt_name, **hyperparams)
  except ValueError as e:
    raise ValueError(f"config.optimizer: {e}") from None

  sched_name = group.get("schedule", config["schedule"]["name"])
  _check_name(f"{where}.schedule" if "schedule" in group else "config.schedule.name", sched_name,
              schedules.names())
  sched_params = dict(group.get("schedule_params", config["schedule"]["params"]) or {})
  accepted = schedules.params(sched_name)
  for key in sched_params:
    if key not in accepted:
      raise KeyError(f"config.schedule.params.{key} is not a parameter of schedule "
                     f"{sched_name!r}; valid choices: {_choices(accepted) or 'none'}")

  problem = problems.get(problem_name)
  batch_size = group.get("batch_size", config["batch_size"])
  batch_size = problem.batch_size if batch_size is None else batch_size
  _check_int(f"{where}.batch_size", batch_size, 1)
  num_epochs = group.get("num_epochs", config["num_epochs"])
  num_epochs = problem.num_epochs if num_epochs is None else num_epochs
  _check_int(f"{where}.num_epochs", num_epochs, 1)
  # The schedule's own range checks (periods, rates) run on concrete values only: build it once.
  try:
    schedules.get(sched_name, float(hyperparams.get("learning_rate", 1.0)), num_epochs, 1,
                  **sched_params)
  except ValueError as e:
    raise ValueError(f"config.schedule: {e}") from None
  max_steps = group.get("max_steps", config["max_steps"])
  _check_int(f"{where}.max_steps", max_steps, 1, allow_none=True)
  _check_int("config.seed", config["seed"], 0)
  _check_int("config.num_seeds", config["num_seeds"], 1)
  _check_int("config.train_log_interval", config["train_log_interval"], 1)
  _check_int("config.data.eval_size", config["data"]["eval_size"], 1, allow_none=True)
  _check_int("config.checkpoint_every_epochs", config["checkpoint_every_epochs"], 0)
  _check_name("config.data.source", config["data"]["source"],
              ("auto", "files", "tfds", "synthetic", "generated"))
  strategy = {k: v for k, v in config["strategy"].items() if v is not None}
  if strategy:
    from jaxbench.train.strategy import Strategy
    Strategy(**strategy)  # raises with the valid choices
  seeds = tuple(config["seed"] + i for i in range(config["num_seeds"]))
  return RunSpec(
      problem=problem_name, optimizer=opt_name, hyperparams=hyperparams,
      explicit_hyperparams=explicit, schedule=sched_name, schedule_params=sched_params,
      seeds=seeds, batch_size=batch_size, num_epochs=num_epochs, max_steps=max_steps,
      train_log_interval=config["train_log_interval"], data_source=config["data"]["source"],
      data_dir=config["data"]["dir"], synthetic_size=config["data"]["synthetic_size"],
      eval_size=config["data"]["eval_size"],
      output_dir=config["output_dir"], checkpoint_every_epochs=config["checkpoint_every_epochs"],
      strategy=strategy or None)


def to_dict(config: Any) -> dict:
  return config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)


def resolve(config: Any, check_output: bool = True) -> list[RunSpec]:
  """Validates a config (ConfigDict or plain dict) and returns its run groups, in order.

  Raises KeyError/TypeError/ValueError naming the offending key and the valid choices. Nothing
  here compiles or loads data.
  """
  config = to_dict(config)
  base = base_config()
  _check_keys(config, base.to_dict(), "config")
  _check_types(config, _field_types(base), "config")
  merged = base.to_dict()
  for key, value in config.items():
    if isinstance(value, Mapping) and key in merged and isinstance(merged[key], Mapping) \
        and key != "suite":
      merged[key] = {**merged[key], **value}
    else:
      merged[key] = value
  if merged["progress"] not in PROGRESS_MODES:
    _check_name("config.progress", merged["progress"], PROGRESS_MODES)
  suite = merged["suite"]
  if not isinstance(suite, (tuple, list)):
    raise TypeError(f"config.suite={suite!r} must be a tuple of dicts with keys "
                    f"{_choices(SUITE_KEYS)}")
  groups = [(g, i) for i, g in enumerate(suite)] if suite else [({}, None)]
  specs = []
  for group, index in groups:
    if not isinstance(group, Mapping):
      raise TypeError(f"config.suite[{index}]={group!r} must be a dict with keys "
                      f"{_choices(SUITE_KEYS)}")
    specs.append(_resolve_group(merged, group, index))
  if check_output:
    check_output_root(merged["output_dir"])
  return specs


def problem_config(problem: str, optimizer: str = "adam") -> ml_collections.ConfigDict:
  """The paper's settings for one problem (SPEC sections 1 and 5): the problem's batch size and
  epochs, seeds 42-51, constant schedule, the optimizer at its one-shot defaults.

  Every `experiments/<problem>.py` is this one call, so the settings live in one place.
  """
  from jaxbench import problems
  _check_name("problem", problem, problems.names())
  config = base_config()
  config.problem = problem
  config.optimizer.name = optimizer
  config.seed = 42
  config.num_seeds = 10
  config.output_dir = "results"
  return config
