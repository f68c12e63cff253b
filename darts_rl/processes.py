"""Child processes that die with their parent (Linux), so a killed launcher leaves no orphan;
and the cores a process may use.

    subprocess.Popen(cmd, preexec_fn=die_with_parent)   # in the child, before exec
    die_with_parent()                                    # or first thing in a worker's main

An orphan would keep training into a workdir that a rerun resumes (two writers), or keep
holding devices that the rerun needs.
"""

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent():
  """Asks the kernel to SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG).

  Exits at once (status 1) if the parent died already, i.e. before the call. A no-op where
  prctl does not exist (not Linux). Safe as a Popen preexec_fn: it raises nothing."""
  try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
  except (OSError, AttributeError):
    return
  if os.getppid() == 1:  # re-parented to init: the parent died before prctl
    os._exit(1)


# A trial's core count where the executor cannot pin it to cores (Ray accounts for CPUs but
# leaves every core of the node visible): what this process sizes its thread pools to.
CPUS_ENV = "DARTS_RL_CPUS"


def usable_core_count() -> int:
  """The cores this process may use: its CPU affinity, capped by $DARTS_RL_CPUS when set."""
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    cores = os.cpu_count() or 1
  cap = os.environ.get(CPUS_ENV, "")
  return max(1, min(cores, int(cap))) if cap.isdigit() and int(cap) > 0 else cores
