"""The matmul convolutions (nets.conv_impl='matmul') against the reference path (lax / flax).

Each implementation must give the reference's values and gradients up to float32 summation
order, and the models must have the same parameters under either switch, so the choice is a
pure speed decision (BUILD_NOTES.md, session 3). No speed assertions here.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxbench.errors import ConfigError
from jaxbench.problems import nets



def _close(actual, reference):
  """float32 agreement: relative, with an absolute floor scaled to the array's magnitude (sums of
  ~1,000 products with different association differ by a few ulps of the largest terms)."""
  scale = float(jnp.max(jnp.abs(reference)))
  np.testing.assert_allclose(actual, reference, rtol=2e-5, atol=2e-6 * max(scale, 1.0))
DN = ("NHWC", "HWIO", "NHWC")


def _arrays(x_shape, k_shape, seed=0):
  rng = np.random.RandomState(seed)
  return (jnp.asarray(rng.normal(size=x_shape).astype(np.float32)),
          jnp.asarray(rng.normal(size=k_shape).astype(np.float32) / np.sqrt(np.prod(k_shape[:3]))))


def _value_and_grads(fn, x, k):
  """fn(x, k), and the gradients of a fixed random projection of it wrt x and k."""
  out = fn(x, k)
  w = jnp.asarray(np.random.RandomState(1).normal(size=out.shape).astype(np.float32))
  grads = jax.grad(lambda a, b: jnp.sum(fn(a, b) * w), argnums=(0, 1))(x, k)
  return out, grads


# (input NHWC, kernel HWIO, strides, padding): 'same'/'valid', strides 1/2, 1x1, 5x5, even 4x4
# kernels (VAE), odd sizes where 'SAME' pads unevenly, and every shape the problems use.
CONV_CASES = [
  ((2, 28, 28, 1), (5, 5, 1, 32), (1, 1), "SAME"),     # 2c2d conv 1
  ((2, 14, 14, 32), (5, 5, 32, 8), (1, 1), "SAME"),    # 2c2d conv 2 (fewer outputs)
  ((2, 32, 32, 3), (5, 5, 3, 8), (1, 1), "VALID"),     # 3c3d conv 1
  ((2, 13, 13, 6), (3, 3, 6, 8), (1, 1), "VALID"),
  ((2, 9, 9, 5), (3, 3, 5, 7), (2, 2), "SAME"),        # all-CNN-C strided, odd size
  ((2, 8, 8, 5), (3, 3, 5, 7), (2, 2), "SAME"),
  ((2, 7, 7, 4), (3, 3, 4, 6), (2, 2), "VALID"),
  ((2, 6, 6, 5), (1, 1, 5, 7), (1, 1), "SAME"),        # 1x1 (all-CNN-C head)
  ((2, 8, 8, 5), (1, 1, 5, 7), (2, 2), "SAME"),        # WRN shortcut 1x1 stride 2
  ((2, 28, 28, 1), (4, 4, 1, 6), (2, 2), "SAME"),      # VAE encoder, even kernel
  ((2, 7, 7, 6), (4, 4, 6, 5), (1, 1), "SAME"),
]


@pytest.mark.parametrize("x_shape,k_shape,strides,padding", CONV_CASES)
def test_conv_matmul_equals_lax_forward_and_gradients(x_shape, k_shape, strides, padding):
  x, k = _arrays(x_shape, k_shape)
  ref_out, ref_grads = _value_and_grads(
      lambda a, b: lax.conv_general_dilated(a, b, strides, padding, dimension_numbers=DN), x, k)
  out, grads = _value_and_grads(lambda a, b: nets.conv_matmul(a, b, strides, padding), x, k)
  assert out.shape == ref_out.shape
  _close(out, ref_out)
  for g, ref in zip(grads, ref_grads):
    _close(g, ref)


def test_conv_matmul_on_a_hand_worked_example():
  # Input 1..16 as a 4x4 image, 2x2 kernel [[1, 2], [3, 4]], stride 2, VALID: each output is
  # x[r, c] + 2 x[r, c+1] + 3 x[r+1, c] + 4 x[r+1, c+1] over the four disjoint 2x2 blocks:
  # block (0,0): 1 + 4 + 15 + 24 = 44; (0,1): 3 + 8 + 21 + 32 = 64;
  # (1,0): 9 + 20 + 39 + 56 = 124; (1,1): 11 + 24 + 45 + 64 = 144.
  x = jnp.arange(1.0, 17.0).reshape(1, 4, 4, 1)
  k = jnp.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
  out = nets.conv_matmul(x, k, (2, 2), "VALID")
  np.testing.assert_array_equal(out[0, :, :, 0], [[44.0, 64.0], [124.0, 144.0]])


# (input, kernel [kh, kw, out, in], strides): the VAE decoder's three conv-transposes and more.
CONV_T_CASES = [
  ((2, 7, 7, 1), (4, 4, 6, 1), (2, 2)),
  ((2, 14, 14, 5), (4, 4, 6, 5), (1, 1)),
  ((2, 5, 5, 3), (3, 3, 4, 3), (2, 2)),
  ((2, 6, 6, 3), (1, 1, 4, 3), (1, 1)),
]


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("x_shape,k_shape,strides", CONV_T_CASES)
def test_conv_transpose_matmul_equals_lax(x_shape, k_shape, strides, padding):
  x, k = _arrays(x_shape, k_shape)
  ref_out, ref_grads = _value_and_grads(
      lambda a, b: lax.conv_transpose(a, b, strides, padding, transpose_kernel=True), x, k)
  out, grads = _value_and_grads(
      lambda a, b: nets.conv_transpose_matmul(a, b, strides, padding), x, k)
  assert out.shape == ref_out.shape
  _close(out, ref_out)
  for g, ref in zip(grads, ref_grads):
    _close(g, ref)


def test_conv_module_xla_is_flax_conv_exactly():
  # Same parameter tree and initial values as nn.Conv, and bit-identical outputs: switching the
  # problems from nn.Conv to nets.Conv changed no number of any existing run.
  x, _ = _arrays((2, 9, 9, 3), (1, 1, 1, 1))
  ours = nets.Conv(8, (3, 3), strides=(2, 2), padding="SAME")
  flax_conv = nn.Conv(8, (3, 3), strides=(2, 2), padding="SAME",
                      kernel_init=nn.initializers.glorot_uniform(), bias_init=nn.initializers.zeros)
  key = jax.random.PRNGKey(3)
  v_ours, v_flax = ours.init(key, x), flax_conv.init(key, x)
  assert jax.tree_util.tree_structure(v_ours) == jax.tree_util.tree_structure(v_flax)
  v_flax = {"params": {"kernel": v_ours["params"]["kernel"], "bias": v_flax["params"]["bias"]}}
  np.testing.assert_array_equal(ours.apply(v_ours, x), flax_conv.apply(v_flax, x))


def test_conv_transpose_module_xla_is_flax_conv_transpose_exactly():
  x, _ = _arrays((2, 7, 7, 3), (1, 1, 1, 1))
  ours = nets.ConvTranspose(5, (4, 4), strides=(2, 2))
  theirs = nn.ConvTranspose(5, (4, 4), strides=(2, 2), padding="SAME", transpose_kernel=True)
  v = ours.init(jax.random.PRNGKey(0), x)
  assert jax.tree_util.tree_structure(v) == jax.tree_util.tree_structure(
      theirs.init(jax.random.PRNGKey(0), x))
  np.testing.assert_array_equal(ours.apply(v, x), theirs.apply(v, x))


# Small inputs keep the test fast: the models' dense layers take whatever the convs give.
# Whole models for the layer kinds between them: 5x5 same convs and pooling (2c2d), strided,
# 1x1 and BatchNorm-wrapped convs (WRN), conv-transposes (VAE). 3c3d's valid convs and
# All-CNN-C's strided/1x1 convs are the same layers, checked one by one above (each model costs
# 30-60 s of compiling on 2 cores).
MODELS = [
  (nets.TwoCTwoD, dict(num_classes=10), (2, 12, 12, 1)),
  (nets.WideResNet, dict(num_units=1, width=2, num_classes=10), (2, 8, 8, 3)),
  (nets.VAE, dict(), (2, 28, 28)),
]


def _model_loss(module, variables, x, train):
  rngs = {"dropout": jax.random.PRNGKey(5), "sample": jax.random.PRNGKey(6)}
  out = module.apply(variables, x, train=train, rngs=rngs,
                     mutable=["batch_stats"] if "batch_stats" in variables else False)
  out = out[0] if "batch_stats" in variables else out
  leaves = jax.tree_util.tree_leaves(out)
  return sum(jnp.sum(jnp.sin(leaf)) for leaf in leaves)  # every output entry, a nonlinear mix


@pytest.mark.parametrize("impl", ["matmul", "onednn"])
@pytest.mark.parametrize("cls,kwargs,shape", MODELS, ids=lambda v: getattr(v, "__name__", ""))
def test_models_match_across_conv_impls(cls, kwargs, shape, impl):
  x = jnp.asarray(np.random.RandomState(2).uniform(size=shape).astype(np.float32))
  ref, fast = cls(**kwargs), cls(**kwargs, conv_impl=impl)
  keys = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1),
          "sample": jax.random.PRNGKey(2)}
  variables = ref.init(keys, x)
  fast_variables = fast.init(keys, x)
  jax.tree_util.tree_map(np.testing.assert_array_equal, variables, fast_variables)
  params = variables["params"]
  for train in (True,):  # train mode: dropout and BatchNorm batch statistics on the path too
    def loss(p, module, train=train):
      return _model_loss(module, dict(variables, params=p), x, train)
    value, grads = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, ref)
    fast_value, fast_grads = jax.jit(jax.value_and_grad(loss), static_argnums=1)(params, fast)
    np.testing.assert_allclose(fast_value, value, rtol=1e-5)
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grads))
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale),
        fast_grads, grads)


def test_vmapped_matmul_runs_equal_each_run_alone():
  # Runs stacked on a leading axis (the engine's vmap strategy): the matmul convolution becomes
  # a batched product; each run must still get what it gets alone on the reference path.
  model, fast = nets.TwoCTwoD(10), nets.TwoCTwoD(10, conv_impl="matmul")
  x = jnp.asarray(np.random.RandomState(4).uniform(size=(3, 2, 12, 12, 1)).astype(np.float32))
  params = jax.vmap(lambda k, xi: model.init(k, xi))(jax.random.split(jax.random.PRNGKey(0), 3), x)
  batched = jax.vmap(lambda p, xi: fast.apply(p, xi))(params, x)
  for run in range(3):
    alone = model.apply(jax.tree_util.tree_map(lambda a, r=run: a[r], params), x[run])
    _close(batched[run], alone)


def test_unknown_conv_impl_names_the_valid_choices():
  with pytest.raises(ConfigError, match="conv_impl='cudnn'.*xla, matmul"):
    nets.TwoCTwoD(10, conv_impl="cudnn").init(jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)))
