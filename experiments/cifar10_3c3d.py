"""cifar10_3c3d with the paper's settings (see jaxbench.config.problem_config).

python -m jaxbench.main --config=experiments/cifar10_3c3d.py --config.optimizer.name=sgd
"""
from jaxbench import config as config_lib


def get_config():
  return config_lib.problem_config("cifar10_3c3d")
