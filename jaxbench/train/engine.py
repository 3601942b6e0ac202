"""The training engine's public facade: what to run (RunBatch) and the Trainer that runs it.

A *batch of runs* is R runs of one (problem, optimizer, schedule) that differ only in their seed
and hyperparameter values. Seeds and hyperparameters are traced arrays with a leading run axis,
so a new seed or a new learning rate never recompiles.

  batch = RunBatch(problem='quadratic_deep', optimizer='sgd', schedule='constant',
                   hyperparams={'learning_rate': np.array([1e-2, 1e-3])}, seeds=np.array([42, 43]))
  trainer = Trainer(batch, dataset)            # strategy=None asks strategy.choose(problem, ...)
  state = trainer.init()                        # TrainState, every leaf has leading axis R
  metrics = trainer.evaluate(state)             # epoch 0: dict name -> np.ndarray[R]
  for epoch in range(trainer.num_epochs):
    state, minibatch_losses = trainer.run_epoch(state, epoch)   # np.ndarray[R, n_logged]
    metrics = trainer.evaluate(state)
  state.diverged, state.diverged_epoch          # [R] bool, [R] int32 (-1: not diverged)
  trainer.strategy, trainer.compile_seconds, trainer.steps_per_epoch

The work is split three ways: kernels.py holds the pure single-run functions (keys, init, one
training step, evaluation batches; the key and divergence conventions are documented there),
executor.py maps them over the runs (vmap or loop, sharded, k steps per dispatch), and this
module wires a RunBatch to them: problem, optimizer, schedule, SWA, and the epoch bookkeeping.

Epochs are numbered 0 .. num_epochs - 1 for training (`run_epoch(state, e)` runs training epoch
e, whose results are record entry e + 1; entry 0 is the evaluation before any step). After a
run diverges its logged mini-batch losses are NaN and every `evaluate` metric of it is NaN.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, Optional, Union

import jax
import numpy as np
import optax
from jax.sharding import Mesh

from jaxbench import optimizers
from jaxbench import problems
from jaxbench import schedules
from jaxbench.data import batching
from jaxbench.data.base import Dataset
from jaxbench.errors import ConfigError
from jaxbench.problems.base import Problem
from jaxbench.train import kernels
from jaxbench.train import sharding
from jaxbench.train import strategy as strategy_lib
from jaxbench.train import threefry
from jaxbench.train.executor import Executor
from jaxbench.train.kernels import TrainState, run_keys

__all__ = ['RunBatch', 'SPLITS', 'TrainState', 'Trainer', 'run_keys']

PyTree = Any
OptimizerFactory = Callable[..., optax.GradientTransformation]
ScheduleFactory = Callable[..., Callable[[jax.Array], jax.Array]]

SPLITS = ('train_eval', 'valid', 'test')


@dataclasses.dataclass(frozen=True)
class RunBatch:
  """What to run: R runs of one (problem, optimizer, schedule), differing in seed and hps.

  problem: registry name (`jaxbench.problems.get`) or a Problem.
  optimizer: registry name (`jaxbench.optimizers.get`), or a factory with the same signature
    `(**hyperparams) -> GradientTransformation` (tests, extensions).
  schedule: registry name (`jaxbench.schedules.get`), a factory with the same signature, or None
    (the learning rate is used as a constant, no schedule object).
  schedule_params: extra keyword arguments of the schedule.
  hyperparams: name -> array [R] (or a scalar, broadcast); 'learning_rate' is the schedule's
    base rate, every other entry goes to the optimizer. A missing learning_rate takes the
    optimizer's default. Non-numeric values (str, bool, None) are static: the same for every
    run and bound into the optimizer at compile time.
  seeds: int array [R].
  batch_size, num_epochs: None takes the problem's defaults.
  max_steps: cap on the total number of training steps; epochs after the cap run no steps (they
    are still evaluated, so records keep num_epochs + 1 entries).
  train_log_interval: the mini-batch loss of step t of an epoch is logged when
    t % train_log_interval == 0 (DeepOBS counts within each epoch).
  problem_options: further keyword arguments of `problems.get` for a registry name (e.g.
    {'hessian_draw': 3}); the char-RNN's vocabulary size always comes from the dataset.
  swa_start_epoch: None, or wrap the optimizer in stochastic weight averaging: the weights at
    the end of every training epoch e >= swa_start_epoch are averaged, and `evaluate` evaluates
    the average (with BatchNorm statistics recomputed for it where the model has BatchNorm).
  """
  problem: Union[str, Problem]
  optimizer: Union[str, OptimizerFactory]
  seeds: Any
  hyperparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  schedule: Union[str, ScheduleFactory, None] = 'constant'
  schedule_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  batch_size: Optional[int] = None
  num_epochs: Optional[int] = None
  max_steps: Optional[int] = None
  train_log_interval: int = 10
  problem_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  swa_start_epoch: Optional[int] = None

  def __post_init__(self):
    seeds = np.asarray(self.seeds)
    if seeds.ndim != 1 or seeds.size < 1 or not np.issubdtype(seeds.dtype, np.integer):
      raise ConfigError(f'seeds must be a 1-D integer array with at least one entry, got '
                        f'{seeds!r}')
    if seeds.min() < 0 or seeds.max() >= 2**31:
      raise ConfigError(f'seeds must lie in [0, 2**31), got {seeds!r}')
    object.__setattr__(self, 'seeds', seeds.astype(np.int32))
    hps = {}
    for name, value in dict(self.hyperparams).items():
      if _is_static(value):
        hps[name] = value
        continue
      value = np.asarray(value)
      if value.ndim == 0:
        value = np.full(seeds.shape, value)
      if value.shape != seeds.shape:
        raise ConfigError(f'hyperparams[{name!r}] has shape {value.shape}; every '
                          f'hyperparameter needs one value per run, shape {seeds.shape}')
      hps[name] = value.astype(np.int32 if np.issubdtype(value.dtype, np.integer) else np.float32)
    object.__setattr__(self, 'hyperparams', hps)
    object.__setattr__(self, 'problem_options', dict(self.problem_options))
    if isinstance(self.optimizer, str):
      # Inside the step the values are traced and escape the optimizer's own range checks:
      # check every run's value here (unknown names and out-of-range values raise).
      optimizers.check_hyperparams(self.optimizer, **hps)
    for name in ('batch_size', 'num_epochs', 'max_steps'):
      value = getattr(self, name)
      if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
        raise ConfigError(f'{name}={value!r} must be a positive integer or None')
    if not isinstance(self.train_log_interval, (int, np.integer)) or self.train_log_interval < 1:
      raise ConfigError(f'train_log_interval={self.train_log_interval!r} must be a positive '
                        'integer')
    if self.swa_start_epoch is not None and (
        isinstance(self.swa_start_epoch, bool)
        or not isinstance(self.swa_start_epoch, (int, np.integer)) or self.swa_start_epoch < 0):
      raise ConfigError(f'swa_start_epoch={self.swa_start_epoch!r} must be an int >= 0 or None')

  @property
  def num_runs(self) -> int:
    return int(self.seeds.shape[0])

  @property
  def traced_hyperparams(self) -> dict[str, np.ndarray]:
    """The numeric hyperparameters: arrays [R], traced, one compiled program for all values."""
    return {k: v for k, v in self.hyperparams.items() if not _is_static(v)}

  @property
  def static_hyperparams(self) -> dict[str, Any]:
    """The non-numeric ones (str, bool, None, e.g. adam's form='tf1'): one value for every run,
    fixed at compile time."""
    return {k: v for k, v in self.hyperparams.items() if _is_static(v)}


def _is_static(value: Any) -> bool:
  return value is None or isinstance(value, (str, bool, np.bool_))


def resolve_problem(run_batch: RunBatch, dataset: Dataset, conv_impl: str = 'xla',
                    rnn_impl: str = 'xla') -> Problem:
  """The Problem to train: a registry name is built for the batch size (the char-RNN's carry
  has one row per example) and the dataset's number of classes (the char-RNN's vocabulary is
  the text's own) with the strategy's `conv_impl` and `rnn_impl`; a given Problem must agree
  with the dataset and is used as it is (conv_impl 'xla' only)."""
  problem = run_batch.problem
  if not isinstance(problem, Problem):
    options = dict(run_batch.problem_options, conv_impl=conv_impl)
    if rnn_impl != 'xla':
      options['rnn_impl'] = rnn_impl
    standard = problems.get(problem, batch_size=run_batch.batch_size, **options)
    if standard.num_classes is not None and dataset.num_classes is not None:
      options.setdefault('num_classes', dataset.num_classes)
    problem = problems.get(problem, batch_size=run_batch.batch_size, **options)
  elif run_batch.problem_options:
    raise ConfigError(f'problem_options={dict(run_batch.problem_options)!r} only apply to a '
                      'registry name; a Problem object is used as it is')
  elif conv_impl != 'xla':
    raise ConfigError(f'strategy conv_impl={conv_impl!r} needs a registry problem name (the '
                      f'model is rebuilt with it); problem {problem.name!r} is a Problem object, '
                      "used as it is: valid choice 'xla'")
  if (problem.num_classes is not None and dataset.num_classes is not None
      and problem.num_classes != dataset.num_classes):
    raise ConfigError(
        f'problem {problem.name!r} has {problem.num_classes} classes but dataset '
        f'{dataset.name!r} has {dataset.num_classes} (labels / vocabulary); build the problem '
        f'with problems.get({problem.name!r}, num_classes={dataset.num_classes}) or pass its '
        'name and the engine does')
  return problem


def optimizer_builder(run_batch: RunBatch, num_epochs: int, steps_per_epoch: int
                      ) -> kernels.OptimizerBuilder:
  """hyperparams -> optimizer (schedule and SWA included), called INSIDE traced code with
  traced hyperparameter values."""
  optimizer, schedule = run_batch.optimizer, run_batch.schedule
  if isinstance(optimizer, str):
    # Registry optimizers take the run's base rate explicitly: AdaBound/AMSBound scale their
    # bounds by lr_t / lr_0, which a schedule's value at step 0 cannot give (warm-up: 0).
    optimizer = functools.partial(optimizers.get, run_batch.optimizer)
    takes_base_rate = True
  else:
    takes_base_rate = False
  if isinstance(schedule, str):
    schedule = functools.partial(schedules.get, run_batch.schedule)
  schedule_params = dict(run_batch.schedule_params)
  static = run_batch.static_hyperparams
  swa_start = run_batch.swa_start_epoch

  def build(hyperparams: Mapping[str, jax.Array]) -> optax.GradientTransformation:
    hyperparams = dict(hyperparams, **static)
    base_lr = hyperparams.pop('learning_rate')
    if schedule is None:
      learning_rate = base_lr
    else:
      learning_rate = schedule(base_lr=base_lr, num_epochs=num_epochs,
                               steps_per_epoch=steps_per_epoch, **schedule_params)
    if takes_base_rate:
      hyperparams['base_learning_rate'] = base_lr
    transform = optimizer(learning_rate=learning_rate, **hyperparams)
    if swa_start is not None:
      # Izmailov et al. average once per epoch: the iterate after the last step of epoch e.
      transform = optimizers.swa(transform, start_step=(swa_start + 1) * steps_per_epoch,
                              every=steps_per_epoch)
    return transform
  return build


def eval_params_fn(run_batch: RunBatch) -> kernels.EvalParams:
  """(opt_state, params) -> what evaluation sees: a registry optimizer's own choice (the
  schedule-free x; SWA's average when wrapped), SWA's average for a factory, else params."""
  if isinstance(run_batch.optimizer, str):
    name = run_batch.optimizer
    return lambda opt_state, params: optimizers.eval_params(name, opt_state, params)
  if run_batch.swa_start_epoch is not None:
    return lambda opt_state, params: optimizers.swa_params(opt_state)
  return lambda opt_state, params: params


def default_learning_rate(run_batch: RunBatch) -> float:
  if not isinstance(run_batch.optimizer, str):
    raise ConfigError('hyperparams has no learning_rate and the optimizer is a factory without '
                      "registry defaults; pass hyperparams={'learning_rate': ...}")
  defaults = optimizers.defaults(run_batch.optimizer)
  if 'learning_rate' not in defaults:
    raise ConfigError(f'optimizer {run_batch.optimizer!r} has no default learning_rate; '
                      "pass hyperparams={'learning_rate': ...}")
  return float(defaults['learning_rate'])


class Trainer:
  """Compiles and runs the training and evaluation of one RunBatch on one dataset.

  strategy: a `Strategy`, or None to ask `strategy.choose(problem, backend, R)`.
    runs='vmap': one compiled step advances all R runs; runs='loop': one compiled single-run step
    dispatched for each run in turn (each run does its whole epoch, then the next run).
    steps_per_dispatch=k: k training steps (and up to k evaluation batches) fused per call by
    lax.scan with the strategy's unroll; training remainders use the 1-step program, so at most
    two training programs are ever compiled; evaluation uses equal dispatches of <= k batches,
    the few batches past the end fully masked, so one program per split shape.
  mesh: a 1-D Mesh with axis 'runs' to shard the run axis over; None uses every device whose
    count divides R (see sharding.run_mesh) and no mesh on a single device.
  eval_batch_size: None uses the training batch size (the char-RNN's ordered batches need it).
  """

  def __init__(self, run_batch: RunBatch, dataset: Dataset,
               strategy: Optional[strategy_lib.Strategy] = None, mesh: Optional[Mesh] = None,
               eval_batch_size: Optional[int] = None):
    threefry.enable()   # random bits unchanged, XLA:CPU's Threefry fused (train/threefry.py)
    self.run_batch = run_batch
    self.problem = resolve_problem(run_batch, dataset)
    self.dataset = dataset
    self.num_runs = run_batch.num_runs
    self.batch_size = int(run_batch.batch_size or self.problem.batch_size)
    self.num_epochs = int(run_batch.num_epochs or self.problem.num_epochs)
    self.steps_per_epoch = batching.num_train_steps(dataset.train.size, self.batch_size)
    if dataset.batch_size is not None and self.batch_size != dataset.batch_size:
      raise ConfigError(f'batch_size={self.batch_size}, but dataset {dataset.name!r} is laid '
                        f'out in ordered batches of {dataset.batch_size}; use that batch size')
    self.eval_batch_size = int(eval_batch_size or self.batch_size)
    if dataset.batch_size is not None and self.eval_batch_size != dataset.batch_size:
      raise ConfigError(f'eval_batch_size={self.eval_batch_size}, but dataset '
                        f'{dataset.name!r} is ordered in batches of {dataset.batch_size}; use '
                        'that batch size')
    if run_batch.swa_start_epoch is not None and run_batch.swa_start_epoch >= self.num_epochs:
      raise ConfigError(f'swa_start_epoch={run_batch.swa_start_epoch} must be a training epoch; '
                        f'valid choices: 0..{self.num_epochs - 1}')
    self.log_slots = -(-self.steps_per_epoch // run_batch.train_log_interval)

    chosen = strategy or strategy_lib.choose(self.problem, jax.default_backend(), self.num_runs,
                                             steps_per_epoch=self.steps_per_epoch)
    if strategy is None and isinstance(run_batch.problem, Problem):
      # A Problem object runs as given: the policy's implementation choices rebuild the model
      # from the registry, which only a registry name can be.
      chosen = dataclasses.replace(chosen, conv_impl='xla', rnn_impl='xla')
    if chosen.conv_impl != 'xla' or chosen.rnn_impl != 'xla':
      self.problem = resolve_problem(run_batch, dataset, conv_impl=chosen.conv_impl,
                                     rnn_impl=chosen.rnn_impl)
    if mesh is None:
      mesh = sharding.run_mesh(self.num_runs)
    else:
      sharding.check_mesh(mesh, self.num_runs)
      if mesh.size == 1:
        mesh = None
    self._executor = Executor(chosen, mesh, self.num_runs)

    hyperparams = run_batch.traced_hyperparams
    if 'learning_rate' not in hyperparams:
      hyperparams['learning_rate'] = np.full(
          (self.num_runs,), default_learning_rate(run_batch), np.float32)
    self._hyperparams = hyperparams
    self._kernels = kernels.RunKernels(
        problem=self.problem,
        build_optimizer=optimizer_builder(run_batch, self.num_epochs, self.steps_per_epoch),
        eval_params=eval_params_fn(run_batch), batch_size=self.batch_size,
        eval_batch_size=self.eval_batch_size, train_size=dataset.train.size,
        shuffle=bool(self.problem.shuffle and dataset.shuffle),
        steps_per_epoch=self.steps_per_epoch, log_interval=run_batch.train_log_interval)
    self._splits = {name: self._executor.replicate(getattr(dataset, name))
                    for name in ('train',) + SPLITS}

  # ------------------------------------------------------------------------------------------
  # Read-only facts for the caller.

  @property
  def mesh(self) -> Optional[Mesh]:
    return self._executor.mesh

  @property
  def strategy(self) -> dict:
    """How this batch is executed, for the run record."""
    return dict(self._executor.strategy.as_dict(), num_devices=self._executor.num_devices,
                backend=jax.default_backend(), eval_batch_size=self.eval_batch_size)

  @property
  def compile_seconds(self) -> float:
    """Seconds spent lowering and compiling every program so far."""
    return self._executor.compile_seconds

  @property
  def epoch_order(self) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The single-run (data_key, epoch) -> order kernel (the benchmark times it)."""
    return self._kernels.order

  # bench.py still reads the pre-split private name; remove once it uses epoch_order.
  _order_one = epoch_order

  def steps_in_epoch(self, epoch: int) -> int:
    """Training steps training epoch `epoch` runs (fewer once max_steps is reached)."""
    steps = self.steps_per_epoch
    if self.run_batch.max_steps is not None:
      steps = int(np.clip(self.run_batch.max_steps - epoch * self.steps_per_epoch, 0, steps))
    return steps

  def num_logged(self, epoch: int) -> int:
    """Number of mini-batch losses `run_epoch(state, epoch)` returns per run."""
    return -(-self.steps_in_epoch(epoch) // self.run_batch.train_log_interval)

  # ------------------------------------------------------------------------------------------
  # Training.

  def init(self, seeds: Optional[np.ndarray] = None,
           hyperparams: Optional[Mapping[str, np.ndarray]] = None) -> TrainState:
    """The state before any step. Other seeds / hyperparameter values (same R and names) may be
    given to reuse this trainer's compiled programs, e.g. for the next trials of a search."""
    seeds = self.run_batch.seeds if seeds is None else np.asarray(seeds, np.int32)
    values = dict(self._hyperparams)
    if hyperparams is not None:
      unknown = set(hyperparams) - set(values)
      if unknown:
        raise ConfigError(f'hyperparams {sorted(unknown)} are not in this batch; '
                          f'valid names: {sorted(values)}')
      values.update({k: np.asarray(v, values[k].dtype) for k, v in hyperparams.items()})
    if seeds.shape != (self.num_runs,) or any(v.shape != seeds.shape for v in values.values()):
      raise ConfigError(f'init needs {self.num_runs} seeds and hyperparameter values per name, '
                        f'got seeds {seeds.shape} and {({k: v.shape for k, v in values.items()})}')
    seeds, values = self._executor.place((seeds, values))
    return self._executor.call_all_runs('init', self._kernels.init, seeds, values)

  def _chunks(self, total: int) -> list[int]:
    """Dispatch sizes covering `total` steps: fused chunks of k, then single steps."""
    k = self._executor.strategy.steps_per_dispatch
    return [k] * (total // k) + [1] * (total % k) if k > 1 else [1] * total

  def train_steps(self, state: TrainState, epoch: int, num_steps: int, start: int = 0,
                  on_progress: Optional[Callable[[float], None]] = None
                  ) -> tuple[TrainState, jax.Array]:
    """Advance every run by `num_steps` steps of training epoch `epoch`, from step `start` of
    the epoch (wrapping around). The exact code path of `run_epoch`; returns device arrays
    (state, logged-loss buffer) without waiting for them (the benchmark blocks on them).

    on_progress(fraction done) is called after each run (loop strategy) or each fused chunk
    (vmap), at most every 5% of the work; it waits for that work to finish, so leave it None
    where dispatch must stay asynchronous (the benchmark).
    """
    executor, run_kernels = self._executor, self._kernels
    state = executor.place(state)
    epoch_arg = np.int32(epoch)
    chunks = self._chunks(num_steps)
    unroll = executor.strategy.unroll
    reported = [0.0]

    def report(done: float, total: float, pending: Any) -> None:
      if on_progress is None or total <= 0 or done / total - reported[0] < 0.05:
        return
      jax.block_until_ready(pending)
      reported[0] = done / total
      on_progress(reported[0])

    def sweep(runs: TrainState, device) -> tuple[TrainState, jax.Array]:
      train = executor.on(self._splits['train'], device)
      order = executor.call('order', run_kernels.order, (0, None), runs.data_key, epoch_arg,
                            device=device)
      buffer = executor.filled((self.log_slots,), np.nan, device)
      position = start
      for size in chunks:
        runs, buffer = executor.call(
            ('advance', size), functools.partial(run_kernels.advance, size, unroll),
            (0, 0, 0, None, None, None, None), runs, buffer, order, train.inputs, train.targets,
            epoch_arg, np.int32(position), device=device, donate=(0, 1))
        position += size
        if executor.vmapped:
          report(position - start, num_steps, buffer)
      return runs, buffer

    return executor.map_runs(sweep, state,
                             on_run=lambda done, out: report(done, self.num_runs, out[1]))

  def step_cost(self, state: TrainState) -> dict[str, float]:
    """XLA's cost analysis of ONE training step of every run (flops, bytes accessed, ...).

    Compiles the one-step program separately (a scan-fused program's analysis counts a rolled
    loop body once). Loop strategy: one run's cost times R. Not counted in compile_seconds.
    """
    executor = self._executor
    runs, device = executor.first_run(executor.place(state))
    train = executor.on(self._splits['train'], device)
    rows = (self.num_runs,) if executor.vmapped else ()
    order = executor.place(np.zeros(rows + (train.size,), np.int32)) if rows else \
        np.zeros((train.size,), np.int32)
    buffer = executor.filled((self.log_slots,), 0.0, device)
    return executor.cost(functools.partial(self._kernels.advance, 1, 1),
                         (0, 0, 0, None, None, None, None), runs, buffer, order, train.inputs,
                         train.targets, np.int32(0), np.int32(0))

  def run_epoch(self, state: TrainState, epoch: int,
                on_progress: Optional[Callable[[float], None]] = None
                ) -> tuple[TrainState, np.ndarray]:
    """Training epoch `epoch` (0-based) for every run: (state, mini-batch losses [R, n]).

    on_progress(fraction of the epoch's training done) lets long epochs show progress.
    """
    if not 0 <= epoch < self.num_epochs:
      raise ConfigError(f'epoch={epoch} is outside the training epochs 0..{self.num_epochs - 1}')
    state = self._executor.place(state)
    if jax.tree.leaves(state.model_state):
      state = state._replace(model_state=self._executor.call_all_runs(
          'reset', self._kernels.reset, state.model_state))
    steps = self.steps_in_epoch(epoch)
    if steps == 0:
      return state, np.zeros((self.num_runs, 0), np.float32)
    state, buffer = self.train_steps(state, epoch, steps, on_progress=on_progress)
    return state, np.asarray(sharding.to_host(buffer))[:, :self.num_logged(epoch)]

  # ------------------------------------------------------------------------------------------
  # Evaluation.

  def evaluate(self, state: TrainState) -> dict[str, np.ndarray]:
    """Loss (mean per-example loss + regularizer) and accuracy over each full split.

    Returns name -> np.ndarray[R]: train_eval_loss, valid_loss, test_loss and, where the problem
    has accuracy, train_eval_accuracy, valid_accuracy, test_accuracy. NaN for diverged runs.
    With SWA the averaged weights are evaluated (BatchNorm statistics recomputed for them once
    averaging has begun).
    """
    executor = self._executor
    state = executor.place(state)
    recompute = self._swa_has_begun(state) and kernels.has_batch_norm(state.model_state)

    def sweep(runs: TrainState, device) -> dict:
      params, model_state = executor.call('eval_variables', self._kernels.eval_variables, (0,),
                                          runs, device=device)
      if recompute:
        model_state = self._recomputed_batch_stats(runs, params, model_state, device)
      return {name: self._evaluate_split(runs.eval_key, params, model_state, name, device)
              for name in SPLITS}

    sums, diverged = sharding.to_host((executor.map_runs(sweep, state), state.diverged))
    diverged = np.asarray(diverged)
    metrics = {}
    for name in SPLITS:
      loss_sum, correct_sum, regularizer = sums[name]
      size = self._splits[name].size
      metrics[f'{name}_loss'] = np.where(diverged, np.nan, loss_sum / size + regularizer)
      if self.problem.has_accuracy:
        metrics[f'{name}_accuracy'] = np.where(diverged, np.nan, correct_sum / size)
    return {k: np.asarray(v, np.float64) for k, v in metrics.items()}

  def _evaluate_split(self, eval_key: jax.Array, params: PyTree, model_state: dict, name: str,
                      device) -> tuple:
    """Device arrays (loss_sum, correct_sum, regularizer) of the runs given (all or one)."""
    executor, run_kernels = self._executor, self._kernels
    split = executor.on(self._splits[name], device)
    carry, regularizer = executor.call('eval_start', run_kernels.eval_start, (0, 0), params,
                                       model_state, device=device)
    num_batches = batching.num_eval_batches(split.size, self.eval_batch_size)
    # One program per split shape: ceil(nb / k) equal dispatches of c <= k batches; the few
    # batches past the end (< number of dispatches) are fully masked by eval_batch_indices.
    dispatches = -(-num_batches // executor.strategy.steps_per_dispatch)
    size = -(-num_batches // dispatches)
    unroll = executor.strategy.unroll
    for position in range(0, dispatches * size, size):
      carry = executor.call(
          ('eval', size, split.inputs.shape, split.targets.shape),
          functools.partial(run_kernels.eval_batches, size, unroll),
          (0, 0, 0, None, None, None), carry, params, eval_key, split.inputs, split.targets,
          np.int32(position), device=device, donate=(0,))
    return carry.loss_sum, carry.correct_sum, regularizer

  def _swa_has_begun(self, state: TrainState) -> bool:
    """Whether SWA has averaged at least one iterate (every run takes the same steps)."""
    if self.run_batch.swa_start_epoch is None:
      return False
    first_average = (self.run_batch.swa_start_epoch + 1) * self.steps_per_epoch
    return int(np.max(jax.device_get(state.step))) >= first_average

  def _recomputed_batch_stats(self, runs: TrainState, params: PyTree, model_state: dict,
                              device) -> dict:
    """BatchNorm statistics for SWA's averaged weights: the mean batch statistics of one pass
    in training mode over the train_eval split (full batches, no augmentation), by the SWA
    wrapper's own hook (momentum measured, so any BatchNorm convention works)."""
    executor = self._executor
    split = executor.on(self._splits['train_eval'], device)
    num_batches = max(1, split.size // self.eval_batch_size)

    def apply_train(variables: dict, index: int) -> dict:
      return executor.call(
          ('batch_stats', split.inputs.shape), self._kernels.batch_stats_pass,
          (0, 0, None, None, None), variables, runs.eval_key, split.inputs, split.targets,
          np.int32(index), device=device)

    variables = optimizers.recompute_batch_stats(apply_train, {'params': params, **model_state},
                                              range(num_batches))
    return {k: v for k, v in variables.items() if k != 'params'}
