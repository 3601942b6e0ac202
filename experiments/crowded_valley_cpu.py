"""The Crowded Valley protocol scaled to a 2-core CPU: the whole pipeline, offline, in < 1 hour.

python -m jaxbench.sweep --config=experiments/crowded_valley_cpu.py

All fifteen optimizers, all four schedules, budgets one-shot and small (25 random-search
trials, the winner re-run with seeds 43-51), on the problems that need no download and train in
seconds here: quadratic_deep (generated data; 20 epochs of 7 steps) and fmnist_logreg (Debian's
Fashion-MNIST files; 2 epochs of 390 steps, evaluation on 2,000 examples per split). The
protocol is the paper's (same sampler, nesting, selection, re-runs); only the problems and the
training length are cut. Records: results/crowded_valley_cpu/.
"""
from jaxbench.sweep import study


def get_config():
  config = study.base_config()
  config.problems = "quadratic_deep,fmnist_logreg"
  config.budgets = "oneshot,small"
  # Epochs enough for the schedules to differ: with the paper's formulas, cosine_wr equals
  # cosine below 10 epochs (first restart at 10) and trapezoidal equals constant below 20
  # (warm-up w = T/10 epochs, epoch 0 always at the full rate).
  config.per_problem = {"quadratic_deep": {"num_epochs": 20},
                        "fmnist_logreg": {"num_epochs": 2}}
  config.data.eval_size = 2000
  config.checkpoint_every_epochs = 0  # runs of seconds: nothing worth checkpointing
  config.output_dir = "results/crowded_valley_cpu"
  return config
