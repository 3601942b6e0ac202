"""Test problems: `get(name) -> Problem`, `names()` (see base.py for the interface)."""
from jaxbench.problems.base import ApplyOutput, Problem
from jaxbench.problems.registry import get, names, reset_state, weight_decay_regularizer

__all__ = ['ApplyOutput', 'Problem', 'get', 'names', 'reset_state', 'weight_decay_regularizer']
