"""DeepOBS's own baseline protocol (Schneider, Balles, Hennig 2019, section 4).

python -m jaxbench.sweep --config=experiments/deepobs_baselines.py [--config.problems=...]

sgd, momentum (rho 0.99) and adam; the learning rate on DeepOBS's 36-point log grid
1e-5 ... 1e2 (5 per decade), every other hyperparameter at its default, one seed (42) per
grid point, constant schedule; the best grid point by the final validation metric is re-run with
seeds 43-51 (10 seeds in all). Records: results/deepobs_baselines/runs/ and .../grid/none/.
"""
from jaxbench.sweep import study


def get_config():
  config = study.base_config()
  config.optimizers = "sgd,momentum,adam"
  config.schedules = "constant"
  config.search = "lr_grid"  # lr_grid = '' : DeepOBS's 36 learning rates
  config.budgets = "grid"
  config.output_dir = "results/deepobs_baselines"
  return config
