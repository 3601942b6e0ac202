"""The `jaxbench` console command.

  jaxbench run --config=experiments/quickstart.py [--config.x=y ...]   (= python -m jaxbench.main)
  jaxbench sweep --config=experiments/crowded_valley.py [...]         (= python -m jaxbench.sweep)
  jaxbench analyze --results=<root> [--reference=<root>] --out=<dir>  (= python -m jaxbench.analyze)
  jaxbench bench [...]                                                (= jaxbench.bench)
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

COMMANDS = ("run", "sweep", "analyze", "bench")
USAGE = ("usage: jaxbench {run,sweep,analyze,bench} [flags]\n"
         "  run      train and evaluate an experiment config (--config=experiments/<name>.py)\n"
         "  sweep    run the tuning protocol of a study config (experiments/crowded_valley.py)\n"
         "  analyze  tables, figures and an HTML report from record trees (--results=<root>)\n"
         "  bench    measure execution strategies (see jaxbench.bench)")


def main(argv: Optional[Sequence[str]] = None) -> None:
  if argv is None and len(sys.argv) >= 2 and sys.argv[1] in ("run", "sweep", "bench"):
    from jaxbench.train import allocator  # the console command: start under tcmalloc
    allocator.reexec_with_tcmalloc()
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
  # Each command's module is imported only when chosen: run and sweep define absl flags of
  # the same names (--config) in absl's process-wide registry.
  if command == "run":
    from jaxbench import main as main_lib
    main_lib.main()
  elif command == "sweep":
    from jaxbench import sweep
    sweep.main(sys.argv)
  elif command == "analyze":
    from jaxbench import analyze
    raise SystemExit(analyze.main(rest))
  else:
    from jaxbench import bench
    bench.main(rest)


if __name__ == "__main__":
  main()
