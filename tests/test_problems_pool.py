"""The strided-view max-pool equals TF/flax 'SAME' reduce-window max-pooling, values and grads."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbench.problems import nets

# (input shape, window, stride): the pools of 2c2d (28->14->7) and 3c3d (28->14->7->4 etc.),
# plus odd sizes where TF 'SAME' pads one extra pixel at the end.
CASES = [((3, 28, 28, 4), 2, 2), ((3, 14, 14, 5), 2, 2), ((2, 28, 28, 3), 3, 2),
         ((2, 12, 12, 3), 3, 2), ((2, 6, 6, 2), 3, 2), ((2, 7, 9, 2), 3, 2), ((2, 7, 7, 2), 2, 2)]


@pytest.mark.parametrize('shape,size,stride', CASES)
def test_strided_max_pool_equals_reduce_window(shape, size, stride):
  rng = np.random.RandomState(0)
  x = jnp.asarray(rng.normal(size=shape).astype(np.float32))  # continuous: no ties
  ref = lambda t: nn.max_pool(t, (size, size), strides=(stride, stride), padding='SAME')
  ours = lambda t: nets._max_pool(t, size, stride)  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.asarray(ours(x)), np.asarray(ref(x)))
  cot = jnp.asarray(rng.normal(size=ref(x).shape).astype(np.float32))
  grad = lambda pool: jax.grad(lambda t: jnp.sum(pool(t) * cot))(x)
  np.testing.assert_allclose(np.asarray(grad(ours)), np.asarray(grad(ref)), rtol=0, atol=1e-6)


def test_pool_output_size_is_ceil_of_input_over_stride():
  x = jnp.arange(2 * 5 * 5 * 1, dtype=jnp.float32).reshape(2, 5, 5, 1)
  out = nets._max_pool(x, 3, 2)  # pylint: disable=protected-access
  assert out.shape == (2, 3, 3, 1)
  # TF SAME, 5 -> 3 with window 3 stride 2: pad_total = 2, one pixel each side; the top-left
  # window covers rows/cols 0..1 of the input, so its max is x[1, 1] = 6 (first image).
  assert float(out[0, 0, 0, 0]) == 6.0
  assert float(out[0, 2, 2, 0]) == 24.0
