"""Checkpoints: one msgpack file per save, written atomically; resume takes the latest.

Why not orbax: our state is small and replicated (every device holds a full copy), so a
single atomically renamed file is all resume needs; orbax's async, sharded machinery would add
threads and a heavy dependency for no gain here.

Several processes: only process 0 writes, and only process 0 reads: it broadcasts the file's
bytes, so every process resumes from the same checkpoint and the others need no access to
the workdir (no shared filesystem is assumed).
"""

import os
import re
from typing import Any, Optional, Tuple

from flax import serialization

from darts_rl import artifacts, parallel

_NAME = re.compile(r"^ckpt_(\d+)\.msgpack$")


class Checkpointer:
  def __init__(self, directory: str, keep: int = 2):
    self.directory = directory
    self.keep = keep

  def _steps(self):
    if not os.path.isdir(self.directory):
      return []
    return sorted(int(m.group(1)) for f in os.listdir(self.directory) if (m := _NAME.match(f)))

  def latest_step(self) -> Optional[int]:
    steps = self._steps()
    return steps[-1] if steps else None

  def save(self, step: int, state: Any):
    """Writes ckpt_<step>.msgpack (host state: numpy leaves) and keeps the last `keep`.
    Call on process 0 only."""
    data = serialization.msgpack_serialize(serialization.to_state_dict(state))
    artifacts.atomic_write(os.path.join(self.directory, f"ckpt_{step}.msgpack"), data, "wb")
    for old in self._steps()[: -self.keep]:
      os.remove(os.path.join(self.directory, f"ckpt_{old}.msgpack"))

  def restore(self, template: Any) -> Tuple[Optional[int], Any]:
    """(step, state) of the latest checkpoint, or (None, template) if there is none; the same
    on every process (process 0 reads the file and broadcasts it)."""

    def read():
      step = self.latest_step()
      if step is None:
        return b""
      with open(os.path.join(self.directory, f"ckpt_{step}.msgpack"), "rb") as f:
        return str(step).encode() + b":" + f.read()

    data = parallel.broadcast_bytes(read() if parallel.is_first_process() else None)
    if not data:
      return None, template
    step, _, raw = data.partition(b":")
    return int(step), serialization.from_state_dict(template, serialization.msgpack_restore(raw))
