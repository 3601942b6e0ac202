"""The training engine: seed semantics, strategies, divergence, recompilation, evaluation."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxbench.train.engine import RunBatch, Trainer
from jaxbench.train.strategy import Strategy
from test_engine_toys import (counting_dataset, counting_problem, mlp_problem,
                              numpy_mlp_metrics, sgd, toy_dataset)

VMAP = Strategy('vmap', 1, 1)


def _train(trainer: Trainer, seeds=None, hyperparams=None):
  """Every record entry of a whole training: metrics per epoch, mini-batch losses, state."""
  state = trainer.init(seeds, hyperparams)
  metrics = [trainer.evaluate(state)]
  losses = []
  for epoch in range(trainer.num_epochs):
    state, logged = trainer.run_epoch(state, epoch)
    losses.append(logged)
    metrics.append(trainer.evaluate(state))
  stacked = {k: np.stack([m[k] for m in metrics], axis=1) for k in metrics[0]}
  return stacked, np.concatenate(losses, axis=1), state


# The reference batch: three seeds with two traced hyperparameters each; the third run's huge
# learning rate diverges in its first epoch. 100 training examples of batch 16 = 6 steps per
# epoch; 37/39/41 evaluation examples, so every split ends with a padded batch.
SEEDS = [5, 7, 9]
LEARNING_RATES = [1e-2, 3e-2, 1e32]
MOMENTA = [0.9, 0.5, 0.9]


def _batch(seeds, learning_rates, momenta, **kwargs):
  kwargs.setdefault('problem', mlp_problem())
  kwargs.setdefault('optimizer', sgd)
  kwargs.setdefault('schedule', None)
  kwargs.setdefault('num_epochs', 3)
  kwargs.setdefault('train_log_interval', 2)
  return RunBatch(seeds=np.asarray(seeds), hyperparams={
      'learning_rate': np.asarray(learning_rates, np.float32),
      'momentum': np.asarray(momenta, np.float32)}, **kwargs)


@pytest.fixture(scope='module')
def dataset():
  return toy_dataset(train=100, evaluation=37)


@pytest.fixture(scope='module')
def reference(dataset):
  """The reference batch trained with the vmap strategy, one step per dispatch."""
  traces = []
  run_batch = _batch(SEEDS, LEARNING_RATES, MOMENTA,
                     problem=mlp_problem(dropout=0.25, trace_counter=traces))
  trainer = Trainer(run_batch, dataset, VMAP)
  metrics, losses, state = _train(trainer)
  return dict(trainer=trainer, metrics=metrics, losses=losses, state=state, traces=traces)


def _assert_same(metrics, losses, other_metrics, other_losses, runs, other_runs, rtol=1e-5):
  for name, values in metrics.items():
    np.testing.assert_allclose(other_metrics[name][other_runs], values[runs], rtol=rtol,
                               atol=1e-6, err_msg=name)
  np.testing.assert_allclose(other_losses[other_runs], losses[runs], rtol=rtol, atol=1e-6)


def test_seed_gives_same_run_alone_or_batched_and_on_rerun(reference, dataset):
  metrics, losses = reference['metrics'], reference['losses']
  # Seeds 7 and 5 in another batch (other size, other order, no diverging neighbour).
  other = Trainer(_batch([7, 5], LEARNING_RATES[1::-1], MOMENTA[1::-1]), dataset, VMAP)
  other_metrics, other_losses, other_state = _train(other)
  _assert_same(metrics, losses, other_metrics, other_losses, [1, 0], [0, 1])
  jax.tree.map(lambda b, a: np.testing.assert_allclose(b[1], a[0], rtol=1e-5, atol=1e-6),
               reference['state'].params, other_state.params)
  # Seed 7 truly alone: R = 1.
  alone_metrics, alone_losses, _ = _train(
      Trainer(_batch([7], LEARNING_RATES[1:2], MOMENTA[1:2]), dataset, VMAP))
  _assert_same(metrics, losses, alone_metrics, alone_losses, [1], [0])
  # Seeds really matter (init, order and dropout differ), so the checks are not vacuous.
  assert not np.allclose(other_metrics['test_loss'][0], other_metrics['test_loss'][1])
  # Re-running gives bit-identical numbers.
  rerun_metrics, rerun_losses, _ = _train(reference['trainer'])
  for name, values in metrics.items():
    np.testing.assert_array_equal(rerun_metrics[name], values, err_msg=name)
  np.testing.assert_array_equal(rerun_losses, losses)


@pytest.mark.parametrize('strategy', [Strategy('vmap', 2, 2), Strategy('loop', 1, 1),
                                      Strategy('loop', 4, 3)], ids=str)
def test_strategies_agree(reference, dataset, strategy):
  """6 steps per epoch: chunks of 2; single steps; a chunk of 4 plus 2 single steps. Evaluation:
  3 batches per split as 2 dispatches of 2 (one fully masked batch), 3 of 1, 1 of 3."""
  trainer = Trainer(_batch(SEEDS, LEARNING_RATES, MOMENTA), dataset, strategy)
  metrics, losses, state = _train(trainer)
  _assert_same(reference['metrics'], reference['losses'], metrics, losses, slice(None),
               slice(None), rtol=2e-5)
  assert state.diverged.tolist() == [False, False, True]


def test_max_steps_caps_the_total_number_of_steps(dataset):
  trainer = Trainer(_batch([1], [1e-2], [0.0], max_steps=9, num_epochs=3), dataset, VMAP)
  assert [trainer.steps_in_epoch(e) for e in range(3)] == [6, 3, 0]
  metrics, losses, state = _train(trainer)
  assert losses.shape == (1, 3 + 2) and int(state.step[0]) == 9
  np.testing.assert_array_equal(metrics['test_loss'][0, 2], metrics['test_loss'][0, 3])
  # A step costs at least the forward matmuls 2 B (4*8 + 8*3) and backward twice that again.
  flops = trainer.step_cost(state)['flops']
  assert 3 * 2 * 16 * (4 * 8 + 8 * 3) <= flops < 100 * 2 * 16 * (4 * 8 + 8 * 3)


def test_no_recompilation_across_epochs_seeds_and_hyperparameters(reference):
  trainer, traces = reference['trainer'], reference['traces']
  traced, compiled = len(traces), trainer.compile_seconds
  assert traced > 0
  state = trainer.init(seeds=np.array([11, 12, 13]), hyperparams={
      'learning_rate': np.array([0.3, 3e-4, 1e-3]), 'momentum': np.array([0.1, 0.2, 0.3])})
  for epoch in range(trainer.num_epochs):
    state, _ = trainer.run_epoch(state, epoch)
    trainer.evaluate(state)
  assert len(traces) == traced
  assert trainer.compile_seconds == compiled


def test_divergent_run_is_frozen_and_the_others_go_on(reference):
  metrics, losses, state = reference['metrics'], reference['losses'], reference['state']
  assert state.diverged.tolist() == [False, False, True]
  assert state.diverged_epoch.tolist() == [-1, -1, 0]
  # The others match runs without a diverging neighbour (test_seed_gives_same_run_...); here:
  for name, values in metrics.items():
    # Convention: every evaluation after divergence is NaN; entry 0 is before any step.
    assert np.isfinite(values[:2]).all() and np.isfinite(values[2, 0]), name
    assert np.isnan(values[2, 1:]).all(), name
  assert np.isfinite(losses[:2]).all()
  first_bad = np.flatnonzero(~np.isfinite(losses[2]))[0]
  assert np.isnan(losses[2, first_bad + 1:]).all()
  # Frozen: another epoch leaves the diverged run's parameters and optimizer state untouched.
  trainer = reference['trainer']
  before = jax.device_get((state.params, state.opt_state))
  after_state, _ = trainer.run_epoch(jax.tree.map(lambda x: x.copy(), state), 2)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[2], b[2]), before,
               jax.device_get((after_state.params, after_state.opt_state)))
  assert after_state.diverged_epoch.tolist() == [-1, -1, 0]


def test_evaluation_is_the_mean_over_every_example(reference, dataset):
  """37, 39, 41 examples in batches of 16: the last batch is padded and masked."""
  params = jax.device_get(reference['state'].params)
  metrics = reference['trainer'].evaluate(reference['state'])
  for name in ('train_eval', 'valid', 'test'):
    split = getattr(dataset, name)
    assert split.size % 16
    for run in range(2):
      loss, accuracy = numpy_mlp_metrics(jax.tree.map(lambda p: p[run], params),
                                         np.asarray(split.inputs), np.asarray(split.targets),
                                         0.01)
      np.testing.assert_allclose(metrics[f'{name}_loss'][run], loss, rtol=1e-5)
      np.testing.assert_allclose(metrics[f'{name}_accuracy'][run], accuracy, rtol=1e-6)


@pytest.mark.parametrize('strategy', [VMAP, Strategy('loop', 2, 1)], ids=str)
def test_model_state_is_reset_each_pass_and_carried_in_order(strategy):
  """The char-RNN contract: reset at each epoch and each evaluation, carried batch to batch."""
  run_batch = RunBatch(problem=counting_problem(), optimizer=sgd, schedule=None,
                       seeds=np.array([0, 1]), hyperparams={'learning_rate': [0.0, 0.0]},
                       num_epochs=2)
  trainer = Trainer(run_batch, counting_dataset(batch_size=4, batches=3), strategy)
  state = trainer.init()
  # Three ordered batches after a reset see counts 0, 1, 2: mean loss 1 (w = x = 0).
  np.testing.assert_allclose(trainer.evaluate(state)['test_loss'], [1.0, 1.0])
  for epoch in range(2):
    state, losses = trainer.run_epoch(state, epoch)
    np.testing.assert_allclose(losses, [[0.0], [0.0]])         # step 0 of an epoch: count 0
    np.testing.assert_allclose(state.model_state['carry']['count'], [3.0, 3.0])
    np.testing.assert_allclose(trainer.evaluate(state)['valid_loss'], [1.0, 1.0])


def test_quadratic_deep_sgd_test_loss_decreases_every_epoch():
  from jaxbench import data, problems  # pylint: disable=import-outside-toplevel
  from jaxbench.problems import quadratic  # pylint: disable=import-outside-toplevel
  problem = problems.get('quadratic_deep')
  dataset = data.load('quadratic_deep', batch_size=128, source='generated')
  run_batch = RunBatch(problem='quadratic_deep', optimizer='sgd', schedule='constant',
                       seeds=np.array([42]), hyperparams={'learning_rate': np.array([1e-3])},
                       num_epochs=4)
  metrics, _, _ = _train(Trainer(run_batch, dataset, VMAP))
  test_loss = metrics['test_loss'][0]
  # Epoch 0 is theta = 1: 0.5 mean (1 - x)^T Q (1 - x) over the test set, computed here.
  x = np.random.RandomState(43).normal(0.0, 0.6, (1000, 100))
  diff = 1.0 - x
  expected = 0.5 * np.mean(np.einsum('bi,ij,bj->b', diff, quadratic.quadratic_deep_hessian(),
                                     diff))
  np.testing.assert_allclose(test_loss[0], expected, rtol=1e-4)
  assert problem.batch_size == 128 and len(test_loss) == 5
  assert np.all(np.diff(test_loss) < 0), test_loss


def test_bad_inputs_fail_with_clear_messages():
  with pytest.raises(ValueError, match='one value per run'):
    _batch([1, 2], [1e-2, 1e-2, 1e-2], [0.0, 0.0])
  with pytest.raises(ValueError, match='seeds'):
    _batch([], [], [])
  with pytest.raises(ValueError, match='batch_size'):
    _batch([1], [1e-2], [0.0], batch_size=0)
  with pytest.raises(ValueError, match='valid choices'):
    Strategy('pmap', 1, 1)
  trainer = Trainer(_batch([1], [1e-2], [0.0]), toy_dataset(), VMAP)
  with pytest.raises(ValueError, match='valid names'):
    trainer.init(hyperparams={'b1': [0.9]})
  with pytest.raises(ValueError, match='epoch=5'):
    trainer.run_epoch(trainer.init(), 5)


def test_first_quadratic_step_follows_the_documented_keys_and_sgd():
  """Step 0 of seed 42 uses batch 0 of argsort(bits(fold_in(data_key, 0))) with data_key the
  second of split(PRNGKey(42), 4); plain SGD then gives theta = 1 - lr Q (1 - mean x_batch)."""
  from jaxbench import data  # pylint: disable=import-outside-toplevel
  from jaxbench.problems import quadratic  # pylint: disable=import-outside-toplevel
  dataset = data.load('quadratic_deep', batch_size=128, source='generated')
  run_batch = RunBatch(problem='quadratic_deep', optimizer='adam', schedule='cosine',
                       seeds=np.array([42, 43]), num_epochs=2,
                       hyperparams={'learning_rate': [0.1, 0.1], 'form': 'optax'})
  assert run_batch.static_hyperparams == {'form': 'optax'}
  trainer = Trainer(run_batch, dataset, Strategy('loop', 1, 1))
  state, _ = trainer.train_steps(trainer.init(), epoch=0, num_steps=1)
  # Adam's first step moves every coordinate by lr * sign(g) (up to eps), here away from 1.
  theta = np.asarray(state.params['theta'])
  assert np.all(np.abs(np.abs(theta - 1.0) - 0.1) < 1e-4)

  sgd_batch = RunBatch(problem='quadratic_deep', optimizer='sgd', schedule='constant',
                       seeds=np.array([42]), hyperparams={'learning_rate': [0.01]}, num_epochs=1)
  trainer = Trainer(sgd_batch, dataset, VMAP)
  state, _ = trainer.train_steps(trainer.init(), epoch=0, num_steps=1)
  data_key = np.asarray(jax.random.split(jax.random.PRNGKey(42), 4)[1])
  bits = np.asarray(jax.random.bits(jax.random.fold_in(data_key, 0), (1000,), jnp.uint32))
  order = np.argsort(bits, kind='stable')
  x = np.random.RandomState(42).normal(0.0, 0.6, (1000, 100))[order[:128]]
  expected = 1.0 - 0.01 * quadratic.quadratic_deep_hessian() @ (1.0 - x.mean(axis=0))
  np.testing.assert_allclose(np.asarray(state.params['theta'])[0], expected, rtol=1e-4)


def test_train_steps_in_pieces_equal_an_epoch(reference):
  """The benchmark path: 2 + 4 steps from `start` give the 6-step epoch, with no compilation."""
  trainer, traces = reference['trainer'], reference['traces']
  traced = len(traces)
  whole, logged = trainer.run_epoch(trainer.init(), 0)
  state, first = trainer.train_steps(trainer.init(), 0, 2)
  state, second = trainer.train_steps(state, 0, 4, start=2)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
               jax.device_get(whole.params), jax.device_get(state.params))
  np.testing.assert_allclose(np.asarray(first)[:, :1], logged[:, :1], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(second)[:, 1:3], logged[:, 1:3], rtol=1e-6)
  assert len(traces) == traced


def test_out_of_range_hyperparameter_of_any_run_fails_at_construction():
  # One bad run among good ones: the values are traced in the step, so RunBatch checks them.
  with pytest.raises(ValueError, match=r'learning_rate=.*out of range.*\[0, inf\]'):
    RunBatch(problem='quadratic_deep', optimizer='adam', seeds=np.array([1, 2]),
             hyperparams={'learning_rate': [0.1, -0.1]})
  with pytest.raises(ValueError, match='unknown hyperparameter'):
    RunBatch(problem='quadratic_deep', optimizer='sgd', seeds=np.array([1]),
             hyperparams={'learning_rate': [0.1], 'b1': [0.9]})


def test_on_progress_reports_fractions_and_changes_nothing():
  from jaxbench import data  # pylint: disable=import-outside-toplevel
  dataset = data.load('quadratic_deep', batch_size=128, source='generated')
  run_batch = RunBatch(problem='quadratic_deep', optimizer='sgd', seeds=np.array([1, 2, 3]),
                       hyperparams={'learning_rate': [0.01, 0.02, 0.03]}, num_epochs=1)
  for strategy, expected in ((Strategy('loop', 1, 1), [1 / 3, 2 / 3, 1.0]),
                             (Strategy('vmap', 1, 1), [k / 7 for k in range(1, 8)])):
    trainer = Trainer(run_batch, dataset, strategy)
    seen = []
    reported, logged = trainer.run_epoch(trainer.init(), 0, on_progress=seen.append)
    plain, plain_logged = trainer.run_epoch(trainer.init(), 0)
    np.testing.assert_allclose(seen, expected)   # 7 steps per epoch: 1000 // 128
    np.testing.assert_array_equal(np.asarray(reported.params['theta']),
                                  np.asarray(plain.params['theta']))
    np.testing.assert_array_equal(logged, plain_logged)
