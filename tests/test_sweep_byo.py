"""A bring-your-own optimizer from a module outside the package runs through the protocol."""
from __future__ import annotations

import sys

from jaxbench import optimizers
from jaxbench.sweep import driver, protocol, study as study_lib

MODULE = '''
import optax
from jaxbench import optimizers, tuning

def scaled_sign(learning_rate=1e-2, rho=0.9):
  return optax.chain(optax.ema(rho, debias=False), optax.scale_by_sign(),
                     optax.scale_by_learning_rate(learning_rate))

SPEC = optimizers.OptimizerSpec(
    name="test_byo_sign", builder=scaled_sign, defaults={"learning_rate": 1e-2, "rho": 0.9},
    search_space={"learning_rate": tuning.LogUniform(1e-4, 1.0),
                  "rho": tuning.OneMinusLogUniform(1e-4, 1.0)})
'''


def test_external_optimizer_goes_through_the_protocol(tmp_path, monkeypatch):
  package = tmp_path / "outside_pkg"
  package.mkdir()
  (package / "__init__.py").write_text("")
  (package / "byo.py").write_text(MODULE)
  monkeypatch.syspath_prepend(str(tmp_path))
  config = study_lib.base_config().to_dict()
  config.update(problems="quadratic_deep", optimizers="momentum", schedules="constant",
                budgets="oneshot,small", budget_sizes="small=2,medium=3,large=4",
                extra_optimizers="outside_pkg.byo:SPEC", num_rerun_seeds=1, num_epochs=1,
                max_steps=2, progress="none", output_dir=str(tmp_path / "out"))
  study = study_lib.from_config(config)
  assert study.optimizers == ("momentum", "test_byo_sign")
  assert "outside_pkg.byo" in sys.modules and "test_byo_sign" in optimizers.names()
  unit = study.units()[1]
  # Common random numbers with the registry's momentum: same learning rate and rho per trial.
  assert protocol.trial_hyperparams(study, unit, 2) == protocol.trial_hyperparams(
      study, study.units()[0], 2)
  state = driver.run_unit(study, unit, config)
  assert state.complete and state.selections["small"] in (0, 1)
  rows = [r for r in driver.summary(study, [unit]) if r.status == "done"]
  assert [r.budget for r in rows] == ["oneshot", "small"]
  assert [r.seeds for r in rows] == [2, 2]
