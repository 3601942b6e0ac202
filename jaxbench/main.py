"""The main command: `python -m jaxbench.main --config=experiments/<name>.py [--config.x=y ...]`.

Tiny by design (as in NanoDO and the Flax examples): parse the locked ml_collections config and
hand it to `train_and_evaluate`. How it ends:

- success: exit 0 (with `config.report`, the analysis report's path is printed last);
- an expected failure, i.e. any `jaxbench.errors.JaxbenchError` (a bad config key or value, a
  typo in a `--config.` override, a missing config file, missing or corrupt data, a full disk):
  one line `jaxbench: error: <message>` on stderr, exit 2 (the argparse convention for "you
  asked for something that cannot be done", kept apart from Python's 1 for a crash);
- an interruption (Ctrl-C = SIGINT, or SIGTERM from a scheduler or `kill`): one line saying what
  happened and that the same command resumes, exit 130 / 143 (128 + the signal number, what a
  shell reports for a process the signal killed);
- anything else is a bug and keeps Python's traceback (exit 1).
"""
from __future__ import annotations

if __name__ == "__main__":  # the allocator is chosen before anything large is imported
  from jaxbench.train import allocator  # pylint: disable=ungrouped-imports
  allocator.reexec_with_tcmalloc()

import difflib
import os
import re
import signal
import sys
from typing import Any, NoReturn, Optional, Sequence

from absl import app
from absl import flags
from absl import logging
from etils import epath
from ml_collections import config_flags

from jaxbench import config as config_lib
from jaxbench.errors import ConfigError
from jaxbench.errors import JaxbenchError
from jaxbench.run import loop
from jaxbench.train import xla_flags

EXIT_ERROR = 2
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + signal number

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (experiments/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output root; overrides config.output_dir when given.")

# `--config.a.b=v`, `--config.a.b v`, and absl's boolean `--noconfig.a.b` (one dash works too).
_OVERRIDE = re.compile(r"^--?(?:no)?config\.([^=]+)")
_CONFIG_FILE = re.compile(r"^--?config(?:=(.*))?$")


class Signalled(KeyboardInterrupt):
  """SIGINT or SIGTERM arrived; both take the KeyboardInterrupt path through the run layer, so a
  termination leaves the same consistent tree as a Ctrl-C."""

  def __init__(self, signum: int):
    super().__init__(signum)
    self.signum = signum


def _raise_signalled(signum, frame) -> NoReturn:
  del frame
  raise Signalled(signum)


def report_dir(output_dir: str) -> str:
  """Where `config.report` writes: a sibling of the results root, so nothing but run records
  lies under the root (DeepOBS's analyzer takes every folder there for a test problem)."""
  root = epath.Path(output_dir)
  return str(root.parent / f"{root.name}_report")


def train_and_evaluate(config: Any, workdir: Optional[str] = None) -> list:
  """Runs every run group of `config` (resuming where records/checkpoints exist).

  Returns the list of `jaxbench.run.loop.GroupResult`.
  """
  config = config_lib.to_dict(config)
  if workdir is not None:
    config["output_dir"] = workdir
  specs = config_lib.resolve(config)
  return loop.run_specs(specs, config)


def write_report(output_dir: str) -> str:
  """Writes the analysis report of `output_dir`'s records next to it; returns its path."""
  # Imported here, not at the top: pandas and matplotlib add seconds to every command's start,
  # and only `config.report` (the quickstart) needs them.
  from jaxbench.analysis import report  # pylint: disable=import-outside-toplevel
  return str(report.write_report(output_dir, report_dir(output_dir)))


def _config_file(argv: Sequence[str]) -> Optional[str]:
  """The --config value (without its `:argument` suffix), as absl will read it."""
  found = None
  for i, arg in enumerate(argv):
    if arg == "--":
      break
    match = _CONFIG_FILE.match(arg)
    if match:
      value = match.group(1)
      if value is None and i + 1 < len(argv):
        value = argv[i + 1]
      found = value
  return None if found is None else found.split(":", 1)[0]


def _check_config_file(path: str) -> None:
  if os.path.isfile(path):
    return
  folder = os.path.dirname(path) or "."
  nearby = (sorted(f for f in os.listdir(folder) if f.endswith(".py"))
            if os.path.isdir(folder) else [])
  close = difflib.get_close_matches(os.path.basename(path), nearby, n=1)
  hint = f" (did you mean {os.path.join(os.path.dirname(path), close[0])!r}?)" if close else ""
  raise ConfigError(f"--config={path!r}: no such config file{hint}; the config files are "
                    "experiments/<problem>.py and experiments/quickstart.py")


def _chain(error: BaseException):
  """The error and the ones it was raised from or during, innermost last."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    yield error
    error = error.__cause__ or error.__context__


def _jaxbench_cause(error: BaseException) -> Optional[JaxbenchError]:
  """The innermost JaxbenchError behind a flag error (a config file's get_config raised it)."""
  found = [e for e in _chain(error) if isinstance(e, JaxbenchError)]
  return found[-1] if found else None


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing with one-line errors: override paths are checked against the base
  config first (so a typo gets "did you mean" instead of ml_collections' 57-line trace), and
  flag values that do not parse become ConfigErrors. A config file whose get_config() crashes
  keeps its traceback: that is a bug in the file."""
  argv = list(argv)
  for arg in argv[1:]:
    if arg == "--":
      break
    match = _OVERRIDE.match(arg)
    if match:
      config_lib.check_override(match.group(1))
  path = _config_file(argv[1:])
  if path is not None:
    _check_config_file(path)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    cause = _jaxbench_cause(e)
    if cause is not None:
      # ml_collections re-raises the file's error with a traceback text in front of it; the
      # original error's message is the useful line.
      raise type(cause)(f"{path}: {cause}") from None
    if "Error whilst parsing config file" in str(e):
      raise
    raise ConfigError(str(e).splitlines()[0]) from None


def _main(argv: Sequence[str]) -> None:
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments {list(argv[1:])}; overrides are written "
                      "--config.<key>=<value>")
  if _CONFIG.value is None:
    raise ConfigError("--config=experiments/<name>.py is required")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint step at INFO
  train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  if _CONFIG.value.get("report"):
    output_dir = _WORKDIR.value or _CONFIG.value.output_dir
    print(f"report: {write_report(output_dir)}", flush=True)


def _exit(message: str, code: int) -> NoReturn:
  sys.stdout.flush()
  print(message, file=sys.stderr, flush=True)
  sys.exit(code)


def interrupted_message(error: KeyboardInterrupt) -> tuple[str, int]:
  """(the one line, the exit code) for an interruption.

  The run layer turns an interruption inside a batch into `loop.Interrupted`, whose message says
  where training stopped and which checkpoint epoch is kept; the signal that caused it is the
  `Signalled` it was raised during. Outside a batch (loading data, between batches) there is no
  checkpoint of a running batch to speak of.
  """
  signum = next((e.signum for e in _chain(error) if isinstance(e, Signalled)), signal.SIGINT)
  name = signal.Signals(signum).name
  detail = next((e.message for e in _chain(error) if isinstance(e, loop.Interrupted)), None)
  if detail is None:
    detail = ("interrupted; finished runs' records and the last checkpoint are kept; run the "
              "same command again to resume")
  return f"jaxbench: {name}: {detail}", EXIT_SIGNAL[signum]


def main() -> None:
  """Runs the command on sys.argv (ml_collections defines the `--config.` override flags from
  sys.argv itself, so there is no argv parameter: callers such as jaxbench.cli set sys.argv)."""
  xla_flags.apply()  # before the first computation initialises the backend
  for signum in EXIT_SIGNAL:
    signal.signal(signum, _raise_signalled)
  try:
    app.run(_main, flags_parser=parse_flags)
  except JaxbenchError as e:
    _exit(f"jaxbench: error: {e}", EXIT_ERROR)
  except KeyboardInterrupt as e:
    _exit(*interrupted_message(e))


if __name__ == "__main__":
  main()
