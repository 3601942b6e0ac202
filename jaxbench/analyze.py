"""`python -m jaxbench.analyze --results=<root> [--reference=<root>] --out=<dir>` (= `jaxbench
analyze`): reads record trees and writes the tables, figures and one self-contained HTML report."""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from jaxbench.analysis import report
from jaxbench.errors import JaxbenchError


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog="jaxbench analyze", description=__doc__)
  parser.add_argument("--results", required=True, action="append",
                      help="a results root (repeatable): ours, a sweep, or a DeepOBS tree")
  parser.add_argument("--reference", action="append",
                      help="a tree to compare against, e.g. a clone of the published results")
  parser.add_argument("--out", required=True, help="output folder for the report")
  args = parser.parse_args(argv)
  try:
    path = report.write_report(args.results, args.out, reference=args.reference)
  except JaxbenchError as error:
    print(f"jaxbench: error: {error}", file=sys.stderr)
    return 2
  print(f"report: {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
