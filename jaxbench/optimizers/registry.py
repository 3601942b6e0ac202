"""Name -> optimizer registry: `get(name, **hyperparams)`, defaults, search spaces; and the way
in for optimizers from outside the package.

The built-in optimizers are the `OptimizerSpec`s that sit next to their builders (paper.py,
modern.py). Another optimizer joins the registry in one of two ways, after which it works
wherever a registry name does (get, defaults, search_space, check_hyperparams, eval_params, the
engine, configs, sweeps):

    optimizers.register('sign_momentum', make_sign_momentum,
                        defaults={'learning_rate': 1e-3, 'b1': 0.9},
                        search_space={'learning_rate': LogUniform(1e-4, 1.0), 'b1': B1})

    optimizers.load_external('my_pkg.my_module:SIGN_MOMENTUM')

`load_external` imports the module and registers the module-level object the path names, which
must be an `OptimizerSpec(name, builder, defaults, search_space, ...)`: one object holds the
factory with its defaults and search space, so they cannot drift apart. The builder receives
every hyperparameter of `defaults` as a keyword and returns an optax GradientTransformation;
learning_rate may be a float, a traced array or a schedule count -> lr. Loading the same spec
twice is a no-op; another spec under a registered name is an error.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable, Mapping

import optax

from jaxbench.errors import ConfigError, UnknownKeyError
from jaxbench.optimizers import modern, paper
from jaxbench.optimizers.spec import POSITIVE, OptimizerSpec, Range, check_value
from jaxbench.optimizers.swa import SWAState, find_state
from jaxbench.tuning import space

# The one mutable table: built-ins at import, more through register/load_external.
_SPECS: dict[str, OptimizerSpec] = {spec.name: spec for spec in (*paper.SPECS, *modern.SPECS)}


class UnknownOptimizerError(UnknownKeyError):
  """An optimizer name that is not registered (a ConfigError, KeyError and ValueError)."""


def get_spec(name: str) -> OptimizerSpec:
  """The registry spec of `name`; unknown names fail with the list of known ones."""
  if name not in _SPECS:
    raise UnknownOptimizerError(f'unknown optimizer {name!r}; known: {names()}')
  return _SPECS[name]


def names() -> list[str]:
  """Every registered optimizer: the paper's fifteen (SPEC order), the modern ones, then the
  registered external ones in registration order."""
  return list(_SPECS)


def paper_names() -> list[str]:
  """The fifteen optimizers of the Crowded Valley study, in SPEC section 2 order."""
  return [name for name, s in _SPECS.items() if s.paper]


def defaults(name: str) -> dict[str, Any]:
  """The one-shot defaults (SPEC section 2 for the paper's fifteen), including `form`."""
  return dict(get_spec(name).defaults)


def numeric_defaults(name: str) -> dict[str, Any]:
  """The defaults that may be traced arrays (everything but non-numeric options like `form`):
  what an engine stacks into per-run arrays."""
  entry = get_spec(name)
  return {hp: value for hp, value in entry.defaults.items() if hp not in entry.choices}


def search_space(name: str) -> dict[str, space.Distribution]:
  """The tuned hyperparameters and their distributions (SPEC section 3)."""
  return dict(get_spec(name).search_space)


def check_hyperparams(name: str, **hyperparams: Any) -> dict[str, Any]:
  """Defaults merged with `hyperparams`, every concrete value range-checked (ConfigError)."""
  entry = get_spec(name)
  unknown = sorted(set(hyperparams) - set(entry.defaults))
  if unknown:
    raise ConfigError(f'{name}: unknown hyperparameter(s) {unknown}; valid: '
                      f'{sorted(entry.defaults)}')
  merged = {**entry.defaults, **hyperparams}
  for hp, value in merged.items():
    entry.check(hp, value)
  return merged


class _Unset:
  """Marks a keyword of `get`'s published signature that the caller left out."""

  def __repr__(self) -> str:
    return '<default>'


UNSET = _Unset()


def get(name: str, *, base_learning_rate: Any = None, **hyperparams: Any
        ) -> optax.GradientTransformation:
  """The optimizer `name` with `hyperparams` (omitted ones take the one-shot defaults).

  Any numeric hyperparameter may be a traced array (build the optimizer inside the jitted or
  vmapped function: one compiled step then serves every value); `learning_rate` may also be a
  schedule count -> lr. `base_learning_rate` is the run's base rate, for optimizers whose update
  depends on it besides the current rate (AdaBound/AMSBound: required with a schedule); the
  others ignore it. Concrete values outside their valid range raise ConfigError.

  Works under optax's wrappers, e.g. `optax.inject_hyperparams(optimizers.get)('adam',
  learning_rate=1e-3)`: `get.__signature__` lists every registered hyperparameter as a keyword.
  """
  entry = get_spec(name)
  given = {hp: value for hp, value in hyperparams.items() if value is not UNSET}
  built = check_hyperparams(name, **given)
  if entry.takes_base_learning_rate:
    if base_learning_rate is not None:
      check_value(name, 'base_learning_rate', base_learning_rate, POSITIVE)
    built['base_learning_rate'] = base_learning_rate
  return entry.builder(**built)


def _published_signature() -> inspect.Signature:
  """get(name, *, base_learning_rate=None, <every registered hyperparameter>=UNSET).

  optax.inject_hyperparams binds its arguments to the factory's signature and calls it with one
  keyword per parameter; with a bare **hyperparams it would pass them as one dict named
  'hyperparams'. Listing the names makes numeric ones injectable (traced state) and passes the
  left-out ones back as UNSET, which `get` drops."""
  hyperparams = sorted({hp for entry in _SPECS.values() for hp in entry.defaults})
  parameters = [
      inspect.Parameter('name', inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
      inspect.Parameter('base_learning_rate', inspect.Parameter.KEYWORD_ONLY, default=None),
      *(inspect.Parameter(hp, inspect.Parameter.KEYWORD_ONLY, default=UNSET)
        for hp in hyperparams)]
  return inspect.Signature(parameters, return_annotation=optax.GradientTransformation)


get.__signature__ = _published_signature()


def eval_params(name: str, opt_state: optax.OptState, params: optax.Params) -> optax.Params:
  """The parameters to evaluate for optimizer `name` in state `opt_state`.

  The spec's own hook if it has one (schedule-free: the averaged sequence x, found wherever it
  sits in a wrapped state), else SWA's average if the state holds an SWAState (an optimizer
  wrapped with `swa`), else `params`.
  """
  hook = get_spec(name).eval_params
  if hook is not None:
    return hook(opt_state, params)
  swa_state = find_state(opt_state, SWAState)
  return params if swa_state is None else swa_state.average


def register(name: str, builder: Callable[..., optax.GradientTransformation], *,
             defaults: Mapping[str, Any], search_space: Mapping[str, space.Distribution],
             reference: str = '', paper: bool = False,
             choices: Mapping[str, tuple[str, ...]] | None = None,
             ranges: Mapping[str, Range] | None = None,
             eval_params: Callable[[optax.OptState, optax.Params], optax.Params] | None = None
             ) -> OptimizerSpec:
  """Adds an optimizer under `name` (fields as OptimizerSpec's); returns its spec."""
  return register_spec(OptimizerSpec(
      name, builder, dict(defaults), dict(search_space), reference=reference, paper=paper,
      choices=dict(choices or {}), ranges=dict(ranges or {}), eval_params=eval_params))


def register_spec(new: OptimizerSpec) -> OptimizerSpec:
  """Adds `new` under `new.name`. The same spec again is a no-op; another one under a taken name
  raises ConfigError (built-ins cannot be replaced)."""
  if not isinstance(new, OptimizerSpec):
    raise ConfigError(f'expected a jaxbench.optimizers.OptimizerSpec, got {new!r}')
  old = _SPECS.get(new.name)
  if old is not None and old is not new and old != new:
    raise ConfigError(f'optimizer {new.name!r} is already registered (by {old.builder!r}); '
                      'choose another name')
  _SPECS[new.name] = new
  get.__signature__ = _published_signature()
  return new


def load_external(path: str) -> str:
  """Imports 'package.module:ATTRIBUTE', registers the OptimizerSpec it names; returns its name."""
  module_name, sep, attribute = path.partition(':')
  if not sep or not module_name or not attribute:
    raise ConfigError(f'external optimizer {path!r} must be "package.module:ATTRIBUTE", the '
                      'module-level OptimizerSpec to register')
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as error:
    raise ConfigError(f'external optimizer {path!r}: cannot import {module_name!r} ({error}); '
                      'is it installed or on PYTHONPATH?') from None
  if not hasattr(module, attribute):
    found = sorted(n for n, v in vars(module).items() if isinstance(v, OptimizerSpec))
    raise ConfigError(f'external optimizer {path!r}: module {module_name!r} has no {attribute!r}; '
                      f'its OptimizerSpecs: {found}')
  obj = getattr(module, attribute)
  if not isinstance(obj, OptimizerSpec):
    raise ConfigError(f'external optimizer {path!r} is {type(obj).__name__}, not a '
                      'jaxbench.optimizers.OptimizerSpec(name, builder, defaults, search_space)')
  return register_spec(obj).name
