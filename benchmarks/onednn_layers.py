"""Per-layer times, XLA's convolution vs oneDNN's (jaxbench.problems.onednn): forward, input
gradient, weight gradient, best of 5 windows, plus the relative error of each against lax.

  python benchmarks/onednn_layers.py
"""
import time

from jaxbench.train import xla_flags

xla_flags.apply()

import jax  # noqa: E402  pylint: disable=wrong-import-position
import jax.numpy as jnp  # noqa: E402  pylint: disable=wrong-import-position
from jax import lax  # noqa: E402  pylint: disable=wrong-import-position

from jaxbench.problems import onednn  # noqa: E402  pylint: disable=wrong-import-position

DN = ("NHWC", "HWIO", "NHWC")
LAYERS = {  # name -> (input NHWC, kernel HWIO, strides, padding)
  "2c2d conv1": ((128, 28, 28, 1), (5, 5, 1, 32), (1, 1), "SAME"),
  "2c2d conv2": ((128, 14, 14, 32), (5, 5, 32, 64), (1, 1), "SAME"),
  "3c3d conv1": ((128, 32, 32, 3), (5, 5, 3, 64), (1, 1), "VALID"),
  "vae conv2": ((64, 14, 14, 64), (4, 4, 64, 64), (2, 2), "SAME"),
}


def _best_ms(fn, *args, calls=10):
  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(5):
    started = time.perf_counter()
    for _ in range(calls):
      out = fn(*args)
    jax.block_until_ready(out)
    best = min(best, (time.perf_counter() - started) / calls)
  return best * 1e3


def main():
  for name, (x_shape, k_shape, strides, padding) in LAYERS.items():
    x = jax.random.normal(jax.random.key(0), x_shape)
    k = jax.random.normal(jax.random.key(1), k_shape) * 0.1
    forms = {"xla": lambda a, b: lax.conv_general_dilated(a, b, strides, padding,
                                                          dimension_numbers=DN),
             "onednn": lambda a, b: onednn.conv(a, b, strides, padding)}
    cot = jax.random.normal(jax.random.key(2), forms["xla"](x, k).shape)
    line = name
    for label, form in forms.items():
      fwd = jax.jit(form)
      dx = jax.jit(lambda a, b, f=form: jax.vjp(f, a, b)[1](cot)[0])
      dk = jax.jit(lambda a, b, f=form: jax.vjp(f, a, b)[1](cot)[1])
      line += (f" | {label} fwd {_best_ms(fwd, x, k):.1f} ms, dx {_best_ms(dx, x, k):.1f}, "
               f"dk {_best_ms(dk, x, k):.1f}")
    ref = jax.vjp(forms["xla"], x, k)[1](cot)
    got = jax.vjp(forms["onednn"], x, k)[1](cot)
    err = max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a))) for a, b in zip(ref, got))
    print(f"{line} | max rel err of the gradients {err:.1e}", flush=True)


if __name__ == "__main__":
  main()
