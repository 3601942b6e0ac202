"""The Crowded Valley study as one resumable, shardable command (SPEC sections 3 and 5).

  study.py     the study as data: config keys, validation, work units
  protocol.py  the tuning protocol over run records: trials, incumbent, selection, re-runs
  plan.py      the study's size (configurations, runs, steps) before anything runs
  calibrate.py memory per run (-> runs per engine batch) and speed on the current device
  driver.py    runs a shard of the units through the run layer; summary / status
  views.py     per-budget result views in the published layout
  command.py   the command line (`python -m jaxbench.sweep`, `jaxbench sweep`)

Layering: builds on jaxbench.run (RunSpecs in, records out) and the leaves (optimizers,
problems, tuning); nothing below imports it.
"""
from __future__ import annotations

from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> None:
  """`jaxbench sweep` / `python -m jaxbench.sweep` (argv[0] is the program name)."""
  # Imported here, not at the top: the command defines absl flags (--config, ...) in absl's
  # process-wide registry, which must not happen on a plain `import jaxbench.sweep` (the main
  # command defines its own --config).
  from jaxbench.sweep import command  # pylint: disable=import-outside-toplevel
  command.main(argv)
