"""The training engine: seed semantics, strategies, divergence, recompilation, evaluation."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxbench.train.engine import RunBatch, Trainer
from jaxbench.train.strategy import Strategy
from test_engine_toys import (adam, counting_dataset, counting_problem, mlp_problem,
                              numpy_mlp_metrics, sgd, toy_dataset)

VMAP = Strategy('vmap', 1, 1)
LOOP = Strategy('loop', 1, 1)


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


def _batch(seeds, learning_rates, **kwargs):
  kwargs.setdefault('problem', mlp_problem())
  kwargs.setdefault('optimizer', adam)
  kwargs.setdefault('schedule', None)
  kwargs.setdefault('num_epochs', 2)
  kwargs.setdefault('train_log_interval', 2)
  return RunBatch(seeds=np.asarray(seeds), hyperparams={'learning_rate': np.asarray(
      learning_rates, np.float32)}, **kwargs)


def test_seed_gives_same_run_alone_or_batched_and_on_rerun():
  dataset = toy_dataset()
  problem = mlp_problem(dropout=0.25)
  batched, batched_losses, batched_state = _train(
      Trainer(_batch([5, 7, 9], [1e-2, 3e-2, 1e-3], problem=problem), dataset, VMAP))
  alone, alone_losses, alone_state = _train(
      Trainer(_batch([7], [3e-2], problem=problem), dataset, VMAP))
  for name, values in alone.items():
    np.testing.assert_allclose(batched[name][1], values[0], rtol=1e-5, atol=1e-6, err_msg=name)
  np.testing.assert_allclose(batched_losses[1], alone_losses[0], rtol=1e-5, atol=1e-6)
  jax.tree.map(lambda b, a: np.testing.assert_allclose(b[1], a[0], rtol=1e-5, atol=1e-6),
               batched_state.params, alone_state.params)
  # Seeds really matter (init, order and dropout differ), so the test above is not vacuous.
  assert not np.allclose(batched['test_loss'][0], batched['test_loss'][2])
  rerun, rerun_losses, _ = _train(
      Trainer(_batch([5, 7, 9], [1e-2, 3e-2, 1e-3], problem=problem), dataset, VMAP))
  for name, values in batched.items():
    np.testing.assert_array_equal(rerun[name], values, err_msg=name)
  np.testing.assert_array_equal(rerun_losses, batched_losses)


def test_dropout_acts_in_training_only():
  """Dropout acts in training steps only: with and without it, one seed shares its epoch-0
  evaluation (same init, eval mode) and then differs."""
  dataset = toy_dataset()
  with_dropout, _, _ = _train(Trainer(_batch([3], [1e-2], problem=mlp_problem(dropout=0.5)),
                                      dataset, VMAP))
  without, _, _ = _train(Trainer(_batch([3], [1e-2], problem=mlp_problem(dropout=0.0)),
                                 dataset, VMAP))
  np.testing.assert_allclose(with_dropout['test_loss'][:, 0], without['test_loss'][:, 0])
  assert not np.allclose(with_dropout['test_loss'][:, 1:], without['test_loss'][:, 1:])


@pytest.mark.parametrize('strategy', [Strategy('vmap', 3, 2), Strategy('loop', 1, 1),
                                      Strategy('loop', 4, 4)], ids=str)
def test_strategies_agree(strategy):
  dataset = toy_dataset(train=100)  # 6 steps of 16 per epoch: chunks of 3/4 plus remainders
  run_batch = _batch([1, 2], [1e-2, 5e-2], optimizer=sgd, max_steps=9)
  reference, reference_losses, _ = _train(Trainer(run_batch, dataset, VMAP))
  other, other_losses, _ = _train(Trainer(run_batch, dataset, strategy))
  for name, values in reference.items():
    np.testing.assert_allclose(other[name], values, rtol=2e-5, atol=1e-6, err_msg=name)
  np.testing.assert_allclose(other_losses, reference_losses, rtol=2e-5, atol=1e-6)
  # max_steps=9 with 6 steps per epoch: epoch 0 runs 6 steps (3 logged), epoch 1 runs 3 (2).
  assert reference_losses.shape == (2, 5)


def test_no_recompilation_across_epochs_seeds_and_hyperparameters():
  traces = []
  dataset = toy_dataset()
  trainer = Trainer(_batch([1, 2], [1e-2, 1e-3], problem=mlp_problem(trace_counter=traces),
                           num_epochs=3), dataset, Strategy('vmap', 4, 1))
  state = trainer.init()
  trainer.evaluate(state)
  state, _ = trainer.run_epoch(state, 0)
  trainer.evaluate(state)
  traced, compiled = len(traces), trainer.compile_seconds
  assert traced > 0
  for epoch in (1, 2):
    state, _ = trainer.run_epoch(state, epoch)
    trainer.evaluate(state)
  state = trainer.init(seeds=np.array([11, 12]),
                       hyperparams={'learning_rate': np.array([0.3, 3e-4], np.float32)})
  for epoch in range(3):
    state, _ = trainer.run_epoch(state, epoch)
  trainer.evaluate(state)
  assert len(traces) == traced
  assert trainer.compile_seconds == compiled


def test_divergent_run_is_frozen_and_the_others_go_on():
  dataset = toy_dataset()
  run_batch = _batch([4, 4], [1e-2, 1e32], optimizer=sgd, num_epochs=3)
  trainer = Trainer(run_batch, dataset, VMAP)
  metrics, losses, state = _train(trainer)
  assert state.diverged.tolist() == [False, True]
  assert state.diverged_epoch.tolist() == [-1, 0]
  # The sane run is exactly the run alone.
  alone, alone_losses, _ = _train(Trainer(_batch([4], [1e-2], optimizer=sgd, num_epochs=3),
                                          dataset, VMAP))
  for name, values in alone.items():
    np.testing.assert_allclose(metrics[name][0], values[0], rtol=1e-6, err_msg=name)
    # Convention: every evaluation after divergence is NaN; epoch 0 is before any step.
    assert np.isfinite(metrics[name][1, 0]) and np.isnan(metrics[name][1, 1:]).all()
  np.testing.assert_allclose(losses[0], alone_losses[0], rtol=1e-6)
  first_bad = np.flatnonzero(~np.isfinite(losses[1]))[0]
  assert np.isnan(losses[1, first_bad + 1:]).all()
  # Frozen: another epoch leaves the diverged run's parameters and optimizer state untouched.
  frozen_params = jax.device_get(state.params)
  state, _ = trainer.run_epoch(state, 2)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[1], b[1]), frozen_params,
               jax.device_get(state.params))
  assert state.diverged_epoch.tolist() == [-1, 0]


@pytest.mark.parametrize('steps_per_dispatch', [1, 2])
def test_evaluation_is_the_mean_over_every_example(steps_per_dispatch):
  dataset = toy_dataset(evaluation=37)   # 37 = 2 * 16 + 5: the last batch is padded
  problem = mlp_problem(weight_decay=0.05)
  trainer = Trainer(_batch([3, 8], [1e-2, 1e-2], problem=problem), dataset,
                    Strategy('vmap', steps_per_dispatch, 1))
  state, _ = trainer.run_epoch(trainer.init(), 0)
  metrics = trainer.evaluate(state)
  params = jax.device_get(state.params)
  for name in ('train_eval', 'valid', 'test'):
    split = getattr(dataset, name)
    for run in range(2):
      loss, accuracy = numpy_mlp_metrics(jax.tree.map(lambda p: p[run], params),
                                         np.asarray(split.inputs), np.asarray(split.targets),
                                         0.05)
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
    _batch([1, 2], [1e-2, 1e-2, 1e-2])
  with pytest.raises(ValueError, match='seeds'):
    _batch([], [])
  with pytest.raises(ValueError, match='batch_size'):
    _batch([1], [1e-2], batch_size=0)
  with pytest.raises(ValueError, match='valid choices'):
    Strategy('pmap', 1, 1)
  trainer = Trainer(_batch([1], [1e-2]), toy_dataset(), VMAP)
  with pytest.raises(ValueError, match='valid names'):
    trainer.init(hyperparams={'momentum': [0.9]})
  with pytest.raises(ValueError, match='epoch=5'):
    trainer.run_epoch(trainer.init(), 5)
