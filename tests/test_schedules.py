"""Schedules against SPEC section 4's formulas, written out here independently of the code."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxbench import schedules

STEPS_PER_EPOCH = 7
BASE_LR = 0.3


# ---- reference factors: hand loops over the SPEC formulas -----------------------------------

def reference_factor(name: str, num_epochs: int, e: int) -> float:
  if e == 0:
    return 1.0  # DeepOBS sets factors from epoch 1 on; epoch 0 runs at the base rate.
  if name == "constant":
    return 1.0
  if name == "cosine":
    return 0.5 * (1 + math.cos(math.pi * e / num_epochs))
  if name == "cosine_wr":
    restarts = [0, 10, 30, 70, 150, 310, 630]
    for s, nxt in zip(restarts, restarts[1:]):
      if s <= e < nxt:
        return 0.5 * (1 + math.cos(math.pi * (e - s) / (nxt - s)))
    raise AssertionError(e)
  if name == "trapezoidal":
    w = num_epochs / 10
    if e < w:
      return e / w
    if e <= num_epochs - w:
      return 1.0
    return (num_epochs + 1 - e) / (w + 1)
  raise AssertionError(name)


@pytest.mark.parametrize("num_epochs", [50, 350])
@pytest.mark.parametrize("name", ["constant", "cosine", "cosine_wr", "trapezoidal"])
def test_paper_factor_tables(name, num_epochs):
  expected = np.array([reference_factor(name, num_epochs, e) for e in range(num_epochs)])
  np.testing.assert_allclose(schedules.paper_factors(name, num_epochs), expected, rtol=1e-12)
  schedule = jax.jit(schedules.get(name, BASE_LR, num_epochs, STEPS_PER_EPOCH))
  # First, middle and last step of every epoch run at that epoch's factor.
  for offset in (0, STEPS_PER_EPOCH // 2, STEPS_PER_EPOCH - 1):
    counts = jnp.arange(num_epochs, dtype=jnp.int32) * STEPS_PER_EPOCH + offset
    lrs = np.asarray(jax.vmap(schedule)(counts))
    np.testing.assert_allclose(lrs, BASE_LR * expected, rtol=2e-6, atol=1e-9)
  # After training the last epoch's rate is kept (no index error, no wrap-around).
  past_end = float(schedule(jnp.int32(num_epochs * STEPS_PER_EPOCH + 5)))
  assert past_end == pytest.approx(BASE_LR * expected[-1], rel=2e-6, abs=1e-9)


def test_cosine_wr_restarts():
  factors = schedules.paper_factors("cosine_wr", 350)
  for restart in (10, 30, 70, 150, 310):
    assert factors[restart] == 1.0
    assert factors[restart - 1] < 0.025  # the last epoch of a cycle is near the minimum
    assert factors[restart + 1] < 1.0
  # No other epoch after 0 starts a cycle.
  assert set(np.flatnonzero(factors == 1.0)) == {0, 10, 30, 70, 150, 310}
  # End of the first cycle: (1 + cos(0.9 pi)) / 2.
  assert factors[9] == pytest.approx(0.5 * (1 + math.cos(0.9 * math.pi)))


def test_trapezoidal_phases():
  f50 = schedules.paper_factors("trapezoidal", 50)  # w = 5
  assert f50[0] == 1.0  # epoch 0 at the base rate although e / w = 0
  np.testing.assert_allclose(f50[1:5], [0.2, 0.4, 0.6, 0.8])
  np.testing.assert_allclose(f50[5:46], 1.0)
  np.testing.assert_allclose(f50[46:], [5 / 6, 4 / 6, 3 / 6, 2 / 6])
  f350 = schedules.paper_factors("trapezoidal", 350)  # w = 35
  assert f350[34] == pytest.approx(34 / 35)
  np.testing.assert_allclose(f350[35:316], 1.0)
  assert f350[316] == pytest.approx(35 / 36)
  assert f350[349] == pytest.approx(2 / 36)


def test_lr_sched_lists_for_the_run_record():
  epochs, factors = schedules.lr_sched_lists("trapezoidal", 50)
  assert epochs == [1, 2, 3, 4, 5, 46, 47, 48, 49]
  np.testing.assert_allclose(factors, [0.2, 0.4, 0.6, 0.8, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6])
  epochs, factors = schedules.lr_sched_lists("cosine", 50)
  assert epochs == list(range(1, 50))
  np.testing.assert_allclose(factors, [0.5 * (1 + math.cos(math.pi * e / 50))
                                       for e in range(1, 50)])
  epochs, _ = schedules.lr_sched_lists("cosine_wr", 350)
  assert epochs == list(range(1, 350))
  assert schedules.lr_sched_lists("constant", 50) == ([], [])
  assert schedules.training_params("constant", 50) == {"lr_sched_epochs": None,
                                                       "lr_sched_factors": None}
  assert schedules.training_params("cosine", 3)["lr_sched_epochs"] == [1, 2]


# ---- families against closed forms ----------------------------------------------------------

def _at(name, count, base_lr=0.5, num_epochs=10, steps_per_epoch=4, **params):
  return float(schedules.get(name, base_lr, num_epochs, steps_per_epoch, **params)(
      jnp.int32(count)))


def test_step_exponential_inverse_time():
  # step decay: D = 2 epochs * 4 = 8 steps.
  assert _at("step_decay", 7, delta_t=2, k=0.5) == pytest.approx(0.5)
  assert _at("step_decay", 8, delta_t=2, k=0.5) == pytest.approx(0.25)
  assert _at("step_decay", 17, delta_t=2, k=0.5) == pytest.approx(0.125)
  assert _at("exponential", 4, delta_t=2, k=0.1) == pytest.approx(0.5 * 0.1 ** 0.5, rel=1e-6)
  assert _at("exponential", 8, delta_t=2, k=0.1) == pytest.approx(0.05, rel=1e-6)
  assert _at("inverse_time", 6, delta_t=1, k=3.0) == pytest.approx(0.5 / (1 + 3 * 1.5), rel=1e-6)


def test_polynomial_and_cosine_decay_to_a_floor():
  # D = 5 epochs = 20 steps.
  assert _at("polynomial", 5, delta_t=5, alpha_lo=0.01, k=2.0) == pytest.approx(
      0.01 + 0.49 * 0.75 ** 2, rel=1e-6)
  assert _at("polynomial", 25, delta_t=5, alpha_lo=0.01, k=2.0) == pytest.approx(0.01, rel=1e-6)
  assert _at("polynomial", 10) == pytest.approx(0.5 * (1 - 10 / 40), rel=1e-6)  # defaults: linear
  assert _at("cosine_decay", 10, alpha_lo=0.1) == pytest.approx(
      0.1 + 0.4 * 0.5 * (1 + math.cos(math.pi / 4)), rel=1e-6)
  assert _at("cosine_decay", 50, alpha_lo=0.1) == pytest.approx(0.1, rel=1e-6)


def test_cyclical_without_restarts():
  kw = dict(base_lr=1.0, steps_per_epoch=10, alpha_lo=0.1, alpha_up=1.0, delta_t=1)
  for count, want in [(0, 1.0), (5, 0.55), (10, 0.1), (15, 0.55), (20, 1.0), (32, 0.1 + 0.9 * 0.2)]:
    assert _at("triangular", count, **kw) == pytest.approx(want, rel=1e-6), count
  assert _at("triangular", 20, k=0.5, **kw) == pytest.approx(0.1 + 0.9 * 0.5, rel=1e-6)
  assert _at("triangular", 30, k=0.5, **kw) == pytest.approx(0.1, rel=1e-6)
  for count in (0, 3, 5, 10, 17, 20):
    want = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * count / 10))
    assert _at("cosine_cyclic", count, **kw) == pytest.approx(want, rel=1e-6), count


def test_cyclical_with_restarts():
  kw = dict(base_lr=1.0, steps_per_epoch=10, alpha_lo=0.1, alpha_up=1.0, delta_t=1)
  for count, want in [(0, 1.0), (5, 0.55), (9, 0.1 + 0.9 * 0.1), (10, 1.0), (25, 0.55)]:
    assert _at("triangular_wr", count, **kw) == pytest.approx(want, rel=1e-6), count
  # Cycles of 10, 20, 40 steps start at 0, 10, 30; k = 0.5 halves the peak each cycle.
  grow = dict(kw, period_mult=2, k=0.5)
  assert _at("triangular_wr", 20, **grow) == pytest.approx(0.1 + 0.9 * 0.5 * 0.5, rel=1e-6)
  assert _at("triangular_wr", 30, **grow) == pytest.approx(0.1 + 0.9 * 0.25, rel=1e-6)
  assert _at("triangular_wr", 29, **grow) == pytest.approx(0.1 + 0.9 * 0.5 / 20, rel=1e-5)
  assert _at("cosine_cyclic_wr", 15, **kw) == pytest.approx(0.55, rel=1e-6)
  assert _at("cosine_cyclic_wr", 70, **grow) == pytest.approx(0.1 + 0.9 * 0.125, rel=1e-6)


def test_smooth_sgdr_matches_the_paper_cosine_wr_at_epoch_starts():
  schedule = jax.jit(schedules.get("cosine_cyclic_wr", BASE_LR, 350, STEPS_PER_EPOCH,
                                   delta_t=10, period_mult=2, alpha_lo=0.0))
  counts = jnp.arange(350, dtype=jnp.int32) * STEPS_PER_EPOCH
  expected = BASE_LR * np.array([reference_factor("cosine_wr", 350, e) for e in range(350)])
  np.testing.assert_allclose(np.asarray(jax.vmap(schedule)(counts)), expected, atol=2e-6)


def test_warmup_composes_with_any_decay():
  # W = 2 epochs * 5 steps = 10 steps; then a cosine decay over 8 epochs (40 steps).
  kw = dict(base_lr=0.1, num_epochs=10, steps_per_epoch=5, delta_t=2, then="cosine_decay",
            then_params={"delta_t": 8})
  assert _at("warmup_linear", 0, **kw) == pytest.approx(0.0, abs=1e-9)
  assert _at("warmup_linear", 5, **kw) == pytest.approx(0.05, rel=1e-6)
  assert _at("warmup_linear", 10, **kw) == pytest.approx(0.1, rel=1e-6)
  assert _at("warmup_linear", 30, **kw) == pytest.approx(0.05 * (1 + math.cos(math.pi / 2)),
                                                         abs=1e-7)
  assert _at("warmup_linear", 50, **kw) == pytest.approx(0.0, abs=1e-7)
  expo = dict(kw, alpha_lo=0.001)
  assert _at("warmup_exponential", 5, **expo) == pytest.approx(0.001 * 100 ** 0.5, rel=1e-5)
  # A per-epoch paper schedule after the warm-up runs on the remaining 8 epochs.
  paper = dict(kw, then="cosine", then_params={})
  assert _at("warmup_linear", 10 + 5 * 3, **paper) == pytest.approx(
      0.1 * 0.5 * (1 + math.cos(math.pi * 3 / 8)), rel=1e-6)


def test_one_cycle():
  kw = dict(base_lr=1.0, num_epochs=10, steps_per_epoch=10, alpha_lo=0.1, alpha_up=1.0,
            delta_t=4, k=0.01)
  for count, want in [(0, 0.1), (20, 0.55), (40, 1.0), (60, 0.55), (80, 0.1),
                      (90, 0.1 - 0.099 * 0.5), (100, 0.001), (150, 0.001)]:
    assert _at("one_cycle", count, **kw) == pytest.approx(want, rel=1e-5), count


# ---- jit, vmap over the base rate, optax ---------------------------------------------------

@pytest.mark.parametrize("name", schedules.names())
def test_jit_and_vmap_over_base_lr(name):
  counts = jnp.array([0, 3, 40, 99, 250], dtype=jnp.int32)
  base = jnp.array([0.1, 0.2, 0.05], dtype=jnp.float32)

  def lr_at(lr):
    return jax.vmap(schedules.get(name, lr, 50, 5))(counts)

  batched = np.asarray(jax.jit(jax.vmap(lr_at))(base))
  assert batched.shape == (3, 5) and batched.dtype == np.float32
  one = np.asarray(jax.vmap(schedules.get(name, 0.1, 50, 5))(counts))
  np.testing.assert_allclose(batched[0], one, rtol=1e-6, atol=1e-9)
  # With default shape parameters every schedule is proportional to its base rate.
  np.testing.assert_allclose(batched[1], 2 * one, rtol=1e-5, atol=1e-9)
  np.testing.assert_allclose(batched[2], 0.5 * one, rtol=1e-5, atol=1e-9)
  assert np.all(one >= 0) and np.all(np.isfinite(one))


def test_traced_shape_rates_and_optax():
  lrs = jax.vmap(lambda lo: schedules.get("cosine_decay", 1.0, 10, 1, alpha_lo=lo)(
      jnp.int32(10)))(jnp.array([0.0, 0.25]))
  np.testing.assert_allclose(lrs, [0.0, 0.25], atol=1e-7)
  schedule = schedules.get("cosine", 1.0, 4, 1)
  opt = optax.sgd(schedule)
  params = jnp.zeros(())
  state = opt.init(params)
  steps = []
  for _ in range(4):
    updates, state = opt.update(jnp.ones(()), state)
    steps.append(float(updates))
  np.testing.assert_allclose(steps, [-1.0] + [-0.5 * (1 + math.cos(math.pi * e / 4))
                                              for e in (1, 2, 3)], rtol=1e-6)


# ---- errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda: schedules.get("cosin", 0.1, 10, 5), r"'cosin'.*valid choices.*'cosine'"),
    (lambda: schedules.get("cosine", -0.1, 10, 5), r"base_lr=-0.1 .*\[0, inf\)"),
    (lambda: schedules.get("cosine", 0.1, 10, 0), r"steps_per_epoch=0"),
    (lambda: schedules.get("cosine", 0.1, 10.5, 5), r"num_epochs=10.5"),
    (lambda: schedules.get("cosine", 0.1, 10, 5, k=2), r"takes no parameters.*\['k'\]"),
    (lambda: schedules.get("cosine_decay", 0.1, 10, 5, alpha_lo=-1e-3), r"alpha_lo=-0.001"),
    (lambda: schedules.get("step_decay", 0.1, 10, 5, delta_t=0), r"delta_t=0 .*> 0"),
    (lambda: schedules.get("step_decay", 0.1, 10, 5, k=1.5), r"k=1.5 .*\(0, 1\]"),
    (lambda: schedules.get("step_decay", 0.1, 10, 5, gamma=0.1),
     r"unknown parameter\(s\) \['gamma'\]; valid parameters: \['delta_t', 'k'\]"),
    (lambda: schedules.get("triangular", 0.1, 10, 5, alpha_lo=0.5, alpha_up=0.1),
     r"alpha_lo=0.5 must be <= alpha_up=0.1"),
    (lambda: schedules.get("cosine_cyclic_wr", 0.1, 10, 5, period_mult=0.5), r"period_mult=0.5"),
    (lambda: schedules.get("warmup_linear", 0.1, 10, 5, then="warmup_linear"),
     r"then='warmup_linear'.*valid choices"),
    (lambda: schedules.get("warmup_linear", 0.1, 10, 5, then="cosine", delta_t=1.5),
     r"whole number of epochs"),
    (lambda: schedules.get("warmup_linear", 0.1, 10, 5, delta_t=10), r"leaves no epochs"),
    (lambda: schedules.get("warmup_exponential", 0.1, 10, 5, alpha_lo=0.0), r"alpha_lo=0.0"),
    (lambda: schedules.get("warmup_linear", 0.1, 10, 5, then="cosine_decay",
                           then_params={"delta_t": -1}), r"'cosine_decay': delta_t=-1"),
    (lambda: schedules.get("one_cycle", 0.1, 10, 5, delta_t=6), r"delta_t=6 .*num_epochs / 2"),
    (lambda: schedules.paper_factors("step_decay", 10), r"valid choices.*'trapezoidal'"),
])
def test_invalid_settings_fail_clearly(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_names():
  assert schedules.paper_names() == ("constant", "cosine", "cosine_wr", "trapezoidal")
  assert set(schedules.paper_names()) < set(schedules.names())
  for family in ("step_decay", "exponential", "polynomial", "inverse_time", "cosine_decay",
                 "triangular", "triangular_wr", "cosine_cyclic", "cosine_cyclic_wr",
                 "warmup_linear", "warmup_exponential", "one_cycle"):
    assert family in schedules.names()
    formula, reference = schedules.describe(family)
    assert formula and reference


def test_listing_command(capsys):
  # The --plot half of this command is tested in tests/test_report.py (matplotlib output).
  from jaxbench.schedules.__main__ import main
  assert main([]) == 0
  listing = capsys.readouterr().out
  assert all(name in listing for name in schedules.names())