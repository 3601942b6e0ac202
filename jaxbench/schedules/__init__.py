"""Learning-rate schedules: the paper's four (per-epoch, DeepOBS semantics) and smooth families.

`get(name, base_lr, num_epochs, steps_per_epoch, **params)` returns a jittable optax schedule
`count -> learning rate`; see BUILD_NOTES.md for every formula and its reference.
"""
from jaxbench.schedules.paper import lr_sched_lists
from jaxbench.schedules.paper import paper_factors
from jaxbench.schedules.paper import training_params
from jaxbench.schedules.registry import describe
from jaxbench.schedules.registry import get
from jaxbench.schedules.registry import names
from jaxbench.schedules.registry import paper_names
from jaxbench.schedules.registry import params

__all__ = ["describe", "get", "lr_sched_lists", "names", "paper_factors", "paper_names",
           "params", "training_params"]
