"""The one place that maps over devices: data parallelism over every process's devices.

A run maps its steps with `jax.pmap` over ONE global device list: the first
`local_device_count` devices of every process, in process order. Each process feeds and reads
only its own devices' slices ([L, ...] arrays, L = local devices), and the collectives inside a
step (`pmean`, `all_gather`, `axis_index`) span all processes. So 2 processes x 2 devices run
the same program as 1 process x 4 devices, and one process with one device is the same code
with a device axis of 1. Steps are written with an `axis_name` and use the helpers below.

Why pmap and not jit with a global mesh: every step here is written per device (one env group
and one replay shard per device, gradients averaged with one pmean), which is exactly pmap's
model; a global mesh would rebuild global arrays from per-process pieces on every call.

Host-level collectives (`process_allgather`, `broadcast_bytes`, `on_writer`) let processes
agree on host data: episode returns, evaluation results, the checkpoint process 0 read. They
run over one device per process (its first, which every layout includes), not over all of
`jax.devices()`, so hosts with different device counts can run one layout.
"""

import json
from typing import Any, Callable, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

AXIS = "devices"


# ---------------------------------------------------------------------------- inside a step


def pmean(x, axis_name: Optional[str] = AXIS):
  """The mean of x over every device (of every process); x itself without an axis."""
  return jax.lax.pmean(x, axis_name) if axis_name else x


def pmax(x, axis_name: Optional[str] = AXIS):
  """The max of x over every device."""
  return jax.lax.pmax(x, axis_name) if axis_name else x


def psum(x, axis_name: Optional[str] = AXIS):
  """The sum of x over every device."""
  return jax.lax.psum(x, axis_name) if axis_name else x


def all_gather(x, axis_name: Optional[str] = AXIS):
  """The global batch of a per-device [b, ...] array (device order = shard order)."""
  return jax.lax.all_gather(x, axis_name, tiled=True) if axis_name else x


def axis_offset(n_local: int, axis_name: Optional[str] = AXIS):
  """Global index of this device's first row when each device holds n_local rows."""
  return jax.lax.axis_index(axis_name) * n_local if axis_name else 0


def row_keys(key, n_local: int, axis_name: Optional[str] = AXIS):
  """[n_local] keys, row i from fold_in(key, global row index): draws that do not depend on
  how rows are split over devices and processes."""
  rows = axis_offset(n_local, axis_name) + jnp.arange(n_local)
  return jax.vmap(lambda i: jax.random.fold_in(key, i))(rows)


# ---------------------------------------------------------------------------- the layout


class Devices:
  """The run's device layout and the placement of data on it.

  `devices`: the global list pmap maps over (process-major); `local`: this process's L of them.
  Device-resident trees have a leading [L] axis on this process: `replicate` copies a host
  tree to every local device, `put` places an [L, ...] host array one slice per device,
  `shard` splits a host batch axis into L slices, `unreplicate` reads the first local
  device's copy.
  """

  def __init__(self, local_device_count: int = 0):
    local = jax.local_devices()
    n = len(local) if local_device_count <= 0 else local_device_count
    if n > len(local):
      raise ValueError(f"local_device_count={n} but this process has {len(local)} devices")
    by_process = {}
    for d in sorted(jax.devices(), key=lambda d: (d.process_index, d.id)):
      by_process.setdefault(d.process_index, []).append(d)
    counts = {p: len(ds) for p, ds in by_process.items()}
    if min(counts.values()) < n:
      raise ValueError(f"every process needs {n} devices; processes have {counts}")
    self.devices: List[Any] = [d for p in sorted(by_process) for d in by_process[p][:n]]
    self.local: List[Any] = [d for d in self.devices if d.process_index == jax.process_index()]
    self.local_count = len(self.local)
    self.count = len(self.devices)
    self.process_index = jax.process_index()
    self.process_count = jax.process_count()
    # Global index (position in `devices`) of this process's first device.
    self.first = self.devices.index(self.local[0])
    self._mean = None  # compiled on first use (Devices.mean)

  @property
  def is_writer(self) -> bool:
    """Only process 0 writes files."""
    return self.process_index == 0

  @property
  def global_indices(self) -> range:
    """Global indices of this process's devices (= its env groups)."""
    return range(self.first, self.first + self.local_count)

  def compile(self, fn: Callable, donate: Sequence[int] = ()):
    """fn written with axis_name=AXIS -> pmapped over the global devices, traced once."""
    return jax.pmap(
      traced_once(fn), axis_name=AXIS, devices=self.devices, donate_argnums=tuple(donate)
    )

  def compile_local(self, fn: Callable, donate: Sequence[int] = ()):
    """fn -> pmapped over this process's devices only (no collectives: acting, evaluation;
    processes call it independently), traced once."""
    return jax.pmap(traced_once(fn), devices=self.local, donate_argnums=tuple(donate))

  def replicate(self, tree):
    """A host tree copied onto every local device: [L, ...]."""
    return self.put(
      jax.tree.map(lambda x: np.broadcast_to(x, (self.local_count,) + np.shape(x)), tree)
    )

  def unreplicate(self, tree):
    """The first local device's copy of a replicated tree, on the host (numpy).

    Read through the array's addressable shards: under a multi-process pmap an output may
    span every process's devices, and indexing it would be a computation over all of them."""
    return jax.tree.map(first_copy, tree)

  def put(self, tree):
    """[L, ...] host arrays -> one slice per local device, laid out as pmap takes its inputs
    (no reshuffle when the mapped step is called)."""
    return jax.tree.map(lambda x: jax.device_put(x, self.sharding(np.shape(x))), tree)

  def sharding(self, shape: Sequence[int]) -> jax.sharding.Sharding:
    """How pmap lays out an [L, ...] argument of this shape over the local devices."""
    if len(shape) == 0 or shape[0] != self.local_count:
      raise ValueError(f"expected a leading axis of {self.local_count} devices, got {shape}")
    if PMAP_ON_SHARD_MAP:
      mesh = jax.sharding.Mesh(np.asarray(self.local), (AXIS,))
      return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(AXIS))
    return jax.sharding.PmapSharding.default(tuple(shape), 0, self.local)

  def shard(self, tree, axis: int = 0):
    """Splits `axis` of every host leaf into L parts, one per local device."""
    return self.put(split(tree, self.local_count, axis))

  def broadcast(self, x):
    """The same value on every local device (e.g. a PRNG key): [L, ...]. A host value is
    copied from the host as it is (jnp.asarray would first make an implicit device copy)."""
    return self.replicate(x if isinstance(x, jax.Array) else np.asarray(x))

  def mean(self, lists):
    """{name: [k device arrays [L, ...]]} -> {name: their elementwise mean [L, ...]}, computed on
    the local devices: arithmetic on mapped outputs outside a mapped step copies them through
    the host. jax caches one compiled mean per structure (metric names, counts)."""
    if self._mean is None:
      self._mean = jax.pmap(
        lambda t: {k: sum(v) / len(v) for k, v in t.items()}, devices=self.local
      )
    return self._mean(lists)


# Where pmap is built on shard_map (the jax_pmap_shmap_merge flag; jax 0.12 has no other pmap),
# it takes its mapped inputs NamedSharded over a 1-D mesh of its devices as they are; jax 0.7's
# own pmap takes PmapSharded ones. An input laid out otherwise is copied again on every call.
PMAP_ON_SHARD_MAP = bool(jax.config.values.get("jax_pmap_shmap_merge", True))


def first_copy(x):
  """Row 0 of an [L, ...] device-mapped leaf (a replicated value's first copy) as numpy, read
  from the shard that holds it; host leaves are indexed directly."""
  if not isinstance(x, jax.Array):
    return np.asarray(x)[0]

  def start(shard):
    row = shard.index[0]  # a slice of rows (NamedSharding) or one row (PmapSharding)
    return (row.start or 0) if isinstance(row, slice) else row

  first = min(x.addressable_shards, key=start)
  return np.asarray(first.data).reshape(x.shape[1:])


class RetraceError(AssertionError):
  """A compiled step was traced a second time."""


def traced_once(fn: Callable) -> Callable:
  """fn that fails when traced a second time: a compiled step that silently recompiles (new
  shapes, weak types, a changed pytree) is a bug, not a slowdown to discover later.

  A compiled function runs its Python body only when jax traces it, so counting calls counts
  traces. The count is this wrapper's own: chex.assert_max_traces keys its counter by the
  function's source and definition stack, which every agent built in one process shares."""
  name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", "step")
  traces = [0]

  def wrapped(*args, **kwargs):
    traces[0] += 1
    if traces[0] > 1:
      raise RetraceError(
        f"compiled step '{name}' traced {traces[0]} times: its arguments "
        "changed shape, dtype or structure between calls"
      )
    return fn(*args, **kwargs)

  wrapped.__name__ = name
  return wrapped


def split(tree, n: int, axis: int = 0):
  """Splits `axis` of every leaf into n equal parts stacked on a new leading axis."""

  def cut(x):
    x = np.asarray(x)
    if x.shape[axis] % n:
      raise ValueError(f"batch axis of size {x.shape[axis]} does not split over {n} devices")
    x = np.moveaxis(x, axis, 0)
    x = x.reshape((n, x.shape[0] // n) + x.shape[1:])
    return np.moveaxis(x, 1, axis + 1)

  return jax.tree.map(cut, tree)


def merge(tree, axis: int = 0):
  """Inverse of `split`: [L, ..., n, ...] -> [..., L * n, ...] (slices concatenated on axis)."""

  def join(x):
    x = np.moveaxis(np.asarray(x), 0, axis)
    return x.reshape(x.shape[:axis] + (-1,) + x.shape[axis + 2 :])

  return jax.tree.map(join, tree)


# ---------------------------------------------------------------------------- across processes


def is_first_process() -> bool:
  """Process 0: the only one that reads and writes workdir files."""
  return jax.process_index() == 0


def process_allgather(tree):
  """Every process's host arrays stacked on a new leading [P] axis (identity shape [1, ...]
  with one process). Shapes must agree across processes.

  Sent over one device per process, its first: always one of the run's devices (a layout
  takes each process's first devices), and processes may have different device counts."""
  if jax.process_count() == 1:
    return jax.tree.map(lambda x: np.asarray(x)[None], tree)
  mesh = _process_mesh()
  mine = [d for d in mesh.devices.flat if d.process_index == jax.process_index()][0]
  stacked = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("processes"))

  def gather(x):
    x = np.asarray(x)[None]
    rows = jax.make_array_from_single_device_arrays(
      (mesh.size,) + x.shape[1:], stacked, [jax.device_put(x, mine)]
    )
    return jax.device_get(_replicated(mesh)(rows).addressable_data(0))

  return jax.tree.map(gather, tree)


def _process_mesh() -> jax.sharding.Mesh:
  first = {}
  for d in sorted(jax.devices(), key=lambda d: (d.process_index, d.id)):
    first.setdefault(d.process_index, d)
  return jax.sharding.Mesh(np.array([first[p] for p in sorted(first)]), ("processes",))


_replicated_fns = {}


def _replicated(mesh):
  """jit(identity) gathering a [P, ...] array sharded over `mesh` onto every process."""
  if mesh not in _replicated_fns:
    everywhere = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    _replicated_fns[mesh] = jax.jit(lambda x: x, out_shardings=everywhere)
  return _replicated_fns[mesh]


def allgather_ragged(x: np.ndarray) -> np.ndarray:
  """Concatenates a 1-D float array of any length from every process, in process order."""
  x = np.asarray(x, np.float64).reshape(-1)
  return np.concatenate([np.frombuffer(b, np.float64) for b in allgather_bytes(x.tobytes())])


def allgather_bytes(data: bytes) -> List[bytes]:
  """Every process's bytes (any length), in process order; bit-exact (sent as uint8)."""
  if jax.process_count() == 1:
    return [data]
  sizes = process_allgather(np.asarray([len(data)], np.int32))[:, 0]
  buf = np.zeros((max(int(sizes.max()), 1),), np.uint8)
  buf[: len(data)] = np.frombuffer(data, np.uint8)
  return [row[:n].tobytes() for row, n in zip(process_allgather(buf), sizes)]


def broadcast_bytes(data: Optional[bytes]) -> bytes:
  """Process 0's bytes on every process (others pass anything, e.g. None)."""
  if jax.process_count() == 1:
    return data
  return allgather_bytes(data if jax.process_index() == 0 else b"")[0]


class WriterError(ValueError):
  """A user error raised on process 0 inside `on_writer`, re-raised on every process."""


def on_writer(fn: Callable[[], Any]) -> Any:
  """Runs fn() on process 0 only and returns its JSON-able result on every process.

  A ValueError raised by fn (a user error: a workdir of another phase, a bad file) is raised
  on every process as WriterError with the same message, so all exit with the same line.
  """
  if jax.process_count() == 1:
    return fn()
  msg = None
  if jax.process_index() == 0:
    try:
      msg = json.dumps({"ok": fn()})
    except ValueError as e:
      msg = json.dumps({"error": str(e)})
  out = json.loads(broadcast_bytes(msg.encode() if msg is not None else None).decode())
  if "error" in out:
    raise WriterError(out["error"])
  return out["ok"]
