"""`python -m jaxbench.sweep --config=experiments/crowded_valley.py` (see jaxbench.sweep.command)."""
from jaxbench.sweep import command

if __name__ == "__main__":
  command.main()
