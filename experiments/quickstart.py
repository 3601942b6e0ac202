"""Quickstart: three optimizers at their defaults on two problems, 3 seeds, offline, on a laptop CPU.

python -m jaxbench.main --config=experiments/quickstart.py      (or: jaxbench run --config=...)

quadratic_deep (generated data) and fmnist_2c2d (real Fashion-MNIST, found in
/usr/share/datasets/fashion-mnist or $JAXBENCH_DATA_DIR) with shortened training, then a
comparison table of the final test loss/accuracy (mean ± std over seeds). Records go to
results/quickstart/ in the DeepOBS layout; a re-launch skips what is done. Last, the analysis
report of those records is written to results/quickstart_report/ and its path printed.
"""
import itertools

from jaxbench import config as config_lib

OPTIMIZERS = ("sgd", "momentum", "adam")
# problem -> shortened training (the paper: 100 epochs each).
PROBLEMS = {
    "quadratic_deep": {"num_epochs": 10},
    "fmnist_2c2d": {"num_epochs": 1, "max_steps": 30},  # 30 steps of 128 examples
}


def get_config():
  config = config_lib.base_config()
  config.num_seeds = 3
  config.seed = 42
  config.output_dir = "results/quickstart"
  config.data.eval_size = 2000  # of the 10,000 examples of each evaluation set (SPEC: all)
  config.checkpoint_every_epochs = 0  # short runs: nothing worth resuming
  config.report = True
  config.suite = tuple({"problem": problem, "optimizer": optimizer, **shortening}
                       for (problem, shortening), optimizer
                       in itertools.product(PROBLEMS.items(), OPTIMIZERS))
  return config
