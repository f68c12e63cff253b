"""The one place that pmaps: data parallelism over local devices (and hosts).

Steps are written device-agnostic: they take an `axis_name` that is None on one device and
`AXIS` under pmap, and average gradients / metrics with `pmean(x, axis_name)`. `make_step`
turns such a step into a callable with the single-device signature
`step(state, batch, key) -> (state, metrics)`: on one device it is just jitted; on several it
replicates the state, splits the batch along `batch_axis`, runs the pmapped step and returns
device 0's (identical) copy. Multi-host runs call `initialize_distributed` first; pmap then
spans every host's devices and `pmean` averages across all of them.
"""
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

AXIS = "devices"


def pmean(x, axis_name: Optional[str]):
  return jax.lax.pmean(x, axis_name) if axis_name else x


def all_gather(x, axis_name: Optional[str]):
  """The global batch of a per-device [b, ...] array (device order = shard order)."""
  return jax.lax.all_gather(x, axis_name, tiled=True) if axis_name else x


def axis_offset(n_local: int, axis_name: Optional[str]):
  """Global index of this device's first element when a batch of n_local per device is split."""
  return jax.lax.axis_index(axis_name) * n_local if axis_name else 0


def num_devices() -> int:
  return jax.local_device_count()


def shard(tree, n: int, axis: int = 0):
  """Splits `axis` of every leaf into n equal parts stacked on a new leading axis."""
  def split(x):
    x = np.asarray(x)
    if x.shape[axis] % n:
      raise ValueError(f"batch axis of size {x.shape[axis]} does not split over {n} devices")
    x = np.moveaxis(x, axis, 0)
    x = x.reshape((n, x.shape[0] // n) + x.shape[1:])
    return np.moveaxis(x, 1, axis + 1)
  return jax.tree.map(split, tree)


class Devices:
  """Compiles device-agnostic functions for n local devices and places data for them.

  n == 1: `compile` is jax.jit and placement is a plain device_put. n > 1: `compile` is pmap
  over AXIS; `replicate` copies a tree to every device, `shard` splits a batch axis over them,
  `broadcast` gives every device the same value, `first` takes device 0's copy. Outputs of a
  compiled call stay on their devices, so loops of calls move no data.
  """

  def __init__(self, n: Optional[int] = None):
    self.n = num_devices() if n is None else n
    self.devices = jax.local_devices()[:self.n]

  @property
  def axis_name(self) -> Optional[str]:
    return AXIS if self.n > 1 else None

  def compile(self, factory: Callable[[Optional[str]], Callable], donate=()) -> Callable:
    """factory(axis_name) -> fn; returns the jitted (one device) or pmapped fn."""
    if self.n == 1:
      return jax.jit(factory(None), donate_argnums=donate)
    return jax.pmap(factory(AXIS), axis_name=AXIS, devices=self.devices, donate_argnums=donate)

  def replicate(self, tree):
    if self.n == 1:
      return jax.device_put(tree)
    return jax.device_put_replicated(tree, self.devices)

  def shard(self, tree, axis: int = 0):
    if self.n == 1:
      return jax.device_put(tree)
    return jax.device_put_sharded(list(_unstack(shard(tree, self.n, axis), self.n)),
                                  self.devices)

  def broadcast(self, x):
    x = jnp.asarray(x)
    return x if self.n == 1 else jnp.broadcast_to(x, (self.n,) + x.shape)

  def first(self, tree):
    return tree if self.n == 1 else jax.tree.map(lambda x: x[0], tree)


def _unstack(tree, n):
  return (jax.tree.map(lambda x: x[i], tree) for i in range(n))


def make_step(step_factory: Callable[[Optional[str]], Callable], devices: Optional[int] = None,
              batch_axis: int = 0, donate: bool = False) -> Callable:
  """step_factory(axis_name) -> step(state, batch, key) -> (state, metrics), as a callable
  with the single-device signature: replicates state, shards the batch, returns device 0's
  (identical) copy."""
  d = Devices(devices)
  compiled = d.compile(step_factory, donate=(0,) if donate else ())
  if d.n == 1:
    return compiled

  def step(state, batch, key):
    new_state, metrics = compiled(d.replicate(state), d.shard(batch, batch_axis),
                                  d.broadcast(key))
    return d.first(new_state), d.first(metrics)

  return step


def initialize_distributed(coordinator_address: str, num_processes: int, process_id: int):
  """Multi-host: connect this process to the others before any jax computation."""
  if num_processes > 1:
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)
