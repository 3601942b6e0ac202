"""The random-search sampler: distributions, common random numbers, nested budgets, narrowing."""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from jaxbench import errors, optimizers, tuning
from jaxbench.tuning import IntUniform, LogUniform, OneMinusLogUniform, Uniform

LR = LogUniform(1e-4, 1.0)
ADAM_LIKE = {"learning_rate": LR, "b1": LogUniform(0.5, 0.999), "b2": LogUniform(0.8, 0.999)}
MOMENTUM_LIKE = {"learning_rate": LR, "rho": OneMinusLogUniform(1e-4, 1.0)}
N = 3000


def _draws(dist, name="x", n=N):
  return np.array([tuning.sample({name: dist}, trial)[name] for trial in range(n)])


def test_the_documented_scheme():
  """u is re-derived here from the scheme the docstring states (SeedSequence of seed, trial,
  sha256 of the name), so the numbers cannot drift silently between versions."""
  for trial, name, seed in [(0, "learning_rate", 42), (7, "b1", 42), (3, "rho", 123)]:
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    u = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, trial, key]))).random()
    assert tuning.uniform(trial, name, seed) == u
    want = math.exp(math.log(1e-4) + u * (math.log(1.0) - math.log(1e-4)))
    assert tuning.sample({name: LR}, trial, seed)[name] == pytest.approx(want, rel=1e-12)


def test_same_numbers_in_every_process():
  code = ("import json; from jaxbench import tuning; "
          "print(json.dumps(tuning.sample({'learning_rate': tuning.LogUniform(1e-4, 1.0)}, 5)))")
  outs = set()
  for hash_seed in ("1", "2"):
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, check=True).stdout)
  assert len(outs) == 1
  assert json.loads(outs.pop()) == tuning.sample({"learning_rate": LR}, 5)


def test_log_uniform_is_uniform_in_log_space():
  values = _draws(LR)
  assert values.min() >= 1e-4 and values.max() < 1.0
  # log10 of the values is uniform on [-4, 0].
  assert stats.kstest(np.log10(values), stats.uniform(loc=-4, scale=4).cdf).pvalue > 0.01
  # Each decade holds about a quarter of the draws.
  counts = np.histogram(np.log10(values), bins=[-4, -3, -2, -1, 0])[0]
  np.testing.assert_allclose(counts / N, 0.25, atol=0.03)


def test_one_minus_log_uniform():
  values = _draws(OneMinusLogUniform(1e-4, 1.0), "rho")
  assert values.min() >= 0.0 and values.max() <= 1 - 1e-4
  assert stats.kstest(np.log10(1 - values), stats.uniform(loc=-4, scale=4).cdf).pvalue > 0.01
  # Half of the draws have 1 - rho below 1e-2, i.e. rho above 0.99.
  assert np.mean(values > 0.99) == pytest.approx(0.5, abs=0.03)


def test_uniform_and_integer():
  values = _draws(Uniform(-2.0, 3.0), "w")
  assert values.min() >= -2 and values.max() < 3
  assert stats.kstest(values, stats.uniform(loc=-2, scale=5).cdf).pvalue > 0.01
  ints = _draws(IntUniform(1, 20), "k")
  assert ints.dtype.kind == "i" and set(ints) == set(range(1, 21))
  counts = np.bincount(ints, minlength=21)[1:]
  assert stats.chisquare(counts).pvalue > 0.01
  assert isinstance(tuning.sample({"k": IntUniform(1, 20)}, 0)["k"], int)


def test_uniform_numbers_are_independent_across_names_and_trials():
  u_lr = np.array([tuning.uniform(t, "learning_rate") for t in range(N)])
  u_b1 = np.array([tuning.uniform(t, "b1") for t in range(N)])
  assert stats.kstest(u_lr, "uniform").pvalue > 0.01
  assert abs(stats.pearsonr(u_lr, u_b1)[0]) < 0.06
  assert abs(stats.pearsonr(u_lr[:-1], u_lr[1:])[0]) < 0.06
  assert tuning.uniform(0, "learning_rate", 42) != tuning.uniform(0, "learning_rate", 43)


def test_common_random_numbers_across_optimizers():
  for trial in range(75):
    adam, momentum = tuning.sample(ADAM_LIKE, trial), tuning.sample(MOMENTUM_LIKE, trial)
    assert adam["learning_rate"] == momentum["learning_rate"]
    # A name's value does not depend on what else the space holds, or its order.
    alone = tuning.sample({"b2": ADAM_LIKE["b2"]}, trial)
    assert alone["b2"] == adam["b2"]
    reordered = tuning.sample(dict(reversed(list(ADAM_LIKE.items()))), trial)
    assert reordered == adam


def test_common_random_numbers_through_the_registry():
  adam, sgd, radam = (tuning.sample_trials(optimizers.search_space(name), 25)
                      for name in ("adam", "sgd", "radam"))
  assert [t["learning_rate"] for t in adam] == [t["learning_rate"] for t in sgd]
  assert [t["b1"] for t in adam] == [t["b1"] for t in radam]
  assert len({t["learning_rate"] for t in adam}) == 25


def test_budgets_nest():
  assert tuning.budgets() == {"oneshot": 0, "small": 25, "medium": 50, "large": 75}
  small = tuning.sample_trials(ADAM_LIKE, 25)
  medium = tuning.sample_trials(ADAM_LIKE, 50)
  large = tuning.sample_trials(ADAM_LIKE, 75, narrow_from=0.01)
  assert medium[:25] == small and large[:50] == medium
  assert tuning.sample_trials(ADAM_LIKE, 0) == []
  assert tuning.sample_trials(ADAM_LIKE, 50, narrow_from=0.01) == medium  # ignored at <= 50


def test_narrowing_around_the_best_learning_rate():
  best = 0.01
  large = tuning.sample_trials(ADAM_LIKE, 75, narrow_from={"learning_rate": best, "b1": 0.9})
  full = tuning.sample_trials(ADAM_LIKE, 75, narrow_start=None)
  for trial in range(50, 75):
    u = tuning.uniform(trial, "learning_rate")
    # Log-uniform on [best / 2, best * 2]: best * 2^(2u - 1).
    assert large[trial]["learning_rate"] == pytest.approx(best * 2 ** (2 * u - 1), rel=1e-12)
    assert large[trial]["b1"] == full[trial]["b1"] and large[trial]["b2"] == full[trial]["b2"]
  # Clipped to the original range at its top: [0.4, 1.0], and with another factor.
  top = tuning.sample_trials(ADAM_LIKE, 60, narrow_from=0.8)
  for trial in range(50, 60):
    u = tuning.uniform(trial, "learning_rate")
    assert top[trial]["learning_rate"] == pytest.approx(0.4 * 2.5 ** u, rel=1e-12)
  wide = tuning.sample_trials(ADAM_LIKE, 51, narrow_from=0.01, narrow_factor=10)
  u = tuning.uniform(50, "learning_rate")
  assert wide[50]["learning_rate"] == pytest.approx(0.001 * 100 ** u, rel=1e-12)


def test_best_trial():
  nan = float("nan")
  assert tuning.best_trial([0.5, 0.2, nan, 0.1, 0.3], "loss", diverged=[0, 0, 0, 1, 0]) == 1
  assert tuning.best_trial([0.5, 0.2, nan, float("-inf"), None], "valid_loss") == 1
  assert tuning.best_trial([0.5, 0.9, 0.9, nan], "valid_accuracy") == 1  # ties: earliest
  assert tuning.best_trial([0.5, 0.9, 0.7], "accuracy", diverged=[False, True, False]) == 2
  assert tuning.best_trial([nan, nan], "loss") is None
  assert tuning.best_trial([], "accuracy") is None


@pytest.mark.parametrize("call, match", [
    (lambda: tuning.sample_trials(ADAM_LIKE, 75), r"narrow_from"),
    (lambda: tuning.sample_trials(ADAM_LIKE, 75, narrow_from=0.01, narrow_factor=1.0),
     r"factor=1.0 must be > 1"),
    (lambda: tuning.sample_trials(ADAM_LIKE, 75, narrow_from=3.0), r"center=3.0 lies outside"),
    (lambda: tuning.sample_trials(ADAM_LIKE, 75, narrow_from=0.5, narrow_name="b9"),
     r"'b9'.*valid choices"),
    (lambda: tuning.sample_trials(MOMENTUM_LIKE, 75, narrow_from=0.5, narrow_name="rho"),
     r"not a LogUniform"),
    (lambda: tuning.sample({"x": (0, 1)}, 0), r"unsupported distribution.*LogUniform"),
    (lambda: tuning.sample(ADAM_LIKE, -1), r"trial=-1"),
    (lambda: tuning.best_trial([1.0], "error"), r"metric='error'.*'loss', 'accuracy'"),
    (lambda: LogUniform(0.0, 1.0), r"low must be > 0"),
    (lambda: IntUniform(5, 1), r"low <= high"),
    (lambda: tuning.sample_trials("adam", 3), r"'adam' must be a mapping.*search_space"),
])
def test_errors(call, match):
  with pytest.raises(ValueError, match=match):
    call()


def test_errors_are_config_errors():
  with pytest.raises(errors.ConfigError, match=r"num_trials=-2"):
    tuning.sample_trials(ADAM_LIKE, -2)


def test_tuning_does_not_import_the_optimizer_registry():
  """tuning is a leaf: importing it (and sampling) must not pull in jaxbench.optimizers."""
  code = ("import sys; from jaxbench import tuning; "
          "tuning.sample_trials({'learning_rate': tuning.LogUniform(1e-4, 1.0)}, 3); "
          "print('jaxbench.optimizers' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "False"
