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


def make_step(step_factory: Callable[[Optional[str]], Callable], devices: Optional[int] = None,
              batch_axis: int = 0, donate: bool = False) -> Callable:
  """step_factory(axis_name) -> step(state, batch, key) -> (state, metrics)."""
  n = num_devices() if devices is None else devices
  if n == 1:
    return jax.jit(step_factory(None), donate_argnums=(0,) if donate else ())
  pstep = jax.pmap(step_factory(AXIS), axis_name=AXIS, devices=jax.local_devices()[:n])

  def step(state, batch, key):
    rep = jax.device_put_replicated(state, jax.local_devices()[:n])
    keys = jnp.broadcast_to(key, (n,) + key.shape)
    new_state, metrics = pstep(rep, shard(batch, n, batch_axis), keys)
    first = lambda x: x[0]
    return jax.tree.map(first, new_state), jax.tree.map(first, metrics)

  return step


def initialize_distributed(coordinator_address: str, num_processes: int, process_id: int):
  """Multi-host: connect this process to the others before any jax computation."""
  if num_processes > 1:
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes, process_id=process_id)
