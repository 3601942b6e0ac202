"""XLA flags jaxbench sets before JAX starts its backend (measured choices, BUILD_NOTES.md).

Why a function: XLA reads XLA_FLAGS once, when the first backend initialises, so entry points
call `apply()` before importing anything that touches jax devices. Flags the user already set in
XLA_FLAGS win (we only add flags whose name is absent).
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

# flag name -> value; BUILD_NOTES.md has every flag measured, the losers too.
# jaxlib 0.10.2 hands convolutions to YNNPACK by default; its weight-gradient convolution (the
# backward pass of a 'SAME' 5x5 conv, expressed as a conv with a 14x14 window) ran 3-5x slower
# than XLA's Eigen convolution on the 2-core CPU, and the conv parts of the fmnist_2c2d step
# about 2x slower in total. Removing only the convolution type keeps YNNPACK's dots and
# elementwise fusions. Harmless on GPU/TPU (a CPU-only flag).
CPU_FLAGS: Mapping[str, str] = {
  "xla_cpu_experimental_ynn_fusion_type": "-individual_convolution",
}


# XLA aborts the process on a flag it does not know, so the defaults are only added for the
# jaxlib releases they were measured on (the YNNPACK fusion flag exists from jaxlib 0.10).
MEASURED_JAXLIB_PREFIXES = ("0.10.",)


def _jaxlib_knows_cpu_flags() -> bool:
  from importlib import metadata  # pylint: disable=import-outside-toplevel
  try:
    version = metadata.version("jaxlib")
  except metadata.PackageNotFoundError:  # no jaxlib metadata: add nothing
    return False
  return version.startswith(MEASURED_JAXLIB_PREFIXES)


def merged(existing: str, flags: Mapping[str, str]) -> str:
  """`existing` XLA_FLAGS plus each of `flags` whose name it does not already set."""
  present = {part.split("=", 1)[0] for part in existing.split() if part.startswith("--")}
  added = [f"--{name}={value}" for name, value in flags.items() if f"--{name}" not in present]
  return " ".join([existing.strip()] + added).strip()


def apply(flags: Optional[Mapping[str, str]] = None) -> str:
  """Adds `flags` (default CPU_FLAGS) to os.environ['XLA_FLAGS']; returns the new value.

  Has no effect on a backend that is already initialised (XLA read the variable then).
  JAXBENCH_XLA_FLAGS=0 in the environment turns the defaults off (for A/B measurements).
  """
  if flags is None and (os.environ.get("JAXBENCH_XLA_FLAGS") == "0"
                        or not _jaxlib_knows_cpu_flags()):
    flags = {}
  value = merged(os.environ.get("XLA_FLAGS", ""), CPU_FLAGS if flags is None else flags)
  if value:
    os.environ["XLA_FLAGS"] = value
  return value
