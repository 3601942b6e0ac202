"""One batch over two jax.distributed processes (CPU backend, gloo collectives, coordinator on
127.0.0.1) writes the same records as one process running the batch alone."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest

from jaxbench import config as config_lib
from jaxbench import main as main_lib

pytestmark = pytest.mark.cluster

METRICS = ("train_losses", "valid_losses", "test_losses", "minibatch_train_losses")
# quadratic_deep, 4 seeds (2 runs per process when split), 1 epoch of 7 steps.
OVERRIDES = ["--config=experiments/quadratic_deep.py", "--config.optimizer.name=sgd",
             "--config.num_seeds=4", "--config.num_epochs=1", "--config.progress=none",
             "--config.checkpoint_every_epochs=0"]


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def command(output_dir: str, *extra: str) -> list:
  return [sys.executable, "-m", "jaxbench.cluster.multihost", *OVERRIDES,
          f"--config.output_dir={output_dir}", *extra]


def records(output_dir: str, devices: dict) -> dict:
  found = {}
  for folder, _, files in os.walk(output_dir):
    for name in files:
      seed = re.match(r"random_seed__(\d+)__", name)
      if seed:
        with open(os.path.join(folder, name)) as f:
          record = json.load(f)
        key = (os.path.relpath(folder, output_dir), int(seed.group(1)))
        assert key not in found, f"two records for {key}"
        found[key] = ({m: record[m] for m in METRICS}, record["batch_seeds"])
        devices[key] = record["strategy"]["num_devices"]
  return found


@pytest.mark.slow
def test_two_process_batch_writes_the_one_process_records(tmp_path):
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  single = str(tmp_path / "one")  # the batch in this one process (the same overrides)
  config = config_lib.problem_config("quadratic_deep")
  config.optimizer.name, config.num_seeds, config.num_epochs = "sgd", 4, 1
  config.progress, config.checkpoint_every_epochs, config.output_dir = "none", 0, single
  main_lib.train_and_evaluate(config)
  double = str(tmp_path / "two")
  address = f"127.0.0.1:{free_port()}"
  processes = [subprocess.Popen(command(double, f"--coordinator_address={address}",
                                        "--num_processes=2", f"--process_id={i}"),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
               for i in range(2)]
  outputs = [p.communicate(timeout=180)[0] for p in processes]
  assert [p.returncode for p in processes] == [0, 0], outputs
  devices_one, devices_two = {}, {}
  one, two = records(single, devices_one), records(double, devices_two)
  assert len(one) == 4  # seeds 42..45, one record each
  assert two == one
  # The two processes ran one batch over a global mesh of both processes' devices.
  assert set(devices_two.values()) == {2} and set(devices_one.values()) == {1}
