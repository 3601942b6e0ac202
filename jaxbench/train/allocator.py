"""The memory allocator jaxbench's commands run with: tcmalloc, when the system has it.

Why (measured, BUILD_NOTES.md "Allocator"): with the C library's malloc, XLA:CPU's large
per-step buffers (activations, gradients, the new optimizer state: ~10 MB each for fmnist_2c2d)
are returned to the kernel and faulted in again every step: 26,000 minor page faults and 62 ms
of kernel time per fmnist_2c2d step (35,000 and 72 ms for cifar10_3c3d, 17,000 and 47 ms for the
char-RNN). tcmalloc keeps the pages: ~500 faults, 2 ms; steps 1.28x (2c2d), 1.35x (3c3d) and
1.52x (char-RNN) faster. Numbers do not change (the allocator places buffers, it computes nothing).

An allocator has to be chosen before the process starts, so the command-line entry points call
`reexec_with_tcmalloc()` first: it starts the same command again (same PID, os.execv) with
tcmalloc in LD_PRELOAD, and the new process puts LD_PRELOAD back as it was, so that the processes
it starts (Chromium for the report, Ray workers) are not affected. Library code and tests never
re-execute anything: only the `__main__` entry points and the `jaxbench` console command call it.

  JAXBENCH_TCMALLOC=0   keep the C library's malloc (A/B measurements; no note printed)
"""
from __future__ import annotations

import ctypes.util
import os
import sys
from typing import Callable, Mapping, MutableMapping, Optional, Sequence

LIBRARIES = ("tcmalloc_minimal", "tcmalloc")   # Debian: libtcmalloc-minimal4 / libgoogle-perftools4
INSTALL_HINT = "apt-get install libtcmalloc-minimal4"
_REEXEC_MARK = "JAXBENCH_TCMALLOC_REEXEC"      # set in the re-executed process: never loop
_ORIGINAL_PRELOAD = "JAXBENCH_LD_PRELOAD_BEFORE"


def loaded(maps_path: str = "/proc/self/maps") -> bool:
  """True iff a tcmalloc library is mapped into this process."""
  try:
    with open(maps_path, encoding="utf-8", errors="replace") as f:
      return "tcmalloc" in f.read()
  except OSError:
    return False


def find_library(finder: Callable[[str], Optional[str]] = ctypes.util.find_library
                 ) -> Optional[str]:
  """The soname of the first tcmalloc the dynamic linker can find, else None."""
  for name in LIBRARIES:
    found = finder(name)
    if found:
      return found
  return None


def restore_environment(environ: MutableMapping[str, str]) -> None:
  """In the re-executed process: LD_PRELOAD back to what it was before the re-exec."""
  if _REEXEC_MARK not in environ:
    return
  environ.pop(_REEXEC_MARK)
  before = environ.pop(_ORIGINAL_PRELOAD, "")
  if before:
    environ["LD_PRELOAD"] = before
  else:
    environ.pop("LD_PRELOAD", None)


def reexec_environment(environ: Mapping[str, str], library: str) -> dict[str, str]:
  """The environment to re-execute with: `library` first in LD_PRELOAD, and the marks."""
  env = dict(environ)
  before = environ.get("LD_PRELOAD", "")
  env[_ORIGINAL_PRELOAD] = before
  env["LD_PRELOAD"] = f"{library} {before}".strip()
  env[_REEXEC_MARK] = "1"
  return env


def reexec_with_tcmalloc(argv: Optional[Sequence[str]] = None,
                         environ: Optional[MutableMapping[str, str]] = None,
                         execv: Callable = os.execve,
                         stderr=None) -> str:
  """Re-executes this command under tcmalloc when it is available and not loaded yet.

  Returns what was decided (and does not return when it re-executes): 'loaded' (already in this
  process), 'off' (JAXBENCH_TCMALLOC=0), 'missing' (no tcmalloc on the system: a one-line note
  on stderr, the command goes on with the C library's malloc), 'failed' (re-executed once and
  still not loaded: go on, never loop).
  """
  environ = os.environ if environ is None else environ
  stderr = sys.stderr if stderr is None else stderr
  reexecuted = _REEXEC_MARK in environ
  restore_environment(environ)
  if environ.get("JAXBENCH_TCMALLOC") == "0":
    return "off"
  if loaded():
    return "loaded"
  if reexecuted:
    print("jaxbench: note: tcmalloc was preloaded but is not mapped; going on with the C "
          "library's malloc", file=stderr)
    return "failed"
  library = find_library()
  if library is None:
    print(f"jaxbench: note: tcmalloc not found, using the C library's malloc (CPU conv and RNN "
          f"steps up to 1.5x slower; {INSTALL_HINT}; JAXBENCH_TCMALLOC=0 silences this)",
          file=stderr)
    return "missing"
  argv = list(sys.orig_argv if argv is None else argv)
  for stream in (sys.stdout, sys.stderr):
    stream.flush()
  execv(sys.executable, argv, reexec_environment(environ, library))
  return "reexecuted"  # only reached with a test's execv


def describe() -> str:
  """One word for reports: 'tcmalloc' or 'libc malloc'."""
  return "tcmalloc" if loaded() else "libc malloc"
