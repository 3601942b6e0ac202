"""The one place that maps single-run functions (kernels.py) over the runs of a batch.

A strategy (strategy.py) says how: runs='vmap' compiles `jax.vmap(fn)` and advances every run
with one call; runs='loop' compiles `fn` for one run and calls it for each run in turn (each run
does all its work, then the next). Several devices: the run axis is sharded over a 1-D mesh
(sharding.py); looped runs execute on the device that holds them, with its replica of the data.
Steps are fused per dispatch by the kernels themselves (a scan of k steps); the executor only
compiles each program once, ahead of time, and counts the seconds spent compiling.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxbench.data.base import Split
from jaxbench.train import sharding
from jaxbench.train.strategy import Strategy

PyTree = Any
InAxes = Sequence[Optional[int]]


class Executor:
  """Compiles and dispatches single-run functions over R runs, by `strategy`, on `mesh`.

  mesh: None on a single device, else a 1-D mesh with axis 'runs' whose size divides R.
  """

  def __init__(self, strategy: Strategy, mesh: Optional[Mesh], num_runs: int):
    self.strategy = strategy
    self.mesh = mesh
    self.num_runs = num_runs
    self._programs: dict[tuple, Any] = {}
    self.compile_seconds = 0.0

  @property
  def vmapped(self) -> bool:
    return self.strategy.runs == 'vmap'

  @property
  def num_devices(self) -> int:
    return 1 if self.mesh is None else int(self.mesh.size)

  def _run_sharding(self):
    return None if self.mesh is None else sharding.run_sharding(self.mesh)

  def _mapped(self, fn: Callable, in_axes: InAxes, every_run: bool, donate: tuple):
    mapped = jax.vmap(fn, in_axes=tuple(in_axes)) if every_run else fn
    return jax.jit(mapped, donate_argnums=donate,
                   out_shardings=self._run_sharding() if every_run else None)

  def _program(self, key: tuple, fn: Callable, in_axes: InAxes, args: tuple, every_run: bool,
               donate: tuple = ()) -> Any:
    """The compiled program for `key`, compiled from `args` (their shapes and placement)."""
    if key not in self._programs:
      started = time.perf_counter()
      self._programs[key] = self._mapped(fn, in_axes, every_run, donate).lower(*args).compile()
      self.compile_seconds += time.perf_counter() - started
    return self._programs[key]

  # -- calling ------------------------------------------------------------------------------

  def call(self, name: Any, fn: Callable, in_axes: InAxes, *args, device=None,
           donate: tuple = ()) -> Any:
    """fn over the runs `args` hold: all of them (vmap; in_axes marks the per-run arguments,
    None the shared ones) or the one run on `device` (loop; in_axes unused)."""
    program = self._program((name, device), fn, in_axes, args, self.vmapped, donate)
    return program(*args)

  def call_all_runs(self, name: Any, fn: Callable, *args) -> Any:
    """fn vmapped over every argument's leading run axis, whatever the strategy (init and the
    per-epoch reset: cheap, once per epoch)."""
    in_axes = (0,) * len(args)
    return self._program((name, 'all'), fn, in_axes, args, True)(*args)

  def cost(self, fn: Callable, in_axes: InAxes, *args) -> dict[str, float]:
    """XLA's cost analysis of fn over all runs (a loop's one-run cost times R); compiled apart
    and not counted in compile_seconds."""
    compiled = self._mapped(fn, in_axes, self.vmapped, ()).lower(*args).compile()
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
      cost = cost[0] if cost else {}
    scale = 1 if self.vmapped else self.num_runs
    return {k: float(v) * scale for k, v in (cost or {}).items() if isinstance(v, (int, float))}

  def map_runs(self, per_run: Callable[[PyTree, Any], PyTree], state: PyTree,
               on_run: Optional[Callable[[int, PyTree], None]] = None) -> PyTree:
    """per_run(runs, device) -> outputs with a leading run axis, for every run of `state`.

    vmap: one call with every run (device None). loop: one call per run with that run's
    single-run state and its device, then the outputs stacked back in run order;
    on_run(runs done, latest output) after each.
    """
    if self.vmapped:
      return per_run(state, None)
    groups, done = [], 0
    for device, runs in self._per_device(state):
      outputs = []
      for run in runs:
        outputs.append(per_run(run, device))
        done += 1
        if on_run is not None:
          on_run(done, outputs[-1])
      groups.append(outputs)
    local = [sharding.stack_runs(outputs) for outputs in groups]
    if self.mesh is None:
      return local[0]
    return sharding.assemble(local, sharding.run_sharding(self.mesh), self.num_runs)

  def _per_device(self, state: PyTree) -> list[tuple[Any, list[PyTree]]]:
    if self.mesh is None:
      return [(None, sharding.unstack_runs(state))]
    return [(device, sharding.unstack_runs(local))
            for device, local in sharding.device_groups(state)]

  def first_run(self, state: PyTree) -> tuple[PyTree, Any]:
    """(the first run's state, its device) for a loop; (state, None) for vmap."""
    if self.vmapped:
      return state, None
    device, runs = self._per_device(state)[0]
    return runs[0], device

  # -- placement ----------------------------------------------------------------------------

  def place(self, tree: PyTree) -> PyTree:
    """A run-axis tree from elsewhere (a restored checkpoint, numpy) onto the mesh."""
    if self.mesh is None:
      return tree
    return jax.device_put(tree, sharding.run_sharding(self.mesh))

  def replicate(self, split: Split) -> Split:
    """A dataset split on every device of the mesh (the data is never sharded)."""
    if self.mesh is None:
      return split
    return Split(*jax.device_put((split.inputs, split.targets), sharding.replicated(self.mesh)))

  def on(self, split: Split, device) -> Split:
    """The copy of a replicated split that lives on `device` (loop over a mesh)."""
    if device is None:
      return split
    return Split(*sharding.replica_on((split.inputs, split.targets), device))

  def filled(self, shape: tuple[int, ...], value: float, device=None) -> jax.Array:
    """float32 `value` of `shape` per run: [R, *shape] on the mesh (vmap), or [*shape] on
    `device` (loop)."""
    if self.vmapped:
      return sharding.filled((self.num_runs,) + shape, value, self.mesh)
    array = np.full(shape, value, np.float32)
    return jax.device_put(array, device) if device is not None else jnp.asarray(array)
