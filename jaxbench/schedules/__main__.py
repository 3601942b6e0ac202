"""`python -m jaxbench.schedules [--plot FILE.svg]`: list every schedule, or draw them all.

The figure is a hand-written SVG (one small panel per schedule, learning rate over base rate
against epochs at its default parameters), so it needs no plotting library.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence
from xml.sax.saxutils import escape

import jax
import jax.numpy as jnp
import numpy as np

from jaxbench import schedules

_PANEL_W, _PANEL_H, _PAD, _COLUMNS = 240, 150, 28, 4


def curves(num_epochs: int, steps_per_epoch: int) -> dict[str, np.ndarray]:
  """lr(t) / base_lr at every step, for every schedule at its default parameters."""
  counts = jnp.arange(num_epochs * steps_per_epoch, dtype=jnp.int32)
  return {name: np.asarray(jax.vmap(schedules.get(name, 1.0, num_epochs, steps_per_epoch))(counts))
          for name in schedules.names()}


def svg(num_epochs: int, steps_per_epoch: int) -> str:
  """The figure as SVG text."""
  data = curves(num_epochs, steps_per_epoch)
  rows = -(-len(data) // _COLUMNS)
  width, height = _COLUMNS * _PANEL_W, rows * _PANEL_H
  parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
  for i, (name, values) in enumerate(data.items()):
    x0, y0 = (i % _COLUMNS) * _PANEL_W + _PAD, (i // _COLUMNS) * _PANEL_H + _PAD
    w, h = _PANEL_W - 1.5 * _PAD, _PANEL_H - 2 * _PAD
    top = max(1.0, float(values.max()))
    xs = x0 + w * np.arange(len(values)) / max(len(values) - 1, 1)
    ys = y0 + h * (1.0 - values / top)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    kind = "paper, per epoch" if name in schedules.paper_names() else "per step"
    parts += [
        f'<text x="{x0}" y="{y0 - 8}" font-weight="bold">{escape(name)} '
        f'<tspan font-weight="normal" fill="#666">({kind})</tspan></text>',
        f'<rect x="{x0}" y="{y0}" width="{w:.1f}" height="{h:.1f}" fill="none" stroke="#bbb"/>',
        f'<polyline points="{points}" fill="none" stroke="#1f77b4" stroke-width="1.2"/>',
        f'<text x="{x0 - 3}" y="{y0 + 4}" text-anchor="end" fill="#666">{top:g}</text>',
        f'<text x="{x0 - 3}" y="{y0 + h + 4}" text-anchor="end" fill="#666">0</text>',
        f'<text x="{x0 + w:.1f}" y="{y0 + h + 13:.1f}" text-anchor="end" fill="#666">'
        f'{num_epochs} epochs</text>',
    ]
  parts.append("</svg>")
  return "\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jaxbench.schedules",
                                   description="List or plot the learning-rate schedules.")
  parser.add_argument("--plot", metavar="FILE.svg", help="write a figure of every schedule")
  parser.add_argument("--num-epochs", type=int, default=100)
  parser.add_argument("--steps-per-epoch", type=int, default=20)
  args = parser.parse_args(argv)
  if args.plot:
    with open(args.plot, "w", encoding="utf-8") as f:
      f.write(svg(args.num_epochs, args.steps_per_epoch))
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
