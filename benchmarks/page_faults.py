"""Minor page faults and kernel time per training step (the allocator's effect).

  python benchmarks/page_faults.py PROBLEM [STEPS]                       # as started (tcmalloc?)
  LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 python benchmarks/page_faults.py fmnist_2c2d
Run as a plain script it never re-executes itself: the allocator is whatever the shell gave it.
"""
import resource
import sys
import time

from jaxbench.train import allocator, xla_flags

xla_flags.apply()

import jax  # noqa: E402  pylint: disable=wrong-import-position
import numpy as np  # noqa: E402  pylint: disable=wrong-import-position

from jaxbench import data, problems  # noqa: E402  pylint: disable=wrong-import-position
from jaxbench.train import engine  # noqa: E402  pylint: disable=wrong-import-position


def main(argv):
  name = argv[1]
  steps = int(argv[2]) if len(argv) > 2 else 30
  problem = problems.get(name)
  dataset = data.load(problem.dataset, batch_size=problem.batch_size, source="synthetic")
  trainer = engine.Trainer(engine.RunBatch(problem=name, optimizer="adam", seeds=np.arange(42, 43)),
                           dataset)
  state = trainer.init()
  state, _ = trainer.train_steps(state, 0, 1)
  jax.block_until_ready(state)
  before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
  for _ in range(steps):
    state, _ = trainer.train_steps(state, 0, 1)
  jax.block_until_ready(state)
  seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
  print(f"{name} ({allocator.describe()}): {seconds / steps * 1e3:.1f} ms/step, "
        f"{(after.ru_minflt - before.ru_minflt) / steps:.0f} minor page faults/step, kernel "
        f"{(after.ru_stime - before.ru_stime) / steps * 1e3:.1f} ms/step, user "
        f"{(after.ru_utime - before.ru_utime) / steps * 1e3:.1f} ms/step (CPU time, 2 threads)")


if __name__ == "__main__":
  main(sys.argv)
