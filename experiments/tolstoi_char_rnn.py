"""tolstoi_char_rnn with the paper's settings (see jaxbench.config.problem_config).

python -m jaxbench.main --config=experiments/tolstoi_char_rnn.py --config.optimizer.name=sgd
"""
from jaxbench import config as config_lib


def get_config():
  return config_lib.problem_config("tolstoi_char_rnn")
