"""XLA flags jaxbench sets before JAX starts its backend (measured choices, notes/performance.md).

Why a function: XLA reads XLA_FLAGS once, when the first backend initialises, so entry points
call `apply()` before importing anything that touches jax devices. Flags the user already set in
XLA_FLAGS win (we only add flags whose name is absent).
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

# flag name -> value. Empty until a flag measurably helps on the benchmark problems: see
# notes/performance.md for every flag measured (none beat the defaults of jaxlib 0.10.2 on the
# 2-core CPU).
CPU_FLAGS: Mapping[str, str] = {}


def merged(existing: str, flags: Mapping[str, str]) -> str:
  """`existing` XLA_FLAGS plus each of `flags` whose name it does not already set."""
  present = {part.split("=", 1)[0] for part in existing.split() if part.startswith("--")}
  added = [f"--{name}={value}" for name, value in flags.items() if f"--{name}" not in present]
  return " ".join([existing.strip()] + added).strip()


def apply(flags: Optional[Mapping[str, str]] = None) -> str:
  """Adds `flags` (default CPU_FLAGS) to os.environ['XLA_FLAGS']; returns the new value.

  Has no effect on a backend that is already initialised (XLA read the variable then).
  """
  value = merged(os.environ.get("XLA_FLAGS", ""), CPU_FLAGS if flags is None else flags)
  if value:
    os.environ["XLA_FLAGS"] = value
  return value
