"""The training engine: one compiled program advances a whole batch of runs.

A *batch of runs* is R runs of one (problem, optimizer, schedule) that differ only in their seed
and hyperparameter values. Seeds and hyperparameters are traced arrays with a leading run axis,
so a new seed or a new learning rate never recompiles.

Public API (see BUILD_NOTES.md, "Training engine" and "Contracts between the parts"):

  batch = RunBatch(problem='quadratic_deep', optimizer='sgd', schedule='constant',
                   hyperparams={'learning_rate': np.array([1e-2, 1e-3])}, seeds=np.array([42, 43]))
  trainer = Trainer(batch, dataset)            # strategy=None asks strategy.choose()
  state = trainer.init()                        # TrainState, every leaf has leading axis R
  metrics = trainer.evaluate(state)             # epoch 0: dict name -> np.ndarray[R]
  for epoch in range(trainer.num_epochs):
    state, minibatch_losses = trainer.run_epoch(state, epoch)   # np.ndarray[R, n_logged]
    metrics = trainer.evaluate(state)
  state.diverged, state.diverged_epoch          # [R] bool, [R] int32 (-1: not diverged)
  trainer.strategy, trainer.compile_seconds, trainer.steps_per_epoch

Keys and seeds: run r's key is PRNGKey(seeds[r]), split into (init, data, dropout, eval) keys.
Initialisation uses the init key; epoch e's data order is
`epoch_permutation(data_key, e, N)` = argsort(bits(fold_in(data_key, e), N)); the training step
with global step number g (0-based, counted over all epochs) uses fold_in(dropout_key, g), split
into (augmentation key, apply rng); evaluation always uses the eval key. Nothing depends on the
other runs of the batch, so a run gives the same numbers alone or inside any batch.

Epochs are numbered 0 .. num_epochs - 1 for training (`run_epoch(state, e)` runs training epoch
e, whose results are record entry e + 1; entry 0 is the evaluation before any step).

Divergence: a step whose training objective is non-finite freezes its run: params, model state
and optimizer state keep the values they had before that step, `diverged` becomes True and
`diverged_epoch` the training epoch e of that step. The other runs go on. After divergence the
run's logged mini-batch losses are NaN and every `evaluate` metric of that run is NaN (the step
that diverged logs its own non-finite loss). It is a mask inside the compiled step, never
Python control flow.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Mapping, NamedTuple, Optional, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxbench.data import batching
from jaxbench.data.base import Dataset, Split
from jaxbench.problems.base import Problem
from jaxbench.train import evaluate as evaluation
from jaxbench.train import sharding
from jaxbench.train import strategy as strategy_lib

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

  def __post_init__(self):
    seeds = np.asarray(self.seeds)
    if seeds.ndim != 1 or seeds.size < 1 or not np.issubdtype(seeds.dtype, np.integer):
      raise ValueError(f'seeds must be a 1-D integer array with at least one entry, got {seeds!r}')
    if seeds.min() < 0 or seeds.max() >= 2**31:
      raise ValueError(f'seeds must lie in [0, 2**31), got {seeds!r}')
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
        raise ValueError(f'hyperparams[{name!r}] has shape {value.shape}; every hyperparameter '
                         f'needs one value per run, shape {seeds.shape}')
      hps[name] = value.astype(np.int32 if np.issubdtype(value.dtype, np.integer) else np.float32)
    object.__setattr__(self, 'hyperparams', hps)
    if isinstance(self.optimizer, str):
      # Inside the step the values are traced and escape the optimizer's own range checks:
      # check every run's value here (unknown names and out-of-range values raise).
      from jaxbench import optimizers  # pylint: disable=import-outside-toplevel
      optimizers.check_hyperparams(self.optimizer, **hps)
    for name in ('batch_size', 'num_epochs', 'max_steps'):
      value = getattr(self, name)
      if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
        raise ValueError(f'{name}={value!r} must be a positive integer or None')
    if not isinstance(self.train_log_interval, (int, np.integer)) or self.train_log_interval < 1:
      raise ValueError(f'train_log_interval={self.train_log_interval!r} must be a positive integer')

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


class TrainState(NamedTuple):
  """Everything that evolves, every leaf with a leading run axis R (one row per run).

  A plain pytree of arrays (raw uint32 keys), so it checkpoints with orbax as is.
  """
  params: PyTree
  model_state: dict          # non-'params' flax collections (BatchNorm stats, LSTM carry)
  opt_state: PyTree
  hyperparams: dict          # name -> [R]; traced inputs of the optimizer and schedule
  step: jax.Array            # [R] int32, global training steps taken (counts frozen runs too)
  data_key: jax.Array        # [R, 2] uint32
  dropout_key: jax.Array     # [R, 2] uint32
  eval_key: jax.Array        # [R, 2] uint32
  diverged: jax.Array        # [R] bool
  diverged_epoch: jax.Array  # [R] int32, training epoch of the non-finite step, -1 if none


def run_keys(seed: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """(init, data, dropout, eval) keys of the run with this seed."""
  init_key, data_key, dropout_key, eval_key = jax.random.split(jax.random.PRNGKey(seed), 4)
  return init_key, data_key, dropout_key, eval_key


def _resolve_problem(problem: Union[str, Problem], batch_size: Optional[int]) -> Problem:
  """A registry name is built for the batch size (the char-RNN's carry has one row per example)."""
  if isinstance(problem, Problem):
    return problem
  from jaxbench import problems  # pylint: disable=import-outside-toplevel
  return problems.get(problem, batch_size=batch_size)


def _optimizer_builder(run_batch: RunBatch, num_epochs: int, steps_per_epoch: int
                       ) -> Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]:
  """hyperparams -> optimizer, called INSIDE traced code with traced hyperparameter values."""
  optimizer, schedule = run_batch.optimizer, run_batch.schedule
  if isinstance(optimizer, str):
    from jaxbench import optimizers  # pylint: disable=import-outside-toplevel
    optimizer = functools.partial(optimizers.get, run_batch.optimizer)
  if isinstance(schedule, str):
    from jaxbench import schedules  # pylint: disable=import-outside-toplevel
    schedule = functools.partial(schedules.get, run_batch.schedule)
  schedule_params = dict(run_batch.schedule_params)
  static = run_batch.static_hyperparams

  def build(hyperparams: Mapping[str, jax.Array]) -> optax.GradientTransformation:
    hyperparams = dict(hyperparams, **static)
    base_lr = hyperparams.pop('learning_rate')
    if schedule is None:
      learning_rate = base_lr
    else:
      learning_rate = schedule(base_lr=base_lr, num_epochs=num_epochs,
                               steps_per_epoch=steps_per_epoch, **schedule_params)
    return optimizer(learning_rate=learning_rate, **hyperparams)
  return build


def _default_learning_rate(run_batch: RunBatch) -> float:
  if not isinstance(run_batch.optimizer, str):
    raise ValueError('hyperparams has no learning_rate and the optimizer is a factory without '
                     "registry defaults; pass hyperparams={'learning_rate': ...}")
  from jaxbench import optimizers  # pylint: disable=import-outside-toplevel
  defaults = optimizers.defaults(run_batch.optimizer)
  if 'learning_rate' not in defaults:
    raise ValueError(f'optimizer {run_batch.optimizer!r} has no default learning_rate; '
                     "pass hyperparams={'learning_rate': ...}")
  return float(defaults['learning_rate'])


def _where_tree(condition: jax.Array, old: PyTree, new: PyTree) -> PyTree:
  return jax.tree.map(lambda o, n: jnp.where(condition, o, n), old, new)


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
    self.run_batch = run_batch
    self.problem = _resolve_problem(run_batch.problem, run_batch.batch_size)
    self.dataset = dataset
    self.num_runs = run_batch.num_runs
    self.batch_size = int(run_batch.batch_size or self.problem.batch_size)
    self.num_epochs = int(run_batch.num_epochs or self.problem.num_epochs)
    self.steps_per_epoch = batching.num_train_steps(dataset.train.size, self.batch_size)
    self.shuffle = bool(self.problem.shuffle and dataset.shuffle)
    if dataset.batch_size is not None and self.batch_size != dataset.batch_size:
      raise ValueError(f'batch_size={self.batch_size}, but dataset {dataset.name!r} is laid out '
                       f'in ordered batches of {dataset.batch_size}; use that batch size')
    self.eval_batch_size = int(eval_batch_size or self.batch_size)
    if dataset.batch_size is not None and self.eval_batch_size != dataset.batch_size:
      raise ValueError(f'eval_batch_size={self.eval_batch_size}, but dataset {dataset.name!r} '
                       f'is ordered in batches of {dataset.batch_size}; use that batch size')
    self.log_slots = -(-self.steps_per_epoch // run_batch.train_log_interval)

    self._strategy = strategy or strategy_lib.choose(
        self.problem.name, jax.default_backend(), self.num_runs)
    if mesh is None:
      mesh = sharding.run_mesh(self.num_runs)
    else:
      sharding.check_mesh(mesh, self.num_runs)
      if mesh.size == 1:
        mesh = None
    self.mesh = mesh

    hyperparams = run_batch.traced_hyperparams
    if 'learning_rate' not in hyperparams:
      hyperparams['learning_rate'] = np.full(
          (self.num_runs,), _default_learning_rate(run_batch), np.float32)
    self._hyperparams = hyperparams
    self._build_optimizer = _optimizer_builder(run_batch, self.num_epochs, self.steps_per_epoch)

    splits = {name: getattr(dataset, name) for name in ('train',) + SPLITS}
    if self.mesh is not None:
      everywhere = sharding.replicated(self.mesh)
      splits = {name: Split(*jax.device_put((split.inputs, split.targets), everywhere))
                for name, split in splits.items()}
    self._splits: dict[str, Split] = splits
    self._executables: dict[tuple, Any] = {}
    self._compile_seconds = 0.0

  # ------------------------------------------------------------------------------------------
  # Read-only facts for the caller.

  @property
  def strategy(self) -> dict:
    """How this batch is executed, for the run record."""
    return dict(self._strategy.as_dict(),
                num_devices=1 if self.mesh is None else int(self.mesh.size),
                backend=jax.default_backend(),
                eval_batch_size=self.eval_batch_size)

  @property
  def compile_seconds(self) -> float:
    """Seconds spent lowering and compiling every program so far."""
    return self._compile_seconds

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
  # Pure single-run functions; the strategies vmap or loop them.

  def _init_one(self, seed: jax.Array, hyperparams: dict) -> TrainState:
    init_key, data_key, dropout_key, eval_key = run_keys(seed)
    variables = dict(self.problem.init(init_key))
    params = variables.pop('params')
    opt_state = self._build_optimizer(hyperparams).init(params)
    return TrainState(params=params, model_state=variables, opt_state=opt_state,
                      hyperparams=hyperparams, step=jnp.zeros((), jnp.int32),
                      data_key=data_key, dropout_key=dropout_key, eval_key=eval_key,
                      diverged=jnp.zeros((), bool), diverged_epoch=jnp.full((), -1, jnp.int32))

  def _order_one(self, data_key: jax.Array, epoch: jax.Array) -> jax.Array:
    size = self._splits['train'].size
    if not self.shuffle:
      return jnp.arange(size, dtype=jnp.int32)
    return batching.epoch_permutation(data_key, epoch, size).astype(jnp.int32)

  def _step_one(self, state: TrainState, order: jax.Array, inputs: jax.Array,
                targets: jax.Array, epoch: jax.Array, index: jax.Array
                ) -> tuple[TrainState, jax.Array]:
    """One training step of one run on batch `index` of its epoch order."""
    problem = self.problem
    rows = batching.train_batch_indices(order, index, self.batch_size)
    step_key = jax.random.fold_in(state.dropout_key, state.step)
    augment_key, apply_key = jax.random.split(step_key)
    x = problem.preprocess(jnp.take(inputs, rows, axis=0), augment_key, True)
    y = jnp.take(targets, rows, axis=0)
    optimizer = self._build_optimizer(state.hyperparams)

    def objective(params):
      out = problem.apply({'params': params, **state.model_state}, x, y, train=True,
                          rng=apply_key)
      return jnp.mean(out.loss) + problem.regularizer(params), out.model_state

    (loss, model_state), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    now_bad = ~jnp.isfinite(loss)
    frozen = state.diverged | now_bad
    new_state = state._replace(
        params=_where_tree(frozen, state.params, params),
        model_state=_where_tree(frozen, state.model_state, model_state),
        opt_state=_where_tree(frozen, state.opt_state, opt_state),
        step=state.step + 1,
        diverged=frozen,
        diverged_epoch=jnp.where(now_bad & ~state.diverged, epoch.astype(jnp.int32),
                                 state.diverged_epoch))
    logged = jnp.where(state.diverged, jnp.nan, loss)
    return new_state, logged

  # ------------------------------------------------------------------------------------------
  # Programs (compiled once each, ahead of time, and cached on the instance).

  @property
  def _vmapped(self) -> bool:
    return self._strategy.runs == 'vmap'

  def _out_sharding(self):
    if self.mesh is None or not self._vmapped:
      return None
    return sharding.run_sharding(self.mesh)

  def _executable(self, key: tuple, make: Callable[[], Callable], *args) -> Any:
    """The compiled program for `key`, compiled from `args` (their shapes and placement)."""
    if key not in self._executables:
      started = time.perf_counter()
      self._executables[key] = make().lower(*args).compile()
      self._compile_seconds += time.perf_counter() - started
    return self._executables[key]

  def _make_init(self):
    fn = jax.vmap(self._init_one)
    out = None if self.mesh is None else sharding.run_sharding(self.mesh)
    return jax.jit(fn, out_shardings=out)

  def _make_order(self):
    fn = jax.vmap(self._order_one, in_axes=(0, None)) if self._vmapped else self._order_one
    return jax.jit(fn, out_shardings=self._out_sharding())

  def _make_advance(self, num_steps: int):
    """(state, buffer, order, inputs, targets, epoch, start) -> (state, buffer).

    Runs steps start .. start + num_steps - 1 (mod steps_per_epoch) of the epoch; writes the
    loss of step t into buffer[..., t // interval] when t % interval == 0.
    """
    step = self._step_one
    if self._vmapped:
      step = jax.vmap(step, in_axes=(0, 0, None, None, None, None))
    interval = self.run_batch.train_log_interval
    steps_per_epoch = self.steps_per_epoch

    def one(carry, order, inputs, targets, epoch, position):
      state, buffer = carry
      index = position % steps_per_epoch
      state, loss = step(state, order, inputs, targets, epoch, index)
      slot = index // interval
      logged = jnp.where(index % interval == 0, loss, buffer[..., slot])
      return state, buffer.at[..., slot].set(logged)

    def advance(state, buffer, order, inputs, targets, epoch, start):
      if num_steps == 1:
        return one((state, buffer), order, inputs, targets, epoch, start)
      def body(carry, offset):
        return one(carry, order, inputs, targets, epoch, start + offset), None
      carry, _ = jax.lax.scan(body, (state, buffer), jnp.arange(num_steps, dtype=jnp.int32),
                              unroll=min(self._strategy.unroll, num_steps))
      return carry
    return jax.jit(advance, donate_argnums=(0, 1), out_shardings=self._out_sharding())

  def _eval_params(self, state: TrainState) -> PyTree:
    """The parameters evaluation sees: the optimizer's own choice (SWA average, schedule-free
    x) for registry optimizers, else the trained parameters."""
    from jaxbench import optimizers  # pylint: disable=import-outside-toplevel
    if not isinstance(self.run_batch.optimizer, str):
      return state.params
    return optimizers.eval_params(self.run_batch.optimizer, state.opt_state, state.params)

  def _make_eval_start(self):
    def start(state):
      carry = evaluation.start(self.problem, state.model_state)
      return carry, self.problem.regularizer(self._eval_params(state))
    fn = jax.vmap(start) if self._vmapped else start
    return jax.jit(fn, out_shardings=self._out_sharding())

  def _make_eval_batches(self, num_batches: int):
    """(carry, state, inputs, targets, start) -> carry after batches start .. start + n - 1."""
    def one(carry, state, inputs, targets, index):
      return evaluation.batch(self.problem, carry, self._eval_params(state), state.eval_key,
                              inputs, targets, index, self.eval_batch_size)
    if self._vmapped:
      one = jax.vmap(one, in_axes=(0, 0, None, None, None))

    def run(carry, state, inputs, targets, start):
      if num_batches == 1:
        return one(carry, state, inputs, targets, start)
      def body(carry, offset):
        return one(carry, state, inputs, targets, start + offset), None
      carry, _ = jax.lax.scan(body, carry, jnp.arange(num_batches, dtype=jnp.int32),
                              unroll=min(self._strategy.unroll, num_batches))
      return carry
    return jax.jit(run, donate_argnums=(0,), out_shardings=self._out_sharding())

  # ------------------------------------------------------------------------------------------
  # Driving the programs.

  def _chunks(self, total: int) -> list[int]:
    """Dispatch sizes covering `total` steps: fused chunks of k, then single steps."""
    k = self._strategy.steps_per_dispatch
    return [k] * (total // k) + [1] * (total % k) if k > 1 else [1] * total

  def _per_run(self, state: TrainState) -> list[tuple[Any, list[TrainState]]]:
    """Loop strategy: the runs grouped by the device holding them, as single-run states."""
    if self.mesh is None:
      return [(None, sharding.unstack_runs(state))]
    return [(device, sharding.unstack_runs(local))
            for device, local in sharding.device_groups(state)]

  def _from_runs(self, groups: list[tuple[Any, list]]) -> Any:
    locals_ = [sharding.stack_runs(runs) for _, runs in groups]
    if self.mesh is None:
      return locals_[0]
    return sharding.assemble(locals_, sharding.run_sharding(self.mesh), self.num_runs)

  def _place(self, state: TrainState) -> TrainState:
    """A state from elsewhere (a restored checkpoint, numpy) onto this trainer's devices."""
    if self.mesh is None:
      return state
    return jax.device_put(state, sharding.run_sharding(self.mesh))

  def _data_on(self, name: str, device) -> Split:
    split = self._splits[name]
    if device is None:
      return split
    return Split(*sharding.replica_on((split.inputs, split.targets), device))

  def init(self, seeds: Optional[np.ndarray] = None,
           hyperparams: Optional[Mapping[str, np.ndarray]] = None) -> TrainState:
    """The state before any step. Other seeds / hyperparameter values (same R and names) may be
    given to reuse this trainer's compiled programs, e.g. for the next trials of a search."""
    seeds = self.run_batch.seeds if seeds is None else np.asarray(seeds, np.int32)
    values = dict(self._hyperparams)
    if hyperparams is not None:
      unknown = set(hyperparams) - set(values)
      if unknown:
        raise ValueError(f'hyperparams {sorted(unknown)} are not in this batch; '
                         f'valid names: {sorted(values)}')
      values.update({k: np.asarray(v, values[k].dtype) for k, v in hyperparams.items()})
    if seeds.shape != (self.num_runs,) or any(v.shape != seeds.shape for v in values.values()):
      raise ValueError(f'init needs {self.num_runs} seeds and hyperparameter values per name, '
                       f'got seeds {seeds.shape} and {({k: v.shape for k, v in values.items()})}')
    if self.mesh is not None:
      seeds, values = jax.device_put((seeds, values), sharding.run_sharding(self.mesh))
    program = self._executable(('init',), self._make_init, seeds, values)
    return program(seeds, values)

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
    state = self._place(state)
    epoch_arg = np.int32(epoch)
    chunks = self._chunks(num_steps)
    reported = [0.0]

    def report(done: float, total: float, pending: Any) -> None:
      if on_progress is None or total <= 0 or done / total - reported[0] < 0.05:
        return
      jax.block_until_ready(pending)
      reported[0] = done / total
      on_progress(reported[0])
    if self._vmapped:
      order = self._executable(('order',), self._make_order, state.data_key, epoch_arg)(
          state.data_key, epoch_arg)
      buffer = sharding.nan_filled((self.num_runs, self.log_slots), self.mesh)
      train = self._splits['train']
      position = start
      for size in chunks:
        args = (state, buffer, order, train.inputs, train.targets, epoch_arg, np.int32(position))
        program = self._executable(('advance', size), functools.partial(
            self._make_advance, size), *args)
        state, buffer = program(*args)
        position += size
        report(position - start, num_steps, buffer)
      return state, buffer
    states, buffers = [], []
    for device, runs in self._per_run(state):
      train = self._data_on('train', device)
      done, logged = [], []
      for run in runs:
        order = self._executable(('order', device), self._make_order, run.data_key, epoch_arg)(
            run.data_key, epoch_arg)
        buffer = jax.device_put(jnp.full((self.log_slots,), jnp.nan, jnp.float32), device)
        position = start
        for size in chunks:
          args = (run, buffer, order, train.inputs, train.targets, epoch_arg, np.int32(position))
          program = self._executable(('advance', size, device), functools.partial(
              self._make_advance, size), *args)
          run, buffer = program(*args)
          position += size
        done.append(run)
        logged.append(buffer)
        report(len(logged) + sum(len(b) for _, b in buffers), self.num_runs, buffer)
      states.append((device, done))
      buffers.append((device, logged))
    return self._from_runs(states), self._from_runs(buffers)

  def step_cost(self, state: TrainState) -> dict[str, float]:
    """XLA's cost analysis of ONE training step of every run (flops, bytes accessed, ...).

    Compiles the one-step program separately (a scan-fused program's analysis counts a rolled
    loop body once). Loop strategy: one run's cost times R. Not counted in compile_seconds.
    """
    state = self._place(state)
    train = self._splits['train']
    one = state if self._vmapped else sharding.unstack_runs(
        state if self.mesh is None else sharding.device_groups(state)[0][1])[0]
    rows = (self.num_runs,) if self._vmapped else ()
    order = jnp.zeros(rows + (train.size,), jnp.int32)
    buffer = jnp.zeros(rows + (self.log_slots,), jnp.float32)
    if self._vmapped and self.mesh is not None:
      order, buffer = jax.device_put((order, buffer), sharding.run_sharding(self.mesh))
    data = train if self._vmapped or self.mesh is None else self._data_on(
        'train', sharding.device_groups(state)[0][0])
    compiled = self._make_advance(1).lower(one, buffer, order, data.inputs, data.targets,
                                           np.int32(0), np.int32(0)).compile()
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
      cost = cost[0] if cost else {}
    scale = 1 if self._vmapped else self.num_runs
    return {k: float(v) * scale for k, v in (cost or {}).items()
            if isinstance(v, (int, float))}

  def run_epoch(self, state: TrainState, epoch: int,
                on_progress: Optional[Callable[[float], None]] = None
                ) -> tuple[TrainState, np.ndarray]:
    """Training epoch `epoch` (0-based) for every run: (state, mini-batch losses [R, n]).

    on_progress(fraction of the epoch's training done) lets long epochs show progress.
    """
    if not 0 <= epoch < self.num_epochs:
      raise ValueError(f'epoch={epoch} is outside the training epochs 0..{self.num_epochs - 1}')
    state = self._place(state)
    model_state = self._reset_model_state(state)
    state = state._replace(model_state=model_state)
    steps = self.steps_in_epoch(epoch)
    if steps == 0:
      return state, np.zeros((self.num_runs, 0), np.float32)
    state, buffer = self.train_steps(state, epoch, steps, on_progress=on_progress)
    return state, np.asarray(sharding.to_host(buffer))[:, :self.num_logged(epoch)]

  def _reset_model_state(self, state: TrainState) -> dict:
    """problem.reset_state at the start of every epoch (the char-RNN's LSTM carry)."""
    def make():
      fn = jax.vmap(self.problem.reset_state)
      out = None if self.mesh is None else sharding.run_sharding(self.mesh)
      return jax.jit(fn, out_shardings=out)
    if not jax.tree.leaves(state.model_state):
      return state.model_state
    return self._executable(('reset',), make, state.model_state)(state.model_state)

  def evaluate(self, state: TrainState) -> dict[str, np.ndarray]:
    """Loss (mean per-example loss + regularizer) and accuracy over each full split.

    Returns name -> np.ndarray[R]: train_eval_loss, valid_loss, test_loss and, where the problem
    has accuracy, train_eval_accuracy, valid_accuracy, test_accuracy. NaN for diverged runs.
    """
    state = self._place(state)
    sums = {}
    if self._vmapped:
      for name in SPLITS:
        sums[name] = self._evaluate_split(state, name, None)
    else:
      per_split = {name: [] for name in SPLITS}
      for device, runs in self._per_run(state):
        for run in runs:
          for name in SPLITS:
            per_split[name].append(self._evaluate_split(run, name, device))
      sums = {name: jax.tree.map(lambda *xs: np.stack(xs), *jax.device_get(values))
              for name, values in per_split.items()}
    sums, diverged = sharding.to_host((sums, state.diverged))
    diverged = np.asarray(diverged)
    metrics = {}
    for name in SPLITS:
      loss_sum, correct_sum, regularizer = sums[name]
      size = self._splits[name].size
      metrics[f'{name}_loss'] = np.where(diverged, np.nan, loss_sum / size + regularizer)
      if self.problem.has_accuracy:
        metrics[f'{name}_accuracy'] = np.where(diverged, np.nan, correct_sum / size)
    return {k: np.asarray(v, np.float64) for k, v in metrics.items()}

  def _evaluate_split(self, state: TrainState, name: str, device) -> tuple:
    """Device arrays (loss_sum, correct_sum, regularizer) of `state` (all runs or one)."""
    split = self._data_on(name, device)
    carry, regularizer = self._executable(('eval_start', device), self._make_eval_start,
                                          state)(state)
    num_batches = batching.num_eval_batches(split.size, self.eval_batch_size)
    # One program per split shape: ceil(nb / k) equal dispatches of c <= k batches; the few
    # batches past the end (< number of dispatches) are fully masked by eval_batch_indices.
    dispatches = -(-num_batches // self._strategy.steps_per_dispatch)
    size = -(-num_batches // dispatches)
    for position in range(0, dispatches * size, size):
      args = (carry, state, split.inputs, split.targets, np.int32(position))
      program = self._executable(
          ('eval', size, split.inputs.shape, split.targets.shape, device),
          functools.partial(self._make_eval_batches, size), *args)
      carry = program(*args)
    return carry.loss_sum, carry.correct_sum, regularizer
