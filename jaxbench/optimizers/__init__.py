"""Every benchmarked optimizer as a pure optax GradientTransformation, behind a registry.

    opt = jaxbench.optimizers.get('adam', learning_rate=schedule, b1=0.95)

Bring your own: `register(name, builder, defaults=..., search_space=...)`, or
`load_external('my_pkg.my_module:SPEC')` for a module-level `OptimizerSpec` (see registry.py).
See BUILD_NOTES.md for each update rule and its reference.
"""
from jaxbench.optimizers.lookahead import LookaheadState, lookahead, lookahead_tf1, slow_params
from jaxbench.optimizers.registry import (UNSET, UnknownOptimizerError, check_hyperparams,
                                          defaults, eval_params, get, get_spec, load_external,
                                          names, numeric_defaults, paper_names, register,
                                          register_spec, search_space)
from jaxbench.optimizers.spec import RANGES, OptimizerSpec, Range
from jaxbench.optimizers.swa import SWAState, recompute_batch_stats, swa, swa_params
from jaxbench.optimizers.transforms import (scale_by_adabelief, scale_by_adabound,
                                            scale_by_adam_tf1, scale_by_nadam_dozat,
                                            scale_by_radam)

__all__ = [
    'LookaheadState', 'OptimizerSpec', 'RANGES', 'Range', 'SWAState', 'UNSET',
    'UnknownOptimizerError', 'check_hyperparams', 'defaults', 'eval_params', 'get', 'get_spec',
    'load_external', 'lookahead', 'lookahead_tf1', 'names', 'numeric_defaults', 'paper_names',
    'recompute_batch_stats', 'register', 'register_spec', 'scale_by_adabelief',
    'scale_by_adabound', 'scale_by_adam_tf1', 'scale_by_nadam_dozat', 'scale_by_radam',
    'search_space', 'slow_params', 'swa', 'swa_params',
]
