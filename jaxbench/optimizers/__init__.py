"""Every benchmarked optimizer as a pure optax GradientTransformation, behind a registry.

    opt = jaxbench.optimizers.get('adam', learning_rate=schedule, b1=0.95)

See BUILD_NOTES.md for each update rule and its reference.
"""
from jaxbench.optimizers.entry import RANGES, Entry, Range
from jaxbench.optimizers.lookahead import LookaheadState, lookahead, slow_params
from jaxbench.optimizers.registry import (UnknownOptimizerError, check_hyperparams, defaults,
                                          entry, eval_params, get, names, numeric_defaults,
                                          paper_names, search_space)
from jaxbench.optimizers.swa import SWAState, recompute_batch_stats, swa, swa_params
from jaxbench.optimizers.transforms import (scale_by_adabound, scale_by_adam_tf1,
                                            scale_by_nadam_dozat)

__all__ = [
    'Entry', 'LookaheadState', 'RANGES', 'Range', 'SWAState', 'UnknownOptimizerError',
    'check_hyperparams', 'defaults', 'entry', 'eval_params', 'get', 'lookahead', 'names',
    'numeric_defaults', 'paper_names', 'recompute_batch_stats', 'scale_by_adabound', 'scale_by_adam_tf1',
    'scale_by_nadam_dozat', 'search_space', 'slow_params', 'swa', 'swa_params',
]
