"""One convolution layer's forward + both gradients, every formulation, alternating in ONE process.

Formulations (same values; tests/test_nets_conv.py checks the shipped ones):
  xla       lax.conv_general_dilated, NHWC/HWIO (the reference)
  nchw      lax.conv_general_dilated, NCHW/OIHW (input and output transposed outside the clock)
  patches   lax.conv_general_dilated_patches + one dot_general
  matmul    nets.conv_matmul: shifted strided slices concatenated on channels + one dot_general
  shift     sum over the kh*kw taps of (shifted slice @ kernel[i, j]): no patch tensor
Each with R runs vmapped (R > 1: batched kernels).

  XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution \
      python benchmarks/conv_layer_ab.py --runs=1,10 --rounds=5
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxbench.problems import nets

LAYERS = {  # name -> (input NHWC, kernel HWIO, strides, padding)
  "2c2d_conv2": ((128, 14, 14, 32), (5, 5, 32, 64), (1, 1), "SAME"),
  "3c3d_conv1": ((128, 32, 32, 3), (5, 5, 3, 64), (1, 1), "VALID"),
  "vae_conv2": ((64, 14, 14, 64), (4, 4, 64, 64), (2, 2), "SAME"),
}


def _shift(x, k, strides, padding):
  kh, kw, _, _ = k.shape
  sh, sw = strides
  if padding == "SAME":
    pads = (nets._same_padding(x.shape[1], kh, sh), nets._same_padding(x.shape[2], kw, sw))  # pylint: disable=protected-access
    x = jnp.pad(x, ((0, 0),) + pads + ((0, 0),))
  oh, ow = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
  out = None
  for i in range(kh):
    for j in range(kw):
      view = x[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw, :]
      term = jnp.einsum("bhwc,co->bhwo", view, k[i, j])
      out = term if out is None else out + term
  return out


def _patches(x, k, strides, padding):
  kh, kw, cin, cout = k.shape
  p = lax.conv_general_dilated_patches(x, (kh, kw), strides, padding,
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
  # patches' feature order is (channel, i, j)
  return jnp.einsum("bhwf,fo->bhwo", p, jnp.transpose(k, (2, 0, 1, 3)).reshape(cin * kh * kw, cout))


def _nchw(x, k, strides, padding):
  return lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=("NCHW", "OIHW", "NCHW"))


FORMS = {
  "xla": lambda x, k, s, p: lax.conv_general_dilated(x, k, s, p, dimension_numbers=("NHWC", "HWIO", "NHWC")),
  "nchw": _nchw,
  "patches": _patches,
  "matmul": nets.conv_matmul,
  "shift": _shift,
}


def _program(form, strides, padding, runs):
  conv = FORMS[form]

  def f(x, k):
    y = conv(x, k, strides, padding)
    return jnp.sum(y * y)  # forward + both gradients via grad
  g = jax.grad(f, argnums=(0, 1))
  if runs > 1:
    g = jax.vmap(g)
  return jax.jit(g)


def main() -> None:
  ap = argparse.ArgumentParser()
  ap.add_argument("--layers", default=",".join(LAYERS))
  ap.add_argument("--forms", default=",".join(FORMS))
  ap.add_argument("--runs", default="1,10")
  ap.add_argument("--rounds", type=int, default=5)
  ap.add_argument("--window", type=float, default=0.5)
  args = ap.parse_args()
  rng = np.random.RandomState(0)
  for layer in args.layers.split(","):
    x_shape, k_shape, strides, padding = LAYERS[layer]
    for runs in (int(r) for r in args.runs.split(",")):
      lead = (runs,) if runs > 1 else ()
      x = jnp.asarray(rng.normal(size=lead + x_shape).astype(np.float32))
      k = jnp.asarray(rng.normal(size=lead + k_shape).astype(np.float32))
      progs = {}
      for form in args.forms.split(","):
        xi, ki = x, k
        if form == "nchw":
          xi = jnp.moveaxis(x, -1, -3)
          ki = (jnp.transpose(k, (3, 2, 0, 1)) if runs == 1
                else jnp.transpose(k, (0, 4, 3, 1, 2)))
        fn = _program(form, strides, padding, runs)
        jax.block_until_ready(fn(xi, ki))
        progs[form] = (fn, xi, ki)
      times = {f: [] for f in progs}
      for _ in range(args.rounds):
        for form, (fn, xi, ki) in progs.items():
          n, t0 = 0, time.perf_counter()
          while time.perf_counter() - t0 < args.window or n == 0:
            jax.block_until_ready(fn(xi, ki))
            n += 1
          times[form].append((time.perf_counter() - t0) / n)
      base = min(times["xla"]) if "xla" in times else None
      for form, ts in times.items():
        ratio = f"x{base / min(ts):5.2f} vs xla" if base else ""
        print(f"{layer:11s} runs={runs:3d} {form:8s} min {1e3 * min(ts):8.1f} ms  "
              f"median {1e3 * statistics.median(ts):8.1f} ms  {ratio}", flush=True)


if __name__ == "__main__":
  main()
