"""Replay buffers of Rainbow and SAC as explicit state: pure functions over flashbax states.

Each device keeps the replay of its own env group (a shard); the learner samples its share of
the batch from its shard, on the device, so no experience ever crosses devices or comes back
to the host. The state travels in `AgentState.replay` (`ReplayState`) and is never
checkpointed (a full Rainbow replay is GBs): a resumed run starts empty and waits for
`learning_starts` new env steps.

In-place writes. flashbax's adds write the new experience with a scatter (`.at[:, idx].set`),
which XLA:CPU runs as a pass over the whole buffer even under buffer donation: ~800 ms per
Rainbow add of 32 frames into a 50k-frame (614 MB) buffer, four times the learner update it
feeds. A dynamic_update_slice per added time step writes only the new rows in place; flashbax
keeps the pointers, the sum tree and the sampling.
"""

from typing import Any, NamedTuple

import flashbax
import jax
from jax import lax


class ReplayState(NamedTuple):
  """A run's replay: device shards plus what the host needs to know about them."""

  buffer: Any  # flashbax state, [L, ...] one shard per local device
  env_steps: int  # env steps of the run added since this replay was created (all devices)


def write_in_place(experience, batch, index, contiguous: bool = False):
  """Writes `batch` into `experience` at time index, index + 1, ... (axis 1, modulo its length).

  experience, batch: pytrees of [rows, time, ...] arrays with equal rows. `contiguous=True`
  promises that the batch never wraps around the end (one slice write instead of one per step).
  Call it under jit with the experience donated, so the writes are in place.
  """

  def write(buf, x):
    x = x.astype(buf.dtype)
    if contiguous:
      return lax.dynamic_update_slice_in_dim(buf, x, index, axis=1)
    for t in range(x.shape[1]):
      buf = lax.dynamic_update_slice_in_dim(
        buf, x[:, t : t + 1], (index + t) % buf.shape[1], axis=1
      )
    return buf

  return jax.tree.map(write, experience, batch)


def strong(tree):
  """Drops weak types (flashbax returns some weakly typed scalars and strengthens them later,
  which would recompile every jitted buffer function once more)."""
  return jax.tree.map(lambda x: lax.convert_element_type(x, x.dtype), tree)


class TrajectoryReplay:
  """Prioritized replay of per-step records, one row per env, sampled as windows of
  `window` consecutive records (Rainbow's n-step transitions). One device's shard."""

  def __init__(
    self,
    rows: int,
    row_length: int,
    window: int,
    batch_size: int,
    priority_exponent: float,
    example_record,
  ):
    self.rows, self.row_length, self.example = rows, row_length, example_record
    backend = jax.default_backend()
    self.buffer = flashbax.make_prioritised_trajectory_buffer(
      add_batch_size=rows,
      sample_batch_size=batch_size,
      sample_sequence_length=window,
      period=1,
      min_length_time_axis=window,
      max_length_time_axis=row_length,
      priority_exponent=priority_exponent,
      device=backend if backend in ("cpu", "gpu", "tpu") else "cpu",
    )

  def init(self):
    return strong(self.buffer.init(self.example))

  def add(self, state, records):
    """records: {name: [rows, T, ...]} appended at the write head (in place; see module doc)."""
    new = self.buffer.add(state, records)
    experience = write_in_place(state.experience, records, state.current_index)
    return strong(new.replace(experience=experience))

  def sample(self, state, key):
    """-> (windows {name: [B, window, ...]}, item indices [B], sampling probabilities [B])."""
    s = self.buffer.sample(state, key)
    return s.experience, s.indices, s.probabilities

  def set_priorities(self, state, indices, priorities):
    return strong(self.buffer.set_priorities(state, indices, priorities))

  @staticmethod
  def priorities(state, indices):
    """Current sampling weights p^exponent of items (tests and diagnostics)."""
    return flashbax.buffers.sum_tree.get_batch(state.sum_tree_state, indices)


class ItemReplay:
  """Uniform replay of items (SAC's transitions). One device's shard; `rows` items are added
  at a time, as one contiguous slice (capacity % rows == 0)."""

  def __init__(self, capacity: int, rows: int, batch_size: int, example_item):
    if capacity % rows:
      raise ValueError(
        f"replay capacity {capacity} per device must be a multiple of the "
        f"{rows} envs a device adds per step"
      )
    if batch_size > capacity:
      raise ValueError(
        f"batch size {batch_size} per device exceeds the replay capacity {capacity} per device"
      )
    self.capacity, self.example = capacity, example_item
    self.buffer = flashbax.make_item_buffer(
      max_length=capacity, min_length=1, sample_batch_size=batch_size, add_batches=True
    )

  def init(self):
    return self.buffer.init(self.example)

  def add(self, state, items):
    """items: [rows, ...] pytree -> state with them written in place."""
    cap = jax.tree.leaves(state.experience)[0].shape[1]
    n = jax.tree.leaves(items)[0].shape[0]
    end = state.current_index + n
    experience = write_in_place(
      state.experience, jax.tree.map(lambda x: x[None], items), state.current_index, contiguous=True
    )
    return state.replace(
      experience=experience, current_index=end % cap, is_full=state.is_full | (end >= cap)
    )

  def sample(self, state, key):
    return self.buffer.sample(state, key).experience
