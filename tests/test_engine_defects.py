"""Engine defects found in review (issue 8): divergence on non-finite parameters, per-batch
evaluation keys, the char-RNN's vocabulary from the data, SWA from a RunBatch."""
from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from jaxbench import data, problems
from jaxbench.data.base import Dataset, Split
from jaxbench.errors import ConfigError
from jaxbench.train.engine import RunBatch, Trainer
from jaxbench.train.strategy import Strategy
from test_engine_toys import mlp_problem, numpy_mlp_metrics, sgd, toy_dataset

VMAP = Strategy('vmap', 1, 1)


def sign_descent(learning_rate):
  """theta -= lr * sign(g): with lr = inf the update makes the parameters non-finite while the
  step's own loss (at the old parameters) is finite."""
  return optax.chain(optax.scale_by_sign(), optax.scale(-learning_rate))


def test_a_step_that_makes_params_non_finite_marks_the_run_diverged_on_the_last_step():
  dataset = toy_dataset(train=16, evaluation=8)
  run_batch = RunBatch(problem=mlp_problem(dropout=0.0), optimizer=sign_descent, schedule=None,
                       seeds=np.array([3, 3]), hyperparams={'learning_rate': [0.1, np.inf]},
                       num_epochs=1, train_log_interval=1)
  trainer = Trainer(run_batch, dataset, VMAP)
  assert trainer.steps_per_epoch == 1            # the only step is the last one
  initial = trainer.init()
  before = jax.device_get(initial.params)
  state, logged = trainer.run_epoch(initial, 0)
  assert state.diverged.tolist() == [False, True]
  assert state.diverged_epoch.tolist() == [-1, 0]
  assert np.isfinite(logged).all()               # the step logs its own (finite) loss
  # Frozen at that step: the diverged run keeps its parameters from before it.
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a[1], b[1]), before,
               jax.device_get(state.params))
  metrics = trainer.evaluate(state)
  assert np.isfinite(metrics['test_loss'][0]) and np.isnan(metrics['test_loss'][1])


def _identical_batches(images: np.ndarray, copies: int) -> Split:
  x = np.concatenate([images] * copies)
  return Split(jax.device_put(x), jax.device_put(np.zeros(len(x), np.int32)))


def test_vae_evaluation_draws_fresh_noise_for_every_batch_deterministically():
  """test = the same 4 images twice, valid = them once, eval batch 4. With one key for every
  batch the two test batches would draw the same latent noise and test_loss == valid_loss."""
  images = np.random.RandomState(0).randint(0, 256, (4, 28, 28, 1)).astype(np.uint8)
  once, twice = _identical_batches(images, 1), _identical_batches(images, 2)
  dataset = Dataset(name='mnist', train=twice, train_eval=once, valid=once, test=twice,
                    source='synthetic')
  run_batch = RunBatch(problem='mnist_vae', optimizer='sgd', seeds=np.array([1]),
                       batch_size=4, num_epochs=1)
  trainer = Trainer(run_batch, dataset, VMAP)
  state = trainer.init()
  first, again = trainer.evaluate(state), trainer.evaluate(state)
  assert first['test_loss'][0] != pytest.approx(first['valid_loss'][0], rel=1e-6)
  for name in first:
    np.testing.assert_array_equal(first[name], again[name])


def _text_dir(tmp_path, num_chars: int, length: int = 3000):
  """A text whose vocabulary has `num_chars` characters (more than DeepOBS's 83): num_chars - 1
  letters and the newline the reader ends every text with."""
  alphabet = [chr(c) for c in range(0x100, 0x100 + num_chars - 1)]
  rng = np.random.RandomState(0)
  text = alphabet + [alphabet[i] for i in rng.randint(0, num_chars - 1, length)]
  (tmp_path / 'war_and_peace.txt').write_text(''.join(text), encoding='utf-8')
  return str(tmp_path)


def test_char_rnn_vocabulary_comes_from_the_text(tmp_path):
  dataset = data.load('tolstoi', batch_size=2, data_dir=_text_dir(tmp_path, 90))
  assert dataset.num_classes == 90
  run_batch = RunBatch(problem='tolstoi_char_rnn', optimizer='sgd', seeds=np.array([0]),
                       batch_size=2, num_epochs=1, max_steps=2)
  trainer = Trainer(run_batch, dataset, VMAP)
  assert trainer.problem.num_classes == 90
  state, logged = trainer.run_epoch(trainer.init(), 0)
  assert not state.diverged[0] and np.isfinite(logged).all()
  # Cross-entropy of near-uniform logits over 90 characters at the start: about log 90.
  assert abs(float(logged[0, 0]) - np.log(90)) < 0.2
  assert np.isfinite(trainer.evaluate(state)['test_loss']).all()
  # A Problem built for another vocabulary fails before training, naming both sizes.
  fixed = problems.get('tolstoi_char_rnn', batch_size=2)
  with pytest.raises(ConfigError, match="83 classes but dataset 'tolstoi' has 90"):
    Trainer(RunBatch(problem=fixed, optimizer='sgd', seeds=np.array([0]), num_epochs=1),
            dataset, VMAP)


def test_swa_evaluates_the_average_of_the_end_of_epoch_weights():
  """swa_start_epoch=1 of 3 epochs: evaluation sees the mean of the weights after epochs 1 and
  2, computed here from a run without SWA (the wrapper does not change the trajectory)."""
  dataset = toy_dataset(train=48, evaluation=13)
  common = dict(problem=mlp_problem(dropout=0.0), optimizer=sgd, schedule=None,
                seeds=np.array([4, 5]), hyperparams={'learning_rate': [0.1, 0.05]},
                num_epochs=3)
  plain = Trainer(RunBatch(**common), dataset, VMAP)
  state, ends = plain.init(), []
  for epoch in range(3):
    state, _ = plain.run_epoch(state, epoch)
    ends.append(jax.device_get(state.params))
  average = jax.tree.map(lambda a, b: (a + b) / 2, ends[1], ends[2])

  averaged = Trainer(RunBatch(**common, swa_start_epoch=1), dataset, VMAP)
  swa_state = averaged.init()
  for epoch in range(3):
    swa_state, _ = averaged.run_epoch(swa_state, epoch)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6),
               jax.device_get(swa_state.params), ends[2])
  metrics = averaged.evaluate(swa_state)
  for run in range(2):
    loss, accuracy = numpy_mlp_metrics(jax.tree.map(lambda p: p[run], average),
                                       np.asarray(dataset.test.inputs),
                                       np.asarray(dataset.test.targets), 0.01)
    np.testing.assert_allclose(metrics['test_loss'][run], loss, rtol=1e-5)
    np.testing.assert_allclose(metrics['test_accuracy'][run], accuracy)
  with pytest.raises(ConfigError, match=r'swa_start_epoch=3 must be a training epoch; valid '
                     r'choices: 0\.\.2'):
    Trainer(RunBatch(**common, swa_start_epoch=3), dataset, VMAP)


@pytest.mark.parametrize('name', ['adabound', 'amsbound'])
def test_adabound_under_warm_up_trains_with_the_runs_base_rate(name):
  """Defect 1 through the engine: the warm-up schedule's rate is 0 at step 0; bounds scaled by
  lr_t / schedule(0) were 0/0 = NaN and froze every run at its first step. The engine passes the
  run's base rate, so the runs train (and the one with the larger base rate moves further)."""
  dataset = data.load('quadratic_deep', batch_size=128)
  run_batch = RunBatch(problem='quadratic_deep', optimizer=name, schedule='warmup_linear',
                       schedule_params={'delta_t': 1.0}, seeds=np.array([42, 42]),
                       hyperparams={'learning_rate': [1e-3, 1e-2]}, num_epochs=3)
  trainer = Trainer(run_batch, dataset)
  state = trainer.init()
  start = trainer.evaluate(state)['test_loss']
  for epoch in range(3):
    state, logged = trainer.run_epoch(state, epoch)
  end = trainer.evaluate(state)['test_loss']
  assert not state.diverged.any() and np.isfinite(logged).all()
  assert (end < start).all() and end[1] < end[0]
