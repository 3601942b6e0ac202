"""Random search of the Crowded Valley protocol (SPEC sections 3 and 5), reproducibly.

Common random numbers: the uniform number u behind trial i's value of hyperparameter NAME is a
pure function of (base_seed, i, NAME):

    u = Generator(PCG64(SeedSequence([base_seed, i, key(NAME)]))).random()
    key(NAME) = first 8 bytes of sha256(NAME as UTF-8), read little-endian

so trial i of every optimizer draws the same learning rate, the same b1, ... whatever else its
space holds, in every process (no dependence on Python's salted hash() or on dict order).
Budgets nest for free: trial i is the same in the 25-, 50- and 75-trial searches. Trials 51-75
(indices 50-74) draw the learning rate from a range narrowed around the best of the first 50.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Mapping, Sequence

import numpy as np

from jaxbench.errors import ConfigError
from jaxbench.tuning import space as space_lib

Space = Mapping[str, space_lib.Distribution]

NARROW_START = 50  # trials with index >= 50 (the 51st to 75th) use the narrowed range
NARROW_FACTOR = 2.0  # the paper does not state its rule; about 2 each way matches its data
NARROW_NAME = "learning_rate"

_DISTRIBUTIONS = (space_lib.LogUniform, space_lib.OneMinusLogUniform, space_lib.Uniform,
                  space_lib.IntUniform)


def budgets() -> dict[str, int]:
  """Number of search trials per budget (one-shot runs the defaults, no search)."""
  return {"oneshot": 0, "small": 25, "medium": 50, "large": 75}


def name_key(name: str) -> int:
  """A stable 64-bit integer for a hyperparameter name (the same in every process)."""
  return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def _check_index(what: str, value: int) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
    raise ConfigError(f"{what}={value!r} must be an integer >= 0")
  return int(value)


def uniform(trial: int, name: str, base_seed: int = 42) -> float:
  """The common random number u in [0, 1) of (trial, hyperparameter name)."""
  trial = _check_index("trial", trial)
  base_seed = _check_index("base_seed", base_seed)
  if not isinstance(name, str) or not name:
    raise ConfigError(f"hyperparameter name {name!r} must be a non-empty string")
  seed = np.random.SeedSequence([base_seed, trial, name_key(name)])
  return float(np.random.Generator(np.random.PCG64(seed)).random())


def _value(distribution, u: float):
  if not isinstance(distribution, _DISTRIBUTIONS):
    valid = [d.__name__ for d in _DISTRIBUTIONS]
    raise ConfigError(f"unsupported distribution {distribution!r}; valid choices: {valid}")
  value = distribution.transform(u)
  return int(value) if isinstance(distribution, space_lib.IntUniform) else float(value)


def sample(space: Space, trial: int, base_seed: int = 42) -> dict[str, Any]:
  """Trial `trial`'s hyperparameters: {name: value} for every name of the space."""
  return {name: _value(dist, uniform(trial, name, base_seed)) for name, dist in space.items()}


def narrowed_space(space: Space, center: float, factor: float = NARROW_FACTOR,
                   name: str = NARROW_NAME) -> dict[str, space_lib.Distribution]:
  """The space with `name`'s log-range cut to [center / factor, center * factor] (clipped)."""
  if name not in space:
    raise ConfigError(f"cannot narrow {name!r}: not in the space; valid choices: {sorted(space)}")
  dist = space[name]
  if not isinstance(dist, space_lib.LogUniform):
    raise ConfigError(f"cannot narrow {name!r}: {dist!r} is not a LogUniform")
  return {**space, name: dist.narrowed(float(center), float(factor))}


def _check_space(space: Space) -> Space:
  if not isinstance(space, Mapping):
    raise ConfigError(
        f"search space {space!r} must be a mapping name -> distribution (e.g. "
        "jaxbench.optimizers.search_space('adam')); tuning never looks optimizers up itself")
  return space


def sample_trials(space: Space, num_trials: int, base_seed: int = 42,
                  narrow_from: float | Mapping[str, Any] | None = None, *,
                  narrow_start: int | None = NARROW_START, narrow_factor: float = NARROW_FACTOR,
                  narrow_name: str = NARROW_NAME) -> list[dict[str, Any]]:
  """Trials 0, ..., num_trials - 1 of the random search over a space (name -> distribution).

  narrow_from: the best value of `narrow_name` among the first `narrow_start` trials (or that
    trial's hyperparameter dict); required when num_trials > narrow_start, ignored otherwise.
    Trials from index narrow_start on draw `narrow_name` log-uniformly from
    [best / narrow_factor, best * narrow_factor] clipped to the original range, with the same
    u as before; every other hyperparameter is drawn as in the other trials.
  narrow_start=None: no narrowing (every trial draws from the full space).
  """
  space = _check_space(space)
  num_trials = _check_index("num_trials", num_trials)
  narrowing = narrow_start is not None and num_trials > narrow_start
  narrow = None
  if narrowing:
    if narrow_from is None:
      raise ConfigError(
          f"num_trials={num_trials} > narrow_start={narrow_start}: pass narrow_from (the best "
          f"{narrow_name!r} of the first {narrow_start} trials, or that trial's dict), or "
          "narrow_start=None to draw every trial from the full range")
    center = narrow_from[narrow_name] if isinstance(narrow_from, Mapping) else narrow_from
    narrow = narrowed_space(space, center, narrow_factor, narrow_name)
  return [sample(narrow if narrowing and trial >= narrow_start else space, trial, base_seed)
          for trial in range(num_trials)]


_MODES = {"loss": min, "accuracy": max}


def best_trial(final_metric: Sequence[float | None], metric: str,
               diverged: Sequence[bool] | None = None) -> int | None:
  """Index of the best trial by its final validation metric, or None if no trial qualifies.

  metric: 'loss' (lowest wins) or 'accuracy' (highest wins); a prefixed name such as
  'valid_loss' or 'valid_accuracy' is read by its suffix. Diverged trials and trials whose
  metric is None, NaN or infinite never win. Ties go to the earliest trial.
  """
  mode = next((m for m in _MODES if metric == m or metric.endswith("_" + m)), None)
  if mode is None:
    raise ConfigError(f"metric={metric!r}; valid choices: 'loss', 'accuracy' (or '<split>_loss', "
                     "'<split>_accuracy')")
  if diverged is not None and len(diverged) != len(final_metric):
    raise ConfigError(f"diverged has {len(diverged)} entries for {len(final_metric)} trials")
  candidates = [
      (float(value), index) for index, value in enumerate(final_metric)
      if value is not None and math.isfinite(float(value))
      and not (diverged is not None and bool(diverged[index]))]
  if not candidates:
    return None
  sign = 1.0 if mode == "loss" else -1.0
  return min(candidates, key=lambda pair: (sign * pair[0], pair[1]))[1]
