"""One batch of runs across hosts: `jax.distributed` and a run axis over every process's devices.

  python -m jaxbench.cluster.multihost --config=experiments/<name>.py [--config.x=y ...] \
      [--coordinator_address=host:port --num_processes=N --process_id=i]

Every process runs the same command. `jax.distributed.initialize` connects them (with no
addresses given, JAX finds them itself under SLURM, on Cloud TPU pod slices and on other
clusters it detects); `jax.devices()` is then every process's devices, so the engine's default
run mesh (`train.sharding.run_mesh`) is global and the run axis is split over all of them. The
host-side loop runs identically in every process; metrics are all-gathered
(`train.sharding.to_host`), so every process holds every run's metrics, and process 0 alone
writes the records (run/loop.py) - one writer per record file, no race. Checkpoints go through
orbax's collective save, in which each process writes its own shards and process 0 the
metadata; process 0 removes them once the records exist, and a barrier keeps any process from
reading the output root before that.

On CPU the processes talk through gloo collectives (`jax_cpu_collectives_implementation`);
that is how the test runs two processes on loopback.
"""
from __future__ import annotations

if __name__ == "__main__":  # the allocator is chosen before anything large is imported
  from jaxbench.train import allocator  # pylint: disable=ungrouped-imports
  allocator.reexec_with_tcmalloc()

from typing import Optional

import jax
from absl import app
from absl import flags

from jaxbench import main as main_lib
from jaxbench.errors import JaxbenchError
from jaxbench.train import xla_flags

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "host:port of process 0 (unset: JAX detects SLURM / TPU).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Processes in the job.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process, 0..num_processes-1.")
_CPU_COLLECTIVES = flags.DEFINE_enum("cpu_collectives", "gloo", ["gloo", "mpi"],
                                     "Collectives of JAX's CPU backend across processes.")


def initialize(coordinator_address: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None, cpu_collectives: str = "gloo") -> None:
  """Connects this process to the others (before any computation). One process: nothing."""
  jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
  if num_processes == 1:
    return
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)


def is_writer() -> bool:
  """Whether this process writes records (process 0 of the job)."""
  return jax.process_index() == 0


def _run(argv) -> None:
  initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
             _CPU_COLLECTIVES.value)
  main_lib._main(argv)  # pylint: disable=protected-access  # the main command, unchanged


def main() -> None:
  """The main command's flags and errors, after `initialize` (config.report: process 0 only)."""
  xla_flags.apply()  # before the first computation initialises the backend
  try:
    app.run(_run, flags_parser=main_lib.parse_flags)
  except JaxbenchError as e:
    raise SystemExit(f"jaxbench: error: {e}") from None


if __name__ == "__main__":
  main()
