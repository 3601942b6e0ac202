"""The study as data: which problems, optimizers, schedules and budgets, validated into a `Study`.

A study config is an ml_collections file (`experiments/crowded_valley.py` and friends) whose
`get_config()` starts from `base_config()`. List-valued keys are comma-separated strings, so
every key is overridable on the command line the same way:

  --config.problems=quadratic_deep,fmnist_mlp --config.budgets=oneshot,small
  --config.extra_optimizers=my_pkg.my_module:make_optimizer

`from_config(config)` checks every key against the registries (unknown names fail with the valid
choices, as `jaxbench.errors.UnknownKeyError`), imports the bring-your-own optimizers, and
returns the frozen `Study` the planner and the driver work from.
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping, NamedTuple, Optional

import ml_collections
from ml_collections import config_dict

from jaxbench import config as config_lib
from jaxbench import optimizers, problems, schedules, tuning
from jaxbench.errors import ConfigError, UnknownKeyError

# Search budgets of SPEC section 5 (trials per budget); 'grid' is the DeepOBS baseline protocol.
SEARCHES = ("random", "lr_grid")
PROGRESS_MODES = ("auto", "bar", "lines", "none")
# Folder names of the per-budget result views, as the published Crowded Valley results
# (`results_main/<budget>/<schedule>/...`): budgets and the paper's schedules keep their names.
BUDGET_FOLDERS = {"oneshot": "oneshot", "small": "small_budget", "medium": "medium_budget",
                  "large": "large_budget", "grid": "grid"}
SCHEDULE_FOLDERS = {"constant": "none", "cosine": "cosine", "cosine_wr": "cosine_wr",
                    "trapezoidal": "ltr"}
# DeepOBS's baseline grid: 36 learning rates log-spaced over [1e-5, 1e2] (5 per decade).
DEEPOBS_LR_GRID = tuple(float(f"{10 ** (-5 + 7 * i / 35):.10e}") for i in range(36))


class Unit(NamedTuple):
  """One work unit: every run of one (problem, optimizer, schedule), all budgets together."""
  problem: str
  optimizer: str
  schedule: str

  def label(self) -> str:
    return f"{self.problem}/{self.optimizer}/{self.schedule}"


@dataclasses.dataclass(frozen=True)
class Training:
  """How long one problem trains in this study (None = the problem's paper setting)."""
  batch_size: int
  num_epochs: int
  max_steps: Optional[int]


@dataclasses.dataclass(frozen=True)
class Study:
  problems: tuple
  optimizers: tuple
  schedules: tuple
  budgets: tuple                # ordered: 'oneshot' first, then search budgets by size
  budget_sizes: Mapping         # search budget -> number of trials
  search: str                   # 'random' | 'lr_grid'
  lr_grid: tuple
  search_seed: int
  rerun_seeds: tuple
  narrow_start: Optional[int]   # trials from this index on draw a narrowed learning rate
  narrow_factor: float
  training: Mapping             # problem -> Training
  train_log_interval: int
  data_source: str
  data_dir: Optional[str]
  synthetic_size: Optional[int]
  eval_size: Optional[int]
  output_dir: str
  checkpoint_every_epochs: int
  max_runs_per_batch: Optional[int]
  memory_fraction: float
  strategy: Optional[dict]
  progress: str
  extra_optimizers: tuple       # the 'pkg.mod:factory' strings, as given

  def units(self) -> list[Unit]:
    """Every work unit, problem-major (the order shards split and the driver walks)."""
    return [Unit(p, o, s) for p in self.problems for o in self.optimizers for s in self.schedules]

  @property
  def search_budgets(self) -> tuple:
    return tuple(b for b in self.budgets if b != "oneshot")

  @property
  def num_trials(self) -> int:
    """Trials of the largest search budget (the nested budgets share them)."""
    return max((self.budget_sizes[b] for b in self.search_budgets), default=0)

  @property
  def oneshot_seeds(self) -> tuple:
    return (self.search_seed,) + self.rerun_seeds


def base_config() -> ml_collections.ConfigDict:
  """Every key a study config may have, with its default (the full Crowded Valley study)."""
  config = ml_collections.ConfigDict()
  config.problems = ",".join(("quadratic_deep", "mnist_vae", "fmnist_2c2d", "cifar10_3c3d",
                              "fmnist_vae", "cifar100_allcnnc", "svhn_wrn164",
                              "tolstoi_char_rnn"))
  config.optimizers = ",".join(optimizers.paper_names())
  config.schedules = ",".join(schedules.paper_names())
  config.budgets = "oneshot,small,medium,large"
  # Trials per search budget (SPEC: 25, 50, 75); 'small=2,medium=4,large=6' shrinks a study
  # for tests. Trials from the medium size on draw a narrowed learning rate (SPEC: 51-75).
  config.budget_sizes = ",".join(f"{k}={v}" for k, v in tuning.budgets().items() if v)
  config.search = "random"
  config.lr_grid = ""  # lr_grid search: comma-separated learning rates ('' = DeepOBS's 36)
  config.search_seed = 42
  config.num_rerun_seeds = 9  # the winner is re-run with seeds search_seed + 1, ..., + 9
  config.narrow_factor = tuning.NARROW_FACTOR
  config.num_epochs = config_dict.placeholder(int)  # None: per_problem, else the paper's
  config.max_steps = config_dict.placeholder(int)   # cap on the training steps of every run
  config.batch_size = config_dict.placeholder(int)
  # problem -> {'num_epochs': ..., 'max_steps': ..., 'batch_size': ...} (config files only).
  config.per_problem = ml_collections.ConfigDict()
  config.train_log_interval = 10
  config.data = config_lib.data_config()
  config.output_dir = "results/crowded_valley"
  config.checkpoint_every_epochs = 10
  config.max_runs_per_batch = config_dict.placeholder(int)  # None: from memory per run
  config.memory_fraction = 0.5  # of the device's memory one batch may plan to use
  config.strategy = ml_collections.ConfigDict()
  config.strategy.runs = config_dict.placeholder(str)
  config.strategy.steps_per_dispatch = config_dict.placeholder(int)
  config.strategy.unroll = config_dict.placeholder(int)
  config.extra_optimizers = ""  # comma-separated 'pkg.module:factory' (bring your own)
  config.progress = "auto"
  return config


def _names(key: str, value: Any) -> tuple:
  if isinstance(value, (tuple, list)):
    items = [str(v).strip() for v in value]
  elif isinstance(value, str):
    items = [v.strip() for v in value.split(",")]
  else:
    raise ConfigError(f"config.{key}={value!r} must be a comma-separated string of names")
  items = [v for v in items if v]
  if len(set(items)) != len(items):
    raise ConfigError(f"config.{key}={value!r} names something twice")
  return tuple(items)


def _check_names(key: str, names: tuple, valid, allow_empty: bool = False) -> tuple:
  valid = list(valid)
  if not names and not allow_empty:
    raise ConfigError(f"config.{key} is empty; valid choices: {', '.join(valid)}")
  for name in names:
    if name not in valid:
      close = difflib.get_close_matches(name, valid, n=1)
      hint = f" (did you mean {close[0]!r}?)" if close else ""
      raise UnknownKeyError(f"config.{key}: {name!r} is unknown{hint}; valid choices: "
                            f"{', '.join(valid)}")
  return names


def _positive(key: str, value: Any, allow_none: bool = True, minimum: int = 1) -> Optional[int]:
  if value is None and allow_none:
    return None
  if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
    raise ConfigError(f"config.{key}={value!r} must be an integer >= {minimum}"
                      + (" or None" if allow_none else ""))
  return value


def _budget_sizes(value: Any) -> dict:
  """'small=25,medium=50,large=75' -> {'small': 25, ...}: nested, so strictly increasing."""
  sizes = {}
  for item in _names("budget_sizes", value):
    name, _, size = item.partition("=")
    if name not in ("small", "medium", "large") or not size.strip().isdigit():
      raise ConfigError(f"config.budget_sizes: {item!r} must be <budget>=<trials> with budget "
                        "one of small, medium, large")
    sizes[name] = int(size)
  if sorted(sizes) != ["large", "medium", "small"]:
    raise ConfigError(f"config.budget_sizes={value!r} must size small, medium and large")
  if not 0 < sizes["small"] < sizes["medium"] < sizes["large"]:
    raise ConfigError(f"config.budget_sizes={value!r}: budgets nest, so 0 < small < medium < "
                      "large")
  return sizes


def load_extra_optimizers(specs: tuple) -> tuple:
  """Imports and registers each 'pkg.module:factory'; returns the registered names."""
  loaded = []
  for spec in specs:
    if ":" not in spec:
      raise ConfigError(f"config.extra_optimizers: {spec!r} must be 'package.module:factory'")
    loaded.append(optimizers.load_external(spec))
  return tuple(loaded)


def _training(config: Mapping, problem: str) -> Training:
  spec = problems.get(problem)
  own = dict(config["per_problem"].get(problem, {}) or {})
  unknown = set(own) - {"num_epochs", "max_steps", "batch_size"}
  if unknown:
    raise UnknownKeyError(f"config.per_problem.{problem}: unknown key(s) {sorted(unknown)}; "
                          "valid choices: batch_size, max_steps, num_epochs")
  pick = lambda key, default: (config[key] if config[key] is not None
                               else own.get(key, default))
  return Training(
      batch_size=_positive(f"batch_size ({problem})", pick("batch_size", spec.batch_size), False),
      num_epochs=_positive(f"num_epochs ({problem})", pick("num_epochs", spec.num_epochs), False),
      max_steps=_positive(f"max_steps ({problem})", pick("max_steps", None)))


def from_config(config: Any) -> Study:
  """Validates a study config (ConfigDict or dict) into a Study; registers extra optimizers."""
  config = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
  reference = base_config().to_dict()
  for key in config:
    if key not in reference:
      close = difflib.get_close_matches(key, list(reference), n=1)
      hint = f" (did you mean {close[0]!r}?)" if close else ""
      raise UnknownKeyError(f"unknown config key 'config.{key}'{hint}; valid keys: "
                            f"{', '.join(sorted(reference))}")
  config = {**reference, **config}
  extras = load_extra_optimizers(_names("extra_optimizers", config["extra_optimizers"]))
  problem_names = _check_names("problems", _names("problems", config["problems"]),
                               problems.names())
  for key in config["per_problem"]:
    _check_names("per_problem", (key,), problems.names())
  optimizer_names = _check_names("optimizers", _names("optimizers", config["optimizers"]),
                                 optimizers.names(), allow_empty=bool(extras))
  optimizer_names += tuple(name for name in extras if name not in optimizer_names)
  schedule_names = _check_names("schedules", _names("schedules", config["schedules"]),
                                schedules.names())
  search = _check_names("search", (config["search"],), SEARCHES)[0]
  if search == "lr_grid":
    grid = tuple(float(v) for v in _names("lr_grid", config["lr_grid"])) or DEEPOBS_LR_GRID
    sizes = {"grid": len(grid)}
  else:
    grid = ()
    sizes = _budget_sizes(config["budget_sizes"])
  budgets = _check_names("budgets", _names("budgets", config["budgets"]),
                         ("oneshot",) + tuple(sizes))
  budgets = tuple(sorted(budgets, key=lambda b: sizes.get(b, 0)))
  factor = config["narrow_factor"]
  if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1:
    raise ConfigError(f"config.narrow_factor={factor!r} must be a number > 1")
  seed = _positive("search_seed", config["search_seed"], False, minimum=0)
  num_reruns = _positive("num_rerun_seeds", config["num_rerun_seeds"], False, minimum=0)
  _check_names("progress", (config["progress"],), PROGRESS_MODES)
  fraction = config["memory_fraction"]
  if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) \
      or not 0 < fraction <= 1:
    raise ConfigError(f"config.memory_fraction={fraction!r} must lie in (0, 1]")
  output_dir = config["output_dir"]
  if not isinstance(output_dir, str) or not output_dir:
    raise ConfigError(f"config.output_dir={output_dir!r} must be a non-empty path")
  data = {**reference["data"], **(config["data"] or {})}
  _check_names("data.source", (data["source"],),
               ("auto", "files", "tfds", "synthetic", "generated"))
  strategy = {k: v for k, v in (config["strategy"] or {}).items() if v is not None}
  return Study(
      problems=problem_names, optimizers=optimizer_names, schedules=schedule_names,
      budgets=budgets, budget_sizes=sizes, search=search, lr_grid=grid, search_seed=seed,
      rerun_seeds=tuple(seed + 1 + i for i in range(num_reruns)),
      narrow_start=sizes["medium"] if search == "random" else None,
      narrow_factor=float(factor),
      training={p: _training(config, p) for p in problem_names},
      train_log_interval=_positive("train_log_interval", config["train_log_interval"], False),
      data_source=data["source"], data_dir=data["dir"],
      synthetic_size=_positive("data.synthetic_size", data["synthetic_size"]),
      eval_size=_positive("data.eval_size", data["eval_size"]),
      output_dir=output_dir,
      checkpoint_every_epochs=_positive("checkpoint_every_epochs",
                                        config["checkpoint_every_epochs"], False, minimum=0),
      max_runs_per_batch=_positive("max_runs_per_batch", config["max_runs_per_batch"]),
      memory_fraction=float(fraction), strategy=strategy or None,
      progress=config["progress"], extra_optimizers=_names("extra_optimizers",
                                                           config["extra_optimizers"]))
