"""Checkpoints: one msgpack file per save, written atomically; resume takes the latest.

Why not orbax: our state is small and replicated (data parallelism keeps a full copy per device), so a
single atomically renamed file is all we need; orbax's async, sharded machinery would add
threads and a heavy dependency for no gain here. Multi-host: only process 0 writes.
"""
import os
import re
from typing import Any, Optional, Tuple

import jax
from flax import serialization

from darts_rl import artifacts

_NAME = re.compile(r"^ckpt_(\d+)\.msgpack$")


class Checkpointer:

  def __init__(self, directory: str, keep: int = 2):
    self.directory = directory
    self.keep = keep

  def _steps(self):
    if not os.path.isdir(self.directory):
      return []
    return sorted(int(m.group(1)) for f in os.listdir(self.directory)
                  if (m := _NAME.match(f)))

  def latest_step(self) -> Optional[int]:
    steps = self._steps()
    return steps[-1] if steps else None

  def save(self, step: int, state: Any):
    if jax.process_index() != 0:
      return
    data = serialization.msgpack_serialize(serialization.to_state_dict(jax.device_get(state)))
    artifacts.atomic_write(os.path.join(self.directory, f"ckpt_{step}.msgpack"), data, "wb")
    for old in self._steps()[:-self.keep]:
      os.remove(os.path.join(self.directory, f"ckpt_{old}.msgpack"))

  def restore(self, template: Any) -> Tuple[Optional[int], Any]:
    """(step, state) of the latest checkpoint, or (None, template) if there is none."""
    step = self.latest_step()
    if step is None:
      return None, template
    with open(os.path.join(self.directory, f"ckpt_{step}.msgpack"), "rb") as f:
      raw = serialization.msgpack_restore(f.read())
    return step, serialization.from_state_dict(template, raw)
