"""The convolution and LSTM implementations are the strategy policy's choice: chosen per family
and backend, built into the model by the engine, recorded in the run record's strategy field."""
import jax
import numpy as np
import pytest

from jaxbench import data, problems
from jaxbench.errors import ConfigError
from jaxbench.problems import onednn
from jaxbench.train import engine
from jaxbench.train import strategy as strategy_lib

CONV_PROBLEMS = sorted(n for n in problems.names() if problems.get(n).family == "conv")


def test_the_conv_family_is_every_problem_with_a_convolution():
  # Independent of the family labels: the problems whose model has a conv_impl field.
  expected = {"mnist_vae", "fmnist_vae", "mnist_2c2d", "fmnist_2c2d", "cifar10_3c3d",
              "cifar100_3c3d", "svhn_3c3d", "cifar100_allcnnc", "svhn_wrn164", "cifar100_wrn404"}
  assert set(CONV_PROBLEMS) == expected


@pytest.mark.parametrize("backend", ["cpu", "gpu", "tpu"])
def test_policy_picks_the_measured_convolutions_for_every_problem_and_backend(backend):
  # Measured (BUILD_NOTES.md): on CPU oneDNN's convolutions beat XLA's (the README's commands
  # install oneDNN), the matmul form lost everywhere; GPU/TPU use the vendors' convolutions
  # through XLA. Non-conv problems have nothing to choose.
  assert onednn.available(), onednn.missing()
  for name in problems.names():
    for runs in (1, 10):
      expected = "onednn" if backend == "cpu" and name in CONV_PROBLEMS else "xla"
      assert strategy_lib.choose(name, backend, runs).conv_impl == expected, (name, backend)


def test_without_onednn_the_cpu_policy_falls_back_to_xla(monkeypatch):
  monkeypatch.setattr(onednn, "missing", lambda: ["the oneDNN library (libdnnl)"])
  assert strategy_lib.choose("fmnist_2c2d", "cpu", 1).conv_impl == "xla"


def test_unknown_conv_impl_in_a_strategy_names_the_choices():
  with pytest.raises(ConfigError, match=r"conv_impl='fft'.*'xla', 'matmul'"):
    strategy_lib.Strategy(conv_impl="fft")


def test_a_problem_without_convolutions_refuses_the_matmul_form():
  with pytest.raises(ConfigError, match="quadratic_deep.*no convolutions.*'xla'"):
    problems.get("quadratic_deep", conv_impl="matmul")


def _trainer(conv_impl, problem="fmnist_2c2d"):
  ds = data.load("fashion_mnist", batch_size=8, source="synthetic", synthetic_size=40)
  batch = engine.RunBatch(problem=problem, optimizer="sgd", seeds=np.arange(2),
                          hyperparams={"learning_rate": 0.1}, batch_size=8, max_steps=2,
                          num_epochs=1)
  return engine.Trainer(batch, ds, strategy=strategy_lib.Strategy("loop", 1, 1,
                                                                   conv_impl=conv_impl))


def test_the_engine_builds_the_strategys_convolutions_and_records_them():
  xla, matmul = _trainer("xla"), _trainer("matmul")
  assert xla.strategy["conv_impl"] == "xla" and matmul.strategy["conv_impl"] == "matmul"
  # The model really is built with it: XLA's program has convolution ops, the matmul one none.
  batch = (np.zeros((8, 28, 28, 1), np.float32), np.zeros((8,), np.int32))
  def hlo(trainer):
    variables = trainer.problem.init(jax.random.PRNGKey(0))
    fn = lambda v: trainer.problem.apply(v, *batch, train=False, rng=jax.random.PRNGKey(1)).loss
    return jax.jit(fn).lower(variables).as_text()
  assert "convolution" in hlo(xla) and "convolution" not in hlo(matmul)
  # Same parameters (flax derives init keys from the unchanged module paths), same training.
  state_x, state_m = xla.init(), matmul.init()
  for a, b in zip(jax.tree.leaves(state_x.params), jax.tree.leaves(state_m.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Training follows (a max-pool near-tie may route one gradient entry differently when the
  # two forms round differently, so parameters are compared at a training-scale tolerance).
  state_x, _ = xla.train_steps(state_x, 0, 2)
  state_m, _ = matmul.train_steps(state_m, 0, 2)
  for a, b in zip(jax.tree.leaves(state_x.params), jax.tree.leaves(state_m.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=2e-3)


def test_a_problem_object_is_used_as_it_is():
  ds = data.load("fashion_mnist", batch_size=8, source="synthetic", synthetic_size=40)
  batch = engine.RunBatch(problem=problems.get("fmnist_2c2d", batch_size=8), optimizer="sgd",
                          seeds=np.arange(1), hyperparams={"learning_rate": 0.1}, batch_size=8)
  with pytest.raises(ConfigError, match="conv_impl='matmul' needs a registry problem name"):
    engine.Trainer(batch, ds, strategy=strategy_lib.Strategy("loop", 1, 1, conv_impl="matmul"))


def test_the_policy_leaves_a_problem_object_s_convolutions_to_it():
  """Under the default policy (which picks oneDNN on this CPU) a Problem object still trains:
  its model is used as built, with XLA's convolutions, and the record says so."""
  ds = data.load("fashion_mnist", batch_size=8, source="synthetic", synthetic_size=40)
  batch = engine.RunBatch(problem=problems.get("fmnist_2c2d", batch_size=8), optimizer="sgd",
                          seeds=np.arange(1), hyperparams={"learning_rate": 0.1}, batch_size=8)
  assert strategy_lib.choose(batch.problem, "cpu", 1).conv_impl == "onednn"
  trainer = engine.Trainer(batch, ds)
  assert trainer.strategy["conv_impl"] == "xla" and trainer.problem is batch.problem



# -- the LSTM implementation (Strategy.rnn_impl) ---------------------------------------------

RNN_PROBLEMS = sorted(n for n in problems.names() if problems.get(n).family == "rnn")


def test_the_rnn_family_is_every_problem_with_an_lstm():
  # Independent of the family labels: the problems whose model has LSTM layers (SPEC 1).
  assert RNN_PROBLEMS == ["tolstoi_char_rnn"]


@pytest.mark.parametrize("backend", strategy_lib.BACKENDS)
def test_policy_picks_onednn_lstms_and_looped_runs_on_cpu_only(backend):
  assert onednn.available(), onednn.missing()
  for name in problems.names():
    for runs in (1, 10):
      chosen = strategy_lib.choose(name, backend, runs)
      onednn_lstm = backend == "cpu" and name in RNN_PROBLEMS
      assert chosen.rnn_impl == ("onednn" if onednn_lstm else "xla"), (name, backend)
      if onednn_lstm:
        assert chosen.runs == "loop"   # vmapped, oneDNN would run the runs one after another


def test_without_onednn_the_char_rnn_vmaps_xla_lstms(monkeypatch):
  monkeypatch.setattr(onednn, "missing", lambda: ["the oneDNN library (libdnnl)"])
  chosen = strategy_lib.choose("tolstoi_char_rnn", "cpu", 10)
  assert (chosen.runs, chosen.rnn_impl) == ("vmap", "xla")


def test_unknown_rnn_impl_and_non_recurrent_problems_are_refused():
  with pytest.raises(ConfigError, match=r"rnn_impl='cudnn'; valid choices: 'xla', 'onednn'"):
    strategy_lib.Strategy(rnn_impl="cudnn")
  with pytest.raises(ConfigError, match="rnn_impl='onednn': problem 'fmnist_mlp' has no "
                     "recurrent layers"):
    problems.get("fmnist_mlp", rnn_impl="onednn")


def test_the_engine_builds_the_strategys_lstms_and_records_them():
  ds = data.load("tolstoi", batch_size=4, source="synthetic", synthetic_size=5000)
  batch = engine.RunBatch(problem="tolstoi_char_rnn", optimizer="sgd", seeds=np.arange(2),
                          hyperparams={"learning_rate": 0.1}, batch_size=4, max_steps=2,
                          num_epochs=1)
  trainers = {impl: engine.Trainer(batch, ds, strategy=strategy_lib.Strategy(
      "loop", 1, 1, rnn_impl=impl)) for impl in ("xla", "onednn")}
  assert {impl: t.strategy["rnn_impl"] for impl, t in trainers.items()} == {
      "xla": "xla", "onednn": "onednn"}
  variables = trainers["onednn"].problem.init(jax.random.PRNGKey(0))
  ids = np.zeros((4, 50), np.int32)
  fn = lambda v: trainers["onednn"].problem.apply(v, ids, ids, train=False,  # noqa: E731
                                                 rng=jax.random.PRNGKey(1)).loss
  assert "jaxbench_onednn_lstm_fwd" in jax.jit(fn).lower(variables).as_text()
  states = {impl: t.train_steps(t.init(), 0, 2)[0] for impl, t in trainers.items()}
  for a, b in zip(jax.tree.leaves(states["onednn"].params), jax.tree.leaves(states["xla"].params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5)
