"""Experiment configuration: the base ConfigDict, and its validation into concrete run specs.

Configs are ml_collections files (`experiments/*.py`, each `get_config() -> ConfigDict`) built on
`base_config()`, locked by `jaxbench.main`, and overridable from the command line as
`--config.optimizer.learning_rate=3e-4`. Locking means every overridable field must exist up
front, so optional fields are typed `placeholder`s (None = "use the default"):

- `optimizer.name` plus one placeholder per hyperparameter name known to *any* registered
  optimizer (learning_rate, b1, ...). Only the ones that are set are passed on; setting one
  the chosen optimizer does not take is an error that lists the ones it does take.
- `schedule.name` plus `schedule.params`: one placeholder per parameter name known to any
  schedule family (delta_t, k, alpha_lo, ...; `then_params` is a group of the same names for the
  schedule that follows a warm-up), handled like the optimizer's.
- `batch_size`, `num_epochs`: None = the problem's defaults (SPEC section 1).
- `problem_options.hessian_draw` (quadratic_deep only), `swa.start_epoch`: None = off.
- `suite`: a tuple of dicts, each a run group that overrides the top-level fields (problem,
  optimizer, hparams, batch_size, num_epochs, max_steps, schedule, schedule_params). Empty = one
  group from the top-level fields.

`resolve(config)` checks everything that can be checked without data (names, keys, types,
ranges, the output root) and returns one `RunSpec` per group; every failure is a
`jaxbench.errors.ConfigError` (an `UnknownKeyError` for unknown names and keys) naming the key
and the valid choices. What needs the loaded training set (the batch size against its size, a
schedule's step counts at the real steps per epoch) is checked by `jaxbench.run.loop` before
anything compiles.
"""
from __future__ import annotations

import difflib
import os
import uuid
from typing import Any, Mapping, Optional

import ml_collections
from etils import epath
from ml_collections import config_dict

from jaxbench import optimizers
from jaxbench import problems
from jaxbench import schedules
from jaxbench.errors import ConfigError
from jaxbench.errors import UnknownKeyError
from jaxbench.run.spec import RunSpec
from jaxbench.train.strategy import Strategy

SUITE_KEYS = ("problem", "optimizer", "hparams", "batch_size", "num_epochs", "max_steps",
              "schedule", "schedule_params")
PROGRESS_MODES = ("auto", "bar", "lines", "none")
# problem option -> the problems that take it (passed to `problems.get` as keywords). DeepOBS
# draws a new Hessian for every quadratic it builds; the other problems have nothing to draw.
PROBLEM_OPTIONS = {"hessian_draw": ("quadratic_deep",)}


def _kind(value: Any) -> type:
  return (bool if isinstance(value, bool) else int if isinstance(value, int)
          else str if isinstance(value, str) else dict if isinstance(value, Mapping) else float)


def _union_types(named_defaults) -> dict[str, type]:
  """Union of parameter names over (name -> defaults) pairs, typed by their default values."""
  types: dict[str, type] = {}
  for defaults in named_defaults:
    for key, value in defaults.items():
      kind = _kind(value)
      previous = types.get(key, kind)
      types[key] = kind if previous is kind else float  # ints and floats mixed: float
  return types


def _optimizer_hparam_types() -> dict[str, type]:
  return _union_types(optimizers.defaults(name) for name in optimizers.names())


def _schedule_params_group() -> ml_collections.ConfigDict:
  """Placeholders for every schedule family's parameters. A dict-valued parameter (a warm-up's
  `then_params`) becomes a group of the parameters of the schedules that may follow a warm-up:
  those without a dict-valued parameter of their own."""
  every = [schedules.params(name) for name in schedules.names()]
  following = [p for p in every if not any(isinstance(v, Mapping) for v in p.values())]
  group = ml_collections.ConfigDict()
  for key, kind in sorted(_union_types(every).items()):
    group[key] = (_placeholders(_union_types(following)) if kind is dict
                  else config_dict.placeholder(kind))
  return group


def _placeholders(types: Mapping[str, type]) -> ml_collections.ConfigDict:
  group = ml_collections.ConfigDict()
  for key, kind in sorted(types.items()):
    group[key] = config_dict.placeholder(kind)
  return group


def data_config() -> ml_collections.ConfigDict:
  """The `data` group, shared by run configs and study configs (jaxbench.sweep)."""
  data = ml_collections.ConfigDict()
  data.source = "auto"
  data.dir = config_dict.placeholder(str)
  data.synthetic_size = config_dict.placeholder(int)
  # Evaluate on the first N examples of train_eval/valid/test (None = the full sets, as SPEC).
  # A shortening for demos (the quickstart); recorded in each run's config.
  data.eval_size = config_dict.placeholder(int)
  return data


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
  config.schedule.params = _schedule_params_group()  # None = the family's default
  config.seed = 42
  config.num_seeds = 1
  config.batch_size = config_dict.placeholder(int)
  config.num_epochs = config_dict.placeholder(int)
  config.max_steps = config_dict.placeholder(int)     # cap on the total training steps
  config.train_log_interval = 10
  config.data = data_config()
  config.output_dir = "results"
  config.checkpoint_every_epochs = 10                  # 0 disables checkpointing
  config.strategy = ml_collections.ConfigDict()
  config.strategy.runs = config_dict.placeholder(str)  # 'vmap' | 'loop'; None = engine's choice
  config.strategy.steps_per_dispatch = config_dict.placeholder(int)
  config.strategy.unroll = config_dict.placeholder(int)
  config.strategy.conv_impl = config_dict.placeholder(str)  # 'xla' | 'matmul'; None = policy's
  config.strategy.rnn_impl = config_dict.placeholder(str)  # 'xla' | 'onednn'; None = policy's
  config.problem_options = ml_collections.ConfigDict()
  # The k-th Hessian DeepOBS draws for quadratic_deep (None = 0 = the defined problem).
  config.problem_options.hessian_draw = config_dict.placeholder(int)
  config.swa = ml_collections.ConfigDict()
  # Stochastic weight averaging of the weights after each training epoch >= start_epoch
  # (counted from 0, as the engine does); the average is evaluated and recorded. None = no SWA.
  config.swa.start_epoch = config_dict.placeholder(int)
  config.suite = ()
  config.progress = "auto"
  # After the runs, write the analysis report next to the results (`<output_dir>_report/`).
  config.report = False
  return config


def _choices(values) -> str:
  return ", ".join(repr(v) for v in sorted(values))


def _did_you_mean(value: Any, valid) -> str:
  close = difflib.get_close_matches(str(value), list(valid), n=1)
  return f" (did you mean {close[0]!r}?)" if close else ""


def _check_name(key: str, value: Any, valid) -> None:
  valid = list(valid)
  if not isinstance(value, str) or value not in valid:
    raise UnknownKeyError(f"{key}={value!r} is unknown{_did_you_mean(value, valid)}; valid "
                          f"choices: {_choices(valid)}")


def _check_int(key: str, value: Any, minimum: int, allow_none: bool = False) -> None:
  if value is None and allow_none:
    return
  if isinstance(value, bool) or not isinstance(value, int):
    raise ConfigError(f"{key}={value!r} must be an int >= {minimum}"
                      + (" or None" if allow_none else ""))
  if value < minimum:
    raise ConfigError(f"{key}={value} must be >= {minimum}")


def _unknown_key(path: str, key: str, reference: Mapping) -> UnknownKeyError:
  return UnknownKeyError(f"unknown config key {path!r}{_did_you_mean(key, reference)}; valid "
                         f"keys: {_choices(reference)}")


def _check_keys(config: Mapping, reference: Mapping, prefix: str) -> None:
  """Unknown keys (a typo in a config file) and wrong types, against base_config()."""
  for key, value in config.items():
    path = f"{prefix}.{key}"
    if key not in reference:
      raise _unknown_key(path, key, reference)
    ref = reference[key]
    # Schedule parameters are checked against the chosen schedule (`_schedule_params`), which
    # names that schedule's valid ones.
    if isinstance(ref, Mapping) and key not in ("params",):
      if not isinstance(value, Mapping):
        raise ConfigError(f"{path} must be a group of keys {_choices(ref)}, got {value!r}")
      _check_keys(value, ref, path)


def check_override(path: str) -> None:
  """Checks a command-line override path such as 'schedule.params.delta_t' against
  base_config(), so a typo fails with one line and the closest key instead of a flag trace."""
  reference: Any = base_config().to_dict()
  walked = "config"
  for key in path.split("."):
    if not isinstance(reference, Mapping):
      raise ConfigError(f"{walked} is a single value, not a group of keys; cannot set "
                        f"config.{path}")
    if key not in reference:
      raise _unknown_key(f"{walked}.{key}", key, reference)
    reference, walked = reference[key], f"{walked}.{key}"


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
      raise ConfigError(f"{path}={value!r} has type {type(value).__name__}; expected "
                        f"{kind.__name__}")


def check_output_root(output_dir: str) -> epath.Path:
  """Creates the output root and proves it writable, so a run never dies at its final write."""
  if not isinstance(output_dir, str) or not output_dir:
    raise ConfigError(f"config.output_dir={output_dir!r} must be a non-empty path")
  root = epath.Path(output_dir)
  probe = root / f".jaxbench_write_probe_{os.getpid()}_{uuid.uuid4().hex[:8]}"
  try:
    root.mkdir(parents=True, exist_ok=True)
    probe.write_text("ok")
    probe.unlink()
  except Exception as e:  # any backend error means: cannot write records there
    raise ConfigError(f"config.output_dir={output_dir!r} is not a writable location: "
                      f"{type(e).__name__}: {e}") from e
  return root


def _set_values(params: Mapping) -> dict:
  """The parameters that are set: placeholders left at None are dropped, and so is a group of
  placeholders none of which is set (an explicitly empty dict from a config file stays)."""
  out = {}
  for key, value in params.items():
    if isinstance(value, Mapping):
      inner = _set_values(value)
      if inner or not value:
        out[key] = inner
    elif value is not None:
      out[key] = value
  return out


def _schedule_params(where: str, name: str, params: Mapping) -> dict:
  """The set parameters of schedule `name`, each checked to be one that schedule takes.

  Only names are checked here: the values' ranges depend on the steps per epoch, which the run
  layer knows once the training set is loaded (it builds every schedule before compiling).
  """
  params = _set_values(params)
  accepted = schedules.params(name)
  for key, value in params.items():
    if key not in accepted:
      raise UnknownKeyError(
          f"{where}.{key}={value!r} is not a parameter of schedule {name!r}"
          f"{_did_you_mean(key, accepted)}; valid choices: {_choices(accepted) or 'none'}")
  if "then" in params:
    _check_name(f"{where}.then", params["then"], schedules.names())
  if isinstance(params.get("then_params"), Mapping):
    then = params.get("then", accepted.get("then"))
    following = schedules.params(then)
    for key, value in params["then_params"].items():
      if key not in following:
        raise UnknownKeyError(
            f"{where}.then_params.{key}={value!r} is not a parameter of schedule {then!r}"
            f"{_did_you_mean(key, following)}; valid choices: {_choices(following) or 'none'}")
  return params


def _problem_options(where: str, problem_name: str, options: Mapping) -> dict:
  """The set problem options, as keywords of `problems.get`.

  hessian_draw=0 is the defined problem, the same as not setting it, so it is dropped: both
  spellings then name the same runs.
  """
  options = _set_values(options)
  for key, value in options.items():
    valid = PROBLEM_OPTIONS[key]
    if problem_name not in valid:
      raise ConfigError(f"config.problem_options.{key}={value!r} is only valid for problem(s) "
                        f"{_choices(valid)}, not {where}={problem_name!r}")
    _check_int(f"config.problem_options.{key}", value, 0)
  return {key: value for key, value in options.items() if value != 0}


def _resolve_group(config: Mapping, group: Mapping, index: Optional[int]) -> RunSpec:
  """One RunSpec from the top-level fields overridden by a suite entry."""
  where = "config" if index is None else f"config.suite[{index}]"
  for key in group:
    if key not in SUITE_KEYS:
      raise UnknownKeyError(f"unknown key {where}.{key!r}{_did_you_mean(key, SUITE_KEYS)}; "
                            f"valid keys: {_choices(SUITE_KEYS)}")
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
      raise UnknownKeyError(
          f"config.optimizer.{hp}={value!r} is not a hyperparameter of optimizer {opt_name!r}"
          f"{_did_you_mean(hp, defaults)}; valid choices: {_choices(defaults)}")
    if isinstance(defaults[hp], str):
      if not isinstance(value, str):
        raise ConfigError(f"config.optimizer.{hp}={value!r} must be a string like the default "
                          f"{defaults[hp]!r}")
      continue
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise ConfigError(f"config.optimizer.{hp}={value!r} must be a number")
    if isinstance(defaults[hp], float):
      explicit[hp] = float(value)
  hyperparams = {**defaults, **explicit}
  # The engine traces hyperparameters (no range check inside jit), so check the values here,
  # before anything compiles.
  try:
    optimizers.check_hyperparams(opt_name, **hyperparams)
  except ValueError as e:
    raise ConfigError(f"config.optimizer: {e}") from None

  sched_name = group.get("schedule", config["schedule"]["name"])
  _check_name(f"{where}.schedule" if "schedule" in group else "config.schedule.name", sched_name,
              schedules.names())
  sched_params = _schedule_params(
      f"{where}.schedule_params" if "schedule_params" in group else "config.schedule.params",
      sched_name, group.get("schedule_params", config["schedule"]["params"]) or {})

  problem = problems.get(problem_name)
  batch_size = group.get("batch_size", config["batch_size"])
  batch_size = problem.batch_size if batch_size is None else batch_size
  _check_int(f"{where}.batch_size", batch_size, 1)
  num_epochs = group.get("num_epochs", config["num_epochs"])
  num_epochs = problem.num_epochs if num_epochs is None else num_epochs
  _check_int(f"{where}.num_epochs", num_epochs, 1)
  max_steps = group.get("max_steps", config["max_steps"])
  _check_int(f"{where}.max_steps", max_steps, 1, allow_none=True)
  problem_options = _problem_options(f"{where}.problem" if "problem" in group else "config.problem",
                                     problem_name, config["problem_options"])
  swa_start_epoch = config["swa"]["start_epoch"]
  _check_int("config.swa.start_epoch", swa_start_epoch, 0, allow_none=True)
  if swa_start_epoch is not None and swa_start_epoch >= num_epochs:
    raise ConfigError(f"config.swa.start_epoch={swa_start_epoch} must be < {where}.num_epochs="
                      f"{num_epochs} (the average needs at least one epoch to collect)")
  _check_int("config.seed", config["seed"], 0)
  _check_int("config.num_seeds", config["num_seeds"], 1)
  _check_int("config.train_log_interval", config["train_log_interval"], 1)
  _check_int("config.data.eval_size", config["data"]["eval_size"], 1, allow_none=True)
  _check_int("config.checkpoint_every_epochs", config["checkpoint_every_epochs"], 0)
  _check_name("config.data.source", config["data"]["source"],
              ("auto", "files", "tfds", "synthetic", "generated"))
  strategy = {k: v for k, v in config["strategy"].items() if v is not None}
  if strategy:
    try:
      Strategy(**strategy)  # its message names the valid choices
    except ValueError as e:
      raise ConfigError(f"config.strategy: {e}") from None
  seeds = tuple(config["seed"] + i for i in range(config["num_seeds"]))
  return RunSpec(
      problem=problem_name, optimizer=opt_name, hyperparams=hyperparams,
      explicit_hyperparams=explicit, schedule=sched_name, schedule_params=sched_params,
      seeds=seeds, batch_size=batch_size, num_epochs=num_epochs, max_steps=max_steps,
      train_log_interval=config["train_log_interval"], data_source=config["data"]["source"],
      data_dir=config["data"]["dir"], synthetic_size=config["data"]["synthetic_size"],
      eval_size=config["data"]["eval_size"],
      output_dir=config["output_dir"], checkpoint_every_epochs=config["checkpoint_every_epochs"],
      strategy=strategy or None, problem_options=problem_options,
      swa_start_epoch=swa_start_epoch)


def to_dict(config: Any) -> dict:
  return config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)


def resolve(config: Any, check_output: bool = True) -> list[RunSpec]:
  """Validates a config (ConfigDict or plain dict) and returns its run groups, in order.

  Raises ConfigError (UnknownKeyError for unknown names and keys) naming the offending key and
  the valid choices. Nothing here compiles or loads data.
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
    raise ConfigError(f"config.suite={suite!r} must be a tuple of dicts with keys "
                      f"{_choices(SUITE_KEYS)}")
  groups = [(g, i) for i, g in enumerate(suite)] if suite else [({}, None)]
  specs = []
  for group, index in groups:
    if not isinstance(group, Mapping):
      raise ConfigError(f"config.suite[{index}]={group!r} must be a dict with keys "
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
  _check_name("problem", problem, problems.names())
  config = base_config()
  config.problem = problem
  config.optimizer.name = optimizer
  config.seed = 42
  config.num_seeds = 10
  config.output_dir = "results"
  return config
