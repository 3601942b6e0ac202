"""`python -m jaxbench.optimizers [--runnable]`: print the optimizer catalogue."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from jaxbench.optimizers import catalogue


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m jaxbench.optimizers",
      description="The optimizers of the Crowded Valley study's list, and which jaxbench runs.")
  parser.add_argument("--runnable", action="store_true",
                      help="list only the entries that a registered jaxbench optimizer runs")
  args = parser.parse_args(argv)
  entries = catalogue.load()
  registered = catalogue.registry_names()
  shown = [e for e in entries if e.runnable(registered)] if args.runnable else entries
  print(catalogue.table(shown, registered))
  print()
  print(catalogue.summary(entries, registered))
  return 0


if __name__ == "__main__":
  sys.exit(main())
