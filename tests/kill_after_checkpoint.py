"""Runs a launcher with its command line and SIGKILLs it when it is about to write its second
checkpoint:

  python tests/kill_after_checkpoint.py launch/search.py --config=... --workdir=...

The kill lands at one known point, whatever the machine's speed (a kill from outside on a
timer or a poll can miss its window on a loaded machine): one checkpoint complete, metrics rows
and alphas snapshots logged past it, the run not finished. The launcher itself runs unchanged
(as `__main__`).
"""

import gc
import os
import runpy
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from darts_rl.train import checkpoint  # noqa: E402
from tests.launch_process import GC_THRESHOLD  # noqa: E402

_save = checkpoint.Checkpointer.save


def _save_once_then_die(self, step, state):
  if self.latest_step() is not None:
    os.kill(os.getpid(), signal.SIGKILL)
  _save(self, step, state)


def install():
  """From here on, this process SIGKILLs itself when about to write its second checkpoint
  (tests/multiprocess_run.py --kill_at_second_checkpoint: in the process that trains)."""
  checkpoint.Checkpointer.save = _save_once_then_die


if __name__ == "__main__":
  gc.set_threshold(*GC_THRESHOLD)  # tests/launch_process.py says why
  install()
  sys.argv = sys.argv[1:]
  runpy.run_path(sys.argv[0], run_name="__main__")
