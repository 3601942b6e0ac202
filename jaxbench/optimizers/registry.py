"""Name -> optimizer registry: `get(name, **hyperparams)`, defaults, search spaces.

The registry is an immutable mapping assembled from the `ENTRIES` tuples that sit next to the
builders (paper.py, modern.py); adding an optimizer means adding one `Entry` there.
"""
from __future__ import annotations

import types
from typing import Any, Mapping

import optax

from jaxbench.optimizers import modern, paper
from jaxbench.optimizers.entry import Entry
from jaxbench.optimizers.swa import SWAState, find_state
from jaxbench.tuning import space

_ENTRIES: Mapping[str, Entry] = types.MappingProxyType(
    {entry.name: entry for entry in (*paper.ENTRIES, *modern.ENTRIES)})


class UnknownOptimizerError(KeyError, ValueError):
  """An optimizer name that is not registered (both a KeyError and a ValueError)."""

  def __str__(self) -> str:
    return str(self.args[0])


def entry(name: str) -> Entry:
  """The registry entry of `name`; unknown names fail with the list of known ones."""
  if name not in _ENTRIES:
    raise UnknownOptimizerError(f'unknown optimizer {name!r}; known: {names()}')
  return _ENTRIES[name]


def names() -> list[str]:
  """Every registered optimizer: the paper's fifteen (SPEC order), then the modern ones."""
  return list(_ENTRIES)


def paper_names() -> list[str]:
  """The fifteen optimizers of the Crowded Valley study, in SPEC section 2 order."""
  return [name for name, e in _ENTRIES.items() if e.paper]


def defaults(name: str) -> dict[str, Any]:
  """The one-shot defaults (SPEC section 2 for the paper's fifteen), including `form`."""
  return dict(entry(name).defaults)


def numeric_defaults(name: str) -> dict[str, Any]:
  """The defaults that may be traced arrays (everything but non-numeric options like `form`):
  what an engine stacks into per-run arrays."""
  spec = entry(name)
  return {hp: value for hp, value in spec.defaults.items() if hp not in spec.choices}


def search_space(name: str) -> dict[str, space.Distribution]:
  """The tuned hyperparameters and their distributions (SPEC section 3)."""
  return dict(entry(name).search_space)


def check_hyperparams(name: str, **hyperparams: Any) -> dict[str, Any]:
  """Defaults merged with `hyperparams`, every concrete value range-checked."""
  spec = entry(name)
  unknown = sorted(set(hyperparams) - set(spec.defaults))
  if unknown:
    raise ValueError(f'{name}: unknown hyperparameter(s) {unknown}; valid: {sorted(spec.defaults)}')
  merged = {**spec.defaults, **hyperparams}
  for hp, value in merged.items():
    spec.check(hp, value)
  return merged


def get(name: str, **hyperparams: Any) -> optax.GradientTransformation:
  """The optimizer `name` with `hyperparams` (omitted ones take the one-shot defaults).

  Any numeric hyperparameter may be a traced array (build the optimizer inside the jitted or
  vmapped function: one compiled step then serves every value); `learning_rate` may also be a
  schedule count -> lr. Concrete values outside their valid range raise ValueError.
  """
  return entry(name).builder(**check_hyperparams(name, **hyperparams))


def eval_params(name: str, opt_state: optax.OptState, params: optax.Params) -> optax.Params:
  """The parameters to evaluate for optimizer `name` in state `opt_state`.

  The entry's own hook if it has one (schedule-free: the averaged sequence x), else SWA's
  average if the state holds an SWAState (an optimizer wrapped with `swa`), else `params`.
  """
  hook = entry(name).eval_params
  if hook is not None:
    return hook(opt_state, params)
  swa_state = find_state(opt_state, SWAState)
  return params if swa_state is None else swa_state.average
