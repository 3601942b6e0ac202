"""The `jaxbench` console command.

  jaxbench run --config=experiments/quickstart.py [--config.x=y ...]   (= python -m jaxbench.main)
  jaxbench bench [...]                                                (= jaxbench.bench)
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

COMMANDS = ("run", "bench")
USAGE = ("usage: jaxbench {run,bench} [flags]\n"
         "  run    train and evaluate an experiment config (--config=experiments/<name>.py)\n"
         "  bench  measure execution strategies (see jaxbench.bench)")


def main(argv: Optional[Sequence[str]] = None) -> None:
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
    print(USAGE)
    raise SystemExit(0 if len(argv) >= 2 else 2)
  command, rest = argv[1], argv[2:]
  if command not in COMMANDS:
    raise SystemExit(f"jaxbench: unknown command {command!r}; valid choices: "
                     f"{', '.join(COMMANDS)}\n{USAGE}")
  # absl parses sys.argv; present the subcommand's flags as if it were the program.
  sys.argv = [f"jaxbench {command}"] + rest
  if command == "run":
    from jaxbench import main as main_lib
    main_lib.main()
  else:
    import importlib
    importlib.import_module("jaxbench.bench").main(rest)


if __name__ == "__main__":
  main()
