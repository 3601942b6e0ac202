"""The unrolled Threefry lowering (jaxbench/train/threefry.py) gives jax.random's bits exactly.

References: Random123's known-answer vectors for Threefry-2x32-20 (the ones JAX's own tests use),
and jax.random computed in a fresh interpreter that never imports jaxbench, i.e. under JAX's own
(rolled-loop) CPU lowering.
"""
from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbench.train import threefry

# (key, counter) -> output, Random123 kat_vectors, threefry2x32 with 20 rounds.
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6b200159, 0x99ba4efe)),
    ((0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff), (0x1cb996fc, 0xbb002be7)),
    ((0x13198a2e, 0x03707344), (0x243f6a88, 0x85a308d3), (0xc4923a9c, 0x483df7a0)),
]

# Every consumer of threefry2x32 the engine uses: keys, splits, fold-ins, bits, uniforms,
# normals, Bernoulli masks, permutations, and a vmapped draw over a batch of keys.
SAMPLES = """
import jax, jax.numpy as jnp, numpy as np
key = jax.random.PRNGKey(20261202)
keys = jax.random.split(key, 7)
out = dict(
    split=jax.random.split(key, 5), fold=jax.random.fold_in(key, 123456789),
    bits=jax.random.bits(keys[0], (3, 1001)), uniform=jax.random.uniform(keys[1], (257,)),
    normal=jax.random.normal(keys[2], (50, 33)),
    bernoulli=jax.random.bernoulli(keys[3], 0.8, (50, 50, 128)),
    permutation=jax.random.permutation(keys[4], 60000),
    vmapped=jax.vmap(lambda k: jax.random.normal(k, (17,)))(jax.random.split(keys[5], 10)),
    jitted=jax.jit(lambda k: jax.random.bits(k, (4096,)))(keys[6]),
)
out = {k: np.asarray(v) for k, v in out.items()}
"""


@pytest.fixture
def lowering(monkeypatch, request):
  """MIN_UNROLLED_WORDS = the parameter: 0 lowers every output unrolled, 1 << 62 every output
  looped, the default splits by size."""
  monkeypatch.setattr(threefry, "MIN_UNROLLED_WORDS", request.param)
  assert threefry.enable()
  jax.clear_caches()   # drop programs lowered before, under another lowering
  yield request.param
  jax.clear_caches()


@pytest.mark.parametrize("lowering", [0, 1 << 62], indirect=True)
def test_known_answer_vectors_under_both_lowerings(lowering):
  fn = jax.jit(lambda k1, k2, x1, x2: threefry.threefry2x32_p.bind(k1, k2, x1, x2))
  for key, counter, expected in KNOWN_ANSWERS:
    got = fn(*(np.asarray([v], np.uint32) for v in key + counter))
    assert tuple(int(np.asarray(g)[0]) for g in got) == expected


def test_the_function_itself_matches_the_known_answers():
  keys = [np.asarray([k[i] for k, _, _ in KNOWN_ANSWERS], np.uint32) for i in range(2)]
  counters = [np.asarray([c[i] for _, c, _ in KNOWN_ANSWERS], np.uint32) for i in range(2)]
  x1, x2 = jax.jit(threefry.threefry2x32)(*keys, *counters)
  assert list(zip(np.asarray(x1).tolist(), np.asarray(x2).tolist())) == [
      e for _, _, e in KNOWN_ANSWERS]


@pytest.mark.parametrize("lowering", [0, threefry.MIN_UNROLLED_WORDS, 1 << 62], indirect=True)
def test_jax_random_gives_the_same_numbers_as_under_jax_s_own_lowering(tmp_path, lowering):
  reference = tmp_path / "reference.npz"
  code = SAMPLES + f"\nnp.savez({str(reference)!r}, **out)\n"
  subprocess.run([sys.executable, "-c", code], check=True,
                 env={**os.environ, "JAX_PLATFORMS": "cpu"})
  scope: dict = {}
  exec(SAMPLES, scope)  # pylint: disable=exec-used
  expected = np.load(reference)
  assert sorted(scope["out"]) == sorted(expected.files)
  for name, value in scope["out"].items():
    np.testing.assert_array_equal(value, expected[name], err_msg=name)


def test_opt_out_leaves_the_lowering_alone(monkeypatch):
  monkeypatch.setenv(threefry.ENV, "0")
  assert threefry.enable() is False


@pytest.mark.parametrize("lowering", [0, 1 << 62], indirect=True)
@pytest.mark.parametrize("shape", [(), (1,), (5, 3)])
def test_broadcast_scalar_keys_against_counters(shape, lowering):
  key = jnp.asarray(0x13198a2e, jnp.uint32), jnp.asarray(0x03707344, jnp.uint32)
  x1 = jnp.full(shape, 0x243f6a88, jnp.uint32)
  x2 = jnp.full(shape, 0x85a308d3, jnp.uint32)
  got = jax.jit(lambda *a: threefry.threefry2x32_p.bind(*a))(*key, x1, x2)
  assert [np.asarray(g).shape for g in got] == [shape, shape]
  assert np.all(np.asarray(got[0]) == 0xc4923a9c) and np.all(np.asarray(got[1]) == 0x483df7a0)
