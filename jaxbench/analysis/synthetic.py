"""Generated record trees with known numbers, for tests and the reading-speed benchmark."""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

from jaxbench.run import records


def write_run(root: str, problem: str, optimizer: str, seed: int, test: Sequence[float],
              valid: Optional[Sequence[float]] = None, hyperparams: Optional[dict] = None,
              accuracy: bool = False, budget: Optional[str] = None,
              schedule: Optional[str] = None, extra: Optional[dict] = None,
              stamp: str = "2024-01-01-00-00-00") -> str:
  """One record whose per-epoch lists are `test` (and `valid`, default = test); train = test.

  accuracy=True writes them as accuracies (losses 1 - value). With budget and schedule the
  record goes under <root>/<budget>/<schedule>/<problem>/..., the sweep layout.
  """
  hyperparams = dict(hyperparams or {"learning_rate": 0.01})
  valid = list(test if valid is None else valid)
  num_epochs = len(test) - 1
  record = {"testproblem": problem, "batch_size": 128, "num_epochs": num_epochs,
            "random_seed": seed, "l2_reg": None, "optimizer_name": optimizer,
            "optimizer_hyperparams": hyperparams,
            "training_params": {"lr_sched_epochs": [], "lr_sched_factors": []}}
  if accuracy:
    record.update(train_losses=[1 - v for v in test], valid_losses=[1 - v for v in valid],
                  test_losses=[1 - v for v in test], train_accuracies=list(test),
                  valid_accuracies=valid, test_accuracies=list(test))
  else:
    record.update(train_losses=list(test), valid_losses=valid, test_losses=list(test))
  record["minibatch_train_losses"] = [1.0] * num_epochs
  # Our own records say which instance they used (quadratic_deep: Hessian draw 0 by default).
  record.update({"jaxbench_version": "synthetic", "config": {}}, **(extra or {}))
  setting = records.setting_name(num_epochs, 128, hyperparams)
  folder = os.path.join(root, *([budget, schedule] if budget else []), problem, optimizer,
                        setting)
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, f"random_seed__{seed}__{stamp}.json")
  with open(path, "w") as f:
    json.dump(record, f)
  return path
