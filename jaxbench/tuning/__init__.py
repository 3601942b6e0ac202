"""Random search of the tuning protocol: search-space distributions, the common-random-number
sampler, budgets and the choice of the best trial (SPEC sections 3 and 5).

A leaf: it never imports jaxbench.optimizers (the optimizer registry imports
jaxbench.tuning.space for its search spaces). Callers look a space up
(`optimizers.search_space(name)`) and pass it in.
"""
from jaxbench.tuning.sampler import NARROW_FACTOR
from jaxbench.tuning.sampler import NARROW_NAME
from jaxbench.tuning.sampler import NARROW_START
from jaxbench.tuning.sampler import best_trial
from jaxbench.tuning.sampler import budgets
from jaxbench.tuning.sampler import name_key
from jaxbench.tuning.sampler import narrowed_space
from jaxbench.tuning.sampler import sample
from jaxbench.tuning.sampler import sample_trials
from jaxbench.tuning.sampler import uniform
from jaxbench.tuning.space import Distribution
from jaxbench.tuning.space import IntUniform
from jaxbench.tuning.space import LogUniform
from jaxbench.tuning.space import OneMinusLogUniform
from jaxbench.tuning.space import Uniform

__all__ = ["Distribution", "IntUniform", "LogUniform", "NARROW_FACTOR", "NARROW_NAME",
           "NARROW_START", "OneMinusLogUniform", "Uniform", "best_trial", "budgets", "name_key",
           "narrowed_space", "sample", "sample_trials", "uniform"]
