"""`python -m jaxbench.schedules [--plot FILE.{svg,png,pdf}]`: list every schedule, or draw them.

The figure is drawn with matplotlib, one small panel per schedule (learning rate over base rate
against epochs, at its default parameters); the file's extension chooses the format. Each curve
carries the SVG id `schedule-<name>`, so tools can find it in the file.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxbench import schedules  # noqa: E402
from jaxbench.errors import ConfigError  # noqa: E402

_COLUMNS = 4


def curves(num_epochs: int, steps_per_epoch: int) -> dict[str, np.ndarray]:
  """lr(t) / base_lr at every step, for every schedule at its default parameters."""
  counts = jnp.arange(num_epochs * steps_per_epoch, dtype=jnp.int32)
  return {name: np.asarray(jax.vmap(schedules.get(name, 1.0, num_epochs, steps_per_epoch))(counts))
          for name in schedules.names()}


def figure(num_epochs: int, steps_per_epoch: int):
  """The figure: a grid of panels, x in epochs, y = lr / base lr."""
  data = curves(num_epochs, steps_per_epoch)
  rows = -(-len(data) // _COLUMNS)
  fig, axes = plt.subplots(rows, _COLUMNS, figsize=(3.2 * _COLUMNS, 2.2 * rows), squeeze=False)
  for ax, (name, values) in zip(axes.flat, data.items()):
    epochs = np.arange(len(values)) / steps_per_epoch
    line, = ax.plot(epochs, values, lw=1.2)
    line.set_gid(f"schedule-{name}")
    kind = "paper, per epoch" if name in schedules.paper_names() else "per step"
    ax.set_title(f"{name} ({kind})", fontsize=9)
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize=7)
  for ax in axes.flat[len(data):]:
    ax.set_visible(False)
  fig.supxlabel("epoch")
  fig.supylabel("learning rate / base rate")
  fig.tight_layout()
  return fig


def plot(path: str, num_epochs: int, steps_per_epoch: int) -> None:
  fmt = os.path.splitext(path)[1].lstrip(".").lower()
  supported = sorted(plt.gcf().canvas.get_supported_filetypes())
  plt.close("all")
  if fmt not in supported:
    raise ConfigError(f"--plot {path!r}: unknown image format {fmt!r}; valid extensions: "
                      f"{', '.join(supported)}")
  fig = figure(num_epochs, steps_per_epoch)
  fig.savefig(path, format=fmt, dpi=110)
  plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jaxbench.schedules",
                                   description="List or plot the learning-rate schedules.")
  parser.add_argument("--plot", metavar="FILE.svg",
                      help="write a figure of every schedule; the extension (svg, png, pdf, "
                      "...) chooses the format")
  parser.add_argument("--num-epochs", type=int, default=100)
  parser.add_argument("--steps-per-epoch", type=int, default=20)
  args = parser.parse_args(argv)
  if args.plot:
    try:
      plot(args.plot, args.num_epochs, args.steps_per_epoch)
    except ConfigError as error:
      parser.error(str(error))
    print(f"wrote {args.plot}: {len(schedules.names())} schedules, T = {args.num_epochs} epochs")
    return 0
  for name in schedules.names():
    formula, reference = schedules.describe(name)
    defaults = schedules.params(name, base_lr=1.0, num_epochs=args.num_epochs)
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v!r}"
                      for k, v in defaults.items())
    print(f"{name:20s} {formula}\n{'':20s} {reference}" + (f"; defaults {shown}" if shown else ""))
  return 0


if __name__ == "__main__":
  sys.exit(main())
