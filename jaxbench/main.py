"""The main command: `python -m jaxbench.main --config=experiments/<name>.py [--config.x=y ...]`.

Tiny by design (as in NanoDO and the Flax examples): parse the locked ml_collections config and
hand it to `train_and_evaluate`.
"""
from __future__ import annotations

from typing import Any, Optional

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (experiments/*.py).", lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Output root; overrides config.output_dir when given.")


def train_and_evaluate(config: Any, workdir: Optional[str] = None) -> list:
  """Runs every run group of `config` (resuming where records/checkpoints exist).

  Returns the list of `jaxbench.run.loop.GroupResult`.
  """
  from jaxbench import config as config_lib
  from jaxbench.run import loop
  config = config_lib.to_dict(config)
  if workdir is not None:
    config["output_dir"] = workdir
  specs = config_lib.resolve(config)
  return loop.run_specs(specs, config)


def _main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _CONFIG.value is None:
    raise app.UsageError("--config=experiments/<name>.py is required")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint step at INFO
  try:
    train_and_evaluate(_CONFIG.value, _WORKDIR.value)
  except (KeyError, TypeError, ValueError) as e:
    # Config errors: a clear one-line message, no traceback.
    message = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
    raise SystemExit(f"jaxbench: error: {message}") from None


def main() -> None:
  from jaxbench.train import xla_flags  # pylint: disable=import-outside-toplevel
  xla_flags.apply()  # before the first computation initialises the backend
  app.run(_main)


if __name__ == "__main__":
  main()
