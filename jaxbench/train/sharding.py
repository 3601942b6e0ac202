"""Placing a batch of runs on one or several devices: the run axis is the only sharded axis.

Every leaf of the engine's state has a leading run axis R. With several devices the runs are
split across them by `NamedSharding(mesh, P('runs'))` (no pmap); the dataset is replicated.
A run never talks to another, so sharding the run axis needs no collectives at all.
"""
from __future__ import annotations

import functools
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

PyTree = Any
RUN_AXIS = 'runs'


def run_mesh(num_runs: int, devices: Optional[Sequence[jax.Device]] = None) -> Optional[Mesh]:
  """The default mesh for `num_runs` runs: the most devices that divide the runs evenly.

  Uneven shards are not allowed by NamedSharding, and padding the run axis with dummy runs would
  leak into the state every caller sees (records, checkpoints); so with R runs on D devices we
  use the largest d <= D that divides R (10 runs on 4 devices use 2). None on a single device.
  """
  devices = list(jax.devices() if devices is None else devices)
  count = max(d for d in range(1, len(devices) + 1) if num_runs % d == 0)
  if count == 1:
    return None
  return Mesh(np.asarray(devices[:count]), (RUN_AXIS,))


def check_mesh(mesh: Mesh, num_runs: int) -> None:
  """An explicit mesh must have one axis named 'runs' whose size divides the number of runs."""
  if tuple(mesh.axis_names) != (RUN_AXIS,):
    raise ValueError(f'mesh axis names {tuple(mesh.axis_names)}; the engine shards only the run '
                     f"axis and needs a 1-D mesh with axis name {RUN_AXIS!r}")
  if num_runs % mesh.size:
    raise ValueError(f'{num_runs} runs cannot be split evenly over the mesh of {mesh.size} '
                     f'devices; use a number of runs that is a multiple of {mesh.size}, or a '
                     'smaller mesh (mesh=None picks the largest device count dividing the runs)')


def run_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (run) axis split over the mesh, every other axis whole."""
  return NamedSharding(mesh, PartitionSpec(RUN_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def to_host(tree: PyTree) -> PyTree:
  """jax.device_get that also fetches arrays spanning other processes' devices (one batch over
  several hosts with jax.distributed): those are all-gathered, a collective every process
  reaches because every process runs the same loop."""
  def one(leaf):
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
      return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
    return jax.device_get(leaf)
  return jax.tree.map(one, tree)


def filled(shape: tuple, value: float, mesh: Optional[Mesh]) -> jax.Array:
  """A float32 array of `value`, run-sharded over `mesh`, created on the devices: device_put of
  a host value checks across jax.distributed processes that the values agree, and NaN != NaN."""
  return _filled_program(tuple(shape), float(value), mesh)()


@functools.lru_cache(maxsize=None)
def _filled_program(shape: tuple, value: float, mesh: Optional[Mesh]):
  out = None if mesh is None else run_sharding(mesh)
  return jax.jit(lambda: jnp.full(shape, value, jnp.float32), out_shardings=out)


def sync_processes(name: str) -> None:
  """A barrier across jax.distributed processes (nothing with one process)."""
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def device_groups(tree: PyTree) -> list[tuple[jax.Device, PyTree]]:
  """Split a run-sharded tree into (device, local tree) pairs in run order.

  Device i of the mesh holds a contiguous block of rows; concatenating the local trees in the
  returned order gives back the global run axis.
  """
  leaves, treedef = jax.tree.flatten(tree)
  per_leaf = [sorted(leaf.addressable_shards, key=lambda s: s.index[0].start or 0)
              for leaf in leaves]
  groups = []
  for shards in zip(*per_leaf):
    device = shards[0].device
    groups.append((device, jax.tree.unflatten(treedef, [s.data for s in shards])))
  return groups


def assemble(local_trees: list[PyTree], sharding: NamedSharding, num_runs: int) -> PyTree:
  """Inverse of `device_groups`: one global run-sharded tree from per-device local trees."""
  def one(*locals_):
    shape = (num_runs,) + locals_[0].shape[1:]
    return jax.make_array_from_single_device_arrays(shape, sharding, list(locals_))
  return jax.tree.map(one, *local_trees)


def replica_on(tree: PyTree, device: jax.Device) -> PyTree:
  """The copy of a replicated tree that lives on `device` (no transfer)."""
  def one(leaf):
    for shard in leaf.addressable_shards:
      if shard.device == device:
        return shard.data
    return jax.device_put(leaf, device)
  return jax.tree.map(one, tree)


@jax.jit
def stack_runs(trees: list[PyTree]) -> PyTree:
  """[tree_r] -> tree with a leading run axis (one dispatch)."""
  return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def unstack_runs(tree: PyTree) -> list[PyTree]:
  """tree with a leading run axis -> [tree_r] (one dispatch)."""
  return list(_unstack(tree, jax.tree.leaves(tree)[0].shape[0]))


def _unstack_impl(tree: PyTree, num: int) -> tuple:
  return tuple(jax.tree.map(lambda x: x[i], tree) for i in range(num))


_unstack = jax.jit(_unstack_impl, static_argnums=1)
