"""LocalPool: jobs on this machine, `parallel` worker processes at a time, each in its slot.

    LocalPool(parallel=2, devices_per_trial=1).run(jobs, on_done)

With parallel=1 and no devices_per_trial the jobs run one by one in this process (no worker,
no log): the simplest case, as fast to debug as a plain run.
"""

import os
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from darts_rl import artifacts
from darts_rl.sweep import jobs as jobs_lib
from darts_rl.sweep import slots as slots_lib

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLL_S = 0.2


def worker_command(job: jobs_lib.Job) -> List[str]:
  return [sys.executable, "-m", "darts_rl.sweep.worker", job.to_json()]


def worker_env(extra: Dict[str, str]) -> Dict[str, str]:
  """This process's environment, the repository on PYTHONPATH (job functions import from it,
  tests' too), plus `extra`."""
  path = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)
  return dict(os.environ, PYTHONPATH=path, **extra)


def start_worker(
  job: jobs_lib.Job, extra_env: Dict[str, str], cores: Optional[Sequence[int]] = None
) -> subprocess.Popen:
  """A worker process for `job`, its output appended to job.log, pinned to `cores` (the
  worker pins itself and ties its life to ours first thing: a preexec_fn would fork this
  multithreaded process, which can deadlock)."""
  if cores:
    extra_env = dict(extra_env, **{slots_lib.CORES_ENV: ",".join(map(str, cores))})
  with artifacts.open_log(job.log) as log:
    return subprocess.Popen(
      worker_command(job),
      env=worker_env(extra_env),
      stdout=log,
      stderr=subprocess.STDOUT,
      stdin=subprocess.DEVNULL,
    )


def failed_line(job: jobs_lib.Job, status: str) -> str:
  """'trial 1 (exit 1: <last line of its log>; log: <path>)'."""
  return f"{job.name} ({status}: {artifacts.last_line(job.log)}; log: {job.log})"


class LocalPool:
  """Runs jobs on this machine; see the module doc. `run(jobs, on_done)` runs them all;
  `room`, `start`, `poll`, `running`, `stop` let a scheduler start jobs one by one."""

  def __init__(
    self,
    parallel: int = 1,
    devices_per_trial: int = 0,
    gpus: Optional[Sequence[str]] = None,
    cores: Optional[Sequence[int]] = None,
  ):
    """gpus / cores: what to share out (default: slots.visible_gpus(), slots.usable_cores())."""
    self.parallel = parallel
    self.in_process = parallel == 1 and devices_per_trial == 0
    self.slots = (
      []
      if self.in_process
      else slots_lib.plan(
        parallel,
        devices_per_trial,
        slots_lib.visible_gpus() if gpus is None else gpus,
        slots_lib.usable_cores() if cores is None else cores,
      )
    )
    self._free = list(range(len(self.slots)))
    self._running: List[Tuple[jobs_lib.Job, subprocess.Popen, int]] = []
    self._ended: List[jobs_lib.Ended] = []  # in-process jobs, until the next poll

  def describe(self) -> str:
    if self.in_process:
      return "one at a time in this process"
    return f"{self.parallel} at a time on this machine ({'; '.join(s.label for s in self.slots)})"

  def run(self, jobs: Sequence[jobs_lib.Job], on_done: Callable[[jobs_lib.Job], None]):
    jobs_lib.run_all(self, jobs, on_done)

  def room(self) -> bool:
    return bool(self._free) if not self.in_process else not self._ended

  def running(self) -> bool:
    return bool(self._running or self._ended)

  def start(self, job: jobs_lib.Job):
    """In a free slot's worker; in process, runs it to its end here (an error propagates at
    once, as in a plain run)."""
    if self.in_process:
      print(f"[sweep] {job.name}", flush=True)
      jobs_lib.call(job)
      self._ended.append((job, None))
      return
    slot = self._free.pop(0)
    s = self.slots[slot]
    self._running.append((job, start_worker(job, s.env, s.cores), slot))
    print(f"[sweep] {job.name}: {s.label} (log: {job.log})", flush=True)

  def poll(self) -> List[jobs_lib.Ended]:
    """The jobs that ended since the last call (waits up to POLL_S while none did)."""
    if not self._ended and self._running:
      time.sleep(POLL_S)
    ended, self._ended = self._ended, []
    for item in list(self._running):
      job, proc, slot = item
      if proc.poll() is None:
        continue
      self._running.remove(item)
      self._free.append(slot)
      ok = proc.returncode == 0
      ended.append((job, None if ok else failed_line(job, f"exit {proc.returncode}")))
    return ended

  def stop(self):
    """Kills the workers still running (Ctrl-C, or a scheduler giving up)."""
    for _, proc, slot in self._running:
      proc.kill()
      proc.wait()
      self._free.append(slot)
    self._running = []
