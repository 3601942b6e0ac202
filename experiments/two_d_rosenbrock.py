"""two_d_rosenbrock with the paper's settings (see jaxbench.config.problem_config).

python -m jaxbench.main --config=experiments/two_d_rosenbrock.py --config.optimizer.name=sgd
"""
from jaxbench import config as config_lib


def get_config():
  return config_lib.problem_config("two_d_rosenbrock")
