"""Bring your own optimizer: a new optimizer through exactly the Crowded Valley protocol.

PYTHONPATH=experiments/byo python -m jaxbench.sweep --config=experiments/byo_sign_momentum.py

The CPU-scaled study (experiments/crowded_valley_cpu.py: quadratic_deep and fmnist_logreg, four
schedules, one-shot and the 25-trial search) with sign momentum (experiments/byo/
sign_momentum.py, registered from outside the package by `extra_optimizers`) next to momentum
and adam for comparison. Any importable module-level `jaxbench.optimizers.OptimizerSpec` works
the same way: --config.extra_optimizers=my_pkg.my_module:MY_SPEC. Records:
results/byo_sign_momentum/.
"""
import importlib.util
import os

_CPU = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crowded_valley_cpu.py")
_spec = importlib.util.spec_from_file_location("crowded_valley_cpu", _CPU)
_cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_cpu)


def get_config():
  config = _cpu.get_config()
  config.optimizers = "momentum,adam"
  config.extra_optimizers = "sign_momentum:SIGN_MOMENTUM"  # appended to the optimizers
  config.output_dir = "results/byo_sign_momentum"
  return config
