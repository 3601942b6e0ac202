"""Convolutions by oneDNN (Intel's deep-learning kernels, what PyTorch runs on CPUs), as XLA FFI
custom calls with a `custom_vjp`: the forward, input-gradient and weight-gradient primitives.

Why: XLA:CPU computes convolutions with Eigen; per layer oneDNN was 1.05-3.1x faster on this CPU
(BUILD_NOTES.md, "oneDNN convolutions"), and jaxlib's own oneDNN rewriter is not built in
(benchmarks/onednn_flags.py). The strategy policy picks conv_impl='onednn' for conv problems on
CPU when `available()`; everything else is unchanged (same parameters, same values up to
float32 rounding: tests/test_onednn.py).

The handlers (onednn_conv.cc, beside this file) are compiled on first use with the system's C++
compiler against the system's oneDNN (Debian: `apt-get install libdnnl-dev g++`) into
$JAXBENCH_CACHE (default ~/.cache/jaxbench), keyed by the source and the jaxlib version, and
registered with `jax.ffi` once per process. Under `vmap` each run is one call (the conv
problems loop their runs on CPU anyway).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import os
import shutil
import subprocess
from importlib import metadata
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxbench.errors import ConfigError

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onednn_kernels.cc")
INSTALL_HINT = "apt-get install libdnnl-dev g++"
_HEADER = os.path.join("oneapi", "dnnl", "dnnl.hpp")
_TARGETS = {"fwd": "jaxbench_onednn_conv_fwd", "bwd_data": "jaxbench_onednn_conv_bwd_data",
            "bwd_weights": "jaxbench_onednn_conv_bwd_weights",
            "lstm_fwd": "jaxbench_onednn_lstm_fwd", "lstm_bwd": "jaxbench_onednn_lstm_bwd"}
_SYMBOLS = {"fwd": "ConvFwd", "bwd_data": "ConvBwdData", "bwd_weights": "ConvBwdWeights",
            "lstm_fwd": "LstmFwd", "lstm_bwd": "LstmBwd"}


def _compiler() -> str:
  return os.environ.get("CXX", "g++")


def _include_dirs() -> list[str]:
  extra = [p for p in os.environ.get("CPATH", "").split(os.pathsep) if p]
  return extra + ["/usr/include", "/usr/local/include"]


@functools.lru_cache(maxsize=None)
def _dnnl_found() -> bool:
  # find_library runs `ldconfig -p` (a subprocess): once per process, not per Trainer.
  return ctypes.util.find_library("dnnl") is not None


def missing() -> list[str]:
  """What the system lacks for oneDNN convolutions ([] when they can be built and loaded)."""
  lacks = []
  if not _dnnl_found():
    lacks.append("the oneDNN library (libdnnl)")
  if not os.path.exists(_library_path()):
    if shutil.which(_compiler()) is None:
      lacks.append(f"a C++ compiler ({_compiler()})")
    if not any(os.path.exists(os.path.join(d, _HEADER)) for d in _include_dirs()):
      lacks.append("the oneDNN headers (oneapi/dnnl/dnnl.hpp)")
  return lacks


def available() -> bool:
  return not missing()


@functools.lru_cache(maxsize=None)
def _build_key() -> str:
  """The handlers' identity: their source and the jaxlib whose FFI headers they compile with."""
  with open(SOURCE, "rb") as f:
    source = f.read()
  return hashlib.sha256(source + metadata.version("jaxlib").encode()).hexdigest()[:16]


def _library_path() -> str:
  key = _build_key()
  cache = os.environ.get("JAXBENCH_CACHE", os.path.join(os.path.expanduser("~"), ".cache",
                                                        "jaxbench"))
  return os.path.join(cache, f"onednn-{key}", "libjaxbench_onednn.so")


def _build(path: str) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  partial = f"{path}.{os.getpid()}.tmp"
  command = [_compiler(), "-O2", "-std=c++17", "-shared", "-fPIC", "-w", SOURCE,
             "-I", jax.ffi.include_dir(), "-ldnnl", "-o", partial]
  result = subprocess.run(command, capture_output=True, text=True, check=False)
  if result.returncode != 0:
    raise ConfigError(f"building the oneDNN convolutions failed ({' '.join(command)}):\n"
                      f"{result.stderr.strip()[-2000:]}")
  os.replace(partial, path)   # atomic: concurrent first uses each build, one wins


@functools.lru_cache(maxsize=None)
def _register() -> ctypes.CDLL:
  lacks = missing()
  if lacks:
    raise ConfigError(f"conv_impl / rnn_impl 'onednn' needs {', '.join(lacks)}: {INSTALL_HINT}; "
                      "or use 'xla'")
  path = _library_path()
  if not os.path.exists(path):
    _build(path)
  library = ctypes.cdll.LoadLibrary(path)
  for op, target in _TARGETS.items():
    jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(library, _SYMBOLS[op])),
                                platform="cpu")
  library.JaxbenchLstmWorkspaceBytes.restype = ctypes.c_int64
  library.JaxbenchLstmWorkspaceBytes.argtypes = [ctypes.c_int64] * 4
  return library


Pads = tuple[tuple[int, int], tuple[int, int]]


def _attrs(strides: Sequence[int], pads: Pads) -> dict[str, Any]:
  (top, bottom), (left, right) = pads
  return dict(sh=np.int64(strides[0]), sw=np.int64(strides[1]), pt=np.int64(top),
              pb=np.int64(bottom), pl=np.int64(left), pr=np.int64(right))


def _call(op: str, shape: Sequence[int], dtype, a: jax.Array, b: jax.Array,
          strides: Sequence[int], pads: Pads) -> jax.Array:
  _register()
  return jax.ffi.ffi_call(_TARGETS[op], jax.ShapeDtypeStruct(tuple(shape), dtype),
                          vmap_method="sequential")(a, b, **_attrs(strides, pads))


def _out_size(size: int, kernel: int, stride: int, pad: tuple[int, int]) -> int:
  return (size + pad[0] + pad[1] - kernel) // stride + 1


def _forward_shape(x_shape, k_shape, strides, pads) -> tuple[int, ...]:
  return (x_shape[0], _out_size(x_shape[1], k_shape[0], strides[0], pads[0]),
          _out_size(x_shape[2], k_shape[1], strides[1], pads[1]), k_shape[3])


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv(x, kernel, strides, pads):
  return _call("fwd", _forward_shape(x.shape, kernel.shape, strides, pads), x.dtype, x, kernel,
               strides, pads)


def _conv_fwd(x, kernel, strides, pads):
  return _conv(x, kernel, strides, pads), (x, kernel)


def _conv_bwd(strides, pads, residuals, dy):
  x, kernel = residuals
  dx = _call("bwd_data", x.shape, x.dtype, dy, kernel, strides, pads)
  dk = _call("bwd_weights", kernel.shape, kernel.dtype, x, dy, strides, pads)
  return dx, dk


_conv.defvjp(_conv_fwd, _conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_transpose(x, kernel, strides, pads, out_shape):
  # The transpose of the forward convolution out_shape -> x.shape with this (HWIO) kernel: its
  # input gradient (what TF's conv2d_transpose and lax.conv_transpose(transpose_kernel=True) are).
  return _call("bwd_data", out_shape, x.dtype, x, kernel, strides, pads)


def _conv_transpose_fwd(x, kernel, strides, pads, out_shape):
  return _conv_transpose(x, kernel, strides, pads, out_shape), (x, kernel)


def _conv_transpose_bwd(strides, pads, out_shape, residuals, dy):
  x, kernel = residuals
  dx = _call("fwd", x.shape, x.dtype, dy, kernel, strides, pads)
  dk = _call("bwd_weights", kernel.shape, kernel.dtype, dy, x, strides, pads)
  return dx, dk


_conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def _pads(shape: Sequence[int], kernel: Sequence[int], strides: Sequence[int],
          padding: Any) -> Pads:
  """'SAME' / 'VALID' as lax pads them (lax.padtype_to_pads), or explicit (low, high) pairs."""
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(tuple(shape[1:3]), tuple(kernel[:2]), tuple(strides), padding)
  return tuple(tuple(int(p) for p in pair) for pair in padding)


def conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int], padding: Any) -> jax.Array:
  """`lax.conv_general_dilated(x, kernel, strides, padding)`, NHWC x HWIO -> NHWC, by oneDNN."""
  return _conv(x, kernel, tuple(int(s) for s in strides), _pads(x.shape, kernel.shape, strides,
                                                                 padding))


def conv_transpose(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
                   padding: str) -> jax.Array:
  """`lax.conv_transpose(x, kernel, strides, padding, transpose_kernel=True)` by oneDNN.

  `kernel` is [kh, kw, out, in] (flax's ConvTranspose with transpose_kernel=True), i.e. the
  HWIO kernel of the forward convolution out -> in whose input gradient this is.
  """
  strides = tuple(int(s) for s in strides)
  kh, kw = kernel.shape[:2]
  if padding == "SAME":
    size = (x.shape[1] * strides[0], x.shape[2] * strides[1])
  elif padding == "VALID":
    size = ((x.shape[1] - 1) * strides[0] + max(kh, strides[0]),
            (x.shape[2] - 1) * strides[1] + max(kw, strides[1]))
  else:
    raise ConfigError(f"conv-transpose padding={padding!r}; valid choices: SAME, VALID")
  out_shape = (x.shape[0],) + size + (kernel.shape[2],)
  pads = _pads(out_shape, kernel.shape, strides, padding)
  if _forward_shape(out_shape, kernel.shape, strides, pads)[1:3] != tuple(x.shape[1:3]):
    raise ConfigError(f"conv_transpose of {x.shape} with kernel {kernel.shape}, strides "
                      f"{strides}, padding {padding!r}: no forward convolution maps back")
  return _conv_transpose(x, kernel, strides, pads, out_shape)


# ---------------------------------------------------------------------------------------------
# LSTM layers (TF1 LSTMCell semantics, nets.TFLSTMLayer) by oneDNN's LSTM primitive.

# oneDNN's gate order (i, f, c~, o) from TF1's (i, j, f, o), j = c~; its own inverse.
_TF_TO_ONEDNN_GATES = (0, 2, 1, 3)


def _lstm_workspace(steps: int, batch: int, inputs: int, hidden: int) -> int:
  return int(_register().JaxbenchLstmWorkspaceBytes(steps, batch, inputs, hidden))


@jax.custom_vjp
def _lstm(x, h0, c0, w_layer, w_iter, bias):
  return _lstm_fwd(x, h0, c0, w_layer, w_iter, bias)[0]


def _lstm_fwd(x, h0, c0, w_layer, w_iter, bias):
  steps, batch, inputs = x.shape
  hidden = h0.shape[-1]
  f32 = lambda *shape: jax.ShapeDtypeStruct(shape, x.dtype)  # noqa: E731
  workspace = jax.ShapeDtypeStruct((_lstm_workspace(steps, batch, inputs, hidden),), np.uint8)
  y, h_t, c_t, ws = jax.ffi.ffi_call(
      _TARGETS["lstm_fwd"], (f32(steps, batch, hidden), f32(batch, hidden), f32(batch, hidden),
                             workspace), vmap_method="sequential")(x, h0, c0, w_layer, w_iter, bias)
  return (y, h_t, c_t), (x, h0, c0, w_layer, w_iter, bias, y, h_t, c_t, ws)


def _lstm_bwd(residuals, cotangents):
  x, h0, c0, w_layer, w_iter, bias = residuals[:6]
  like = lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype)  # noqa: E731
  return tuple(jax.ffi.ffi_call(
      _TARGETS["lstm_bwd"], tuple(like(a) for a in (x, h0, c0, w_layer, w_iter, bias)),
      vmap_method="sequential")(*residuals, *cotangents))


_lstm.defvjp(_lstm_fwd, _lstm_bwd)


def lstm(x: jax.Array, kernel: jax.Array, bias: jax.Array, c0: jax.Array, h0: jax.Array,
         forget_bias: float = 1.0) -> tuple[jax.Array, jax.Array, jax.Array]:
  """TF1 `LSTMCell` over x [B, T, input] from state (c0, h0): (outputs [B, T, H], c, h), as
  nets.TFLSTMLayer's scan computes it, by oneDNN. The kernel [input + H, 4H] and bias [4H] (TF1
  gate order i, j, f, o) are rearranged into oneDNN's layout and order with differentiable JAX
  ops; the forget bias joins the forget gate's bias (a constant: same gradients)."""
  inputs, hidden = x.shape[-1], h0.shape[-1]
  order = np.asarray(_TF_TO_ONEDNN_GATES)
  w_layer = kernel[:inputs].reshape(inputs, 4, hidden)[:, order]
  w_iter = kernel[inputs:].reshape(hidden, 4, hidden)[:, order]
  gates_bias = bias.reshape(4, hidden)[order]
  gates_bias = gates_bias.at[1].add(forget_bias)
  y, h, c = _lstm(jnp.swapaxes(x, 0, 1), h0, c0, w_layer, w_iter, gates_bias)
  return jnp.swapaxes(y, 0, 1), c, h
