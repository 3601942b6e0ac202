"""`python -m jaxbench.sweep --config=experiments/crowded_valley.py` (see jaxbench.sweep.command)."""
from jaxbench.train import allocator

if __name__ == "__main__":
  allocator.reexec_with_tcmalloc()  # before the sweep (and jax) is imported
  from jaxbench.sweep import command
  command.main()
