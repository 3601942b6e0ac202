"""The Crowded Valley study (Schmidt, Schneider, Hennig 2021; SPEC sections 1-5), all of it.

python -m jaxbench.sweep --config=experiments/crowded_valley.py [--dry_run | --status]
  [--num_shards=N --shard_index=i] [--config.problems=quadratic_deep,fmnist_2c2d ...]

The paper's eight problems (P1-P8) at their batch sizes and epochs, its fifteen optimizers
(search spaces and defaults from the optimizer registry), its four schedules, and the budgets
one-shot, small (25), medium (50) and large (75 random-search trials): 1,920 configurations,
53,760 runs. Trials use seed 42, each budget's winner (by the final validation metric) is re-run
with seeds 43-51, one-shot runs seeds 42-51. Records: results/crowded_valley/runs/ (every run
once) and results/crowded_valley/<budget>/<schedule>/ (the published layout).
"""
from jaxbench.sweep import study


def get_config():
  return study.base_config()  # the defaults are the full study
