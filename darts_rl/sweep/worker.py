"""python -m darts_rl.sweep.worker JOB_JSON: runs one job in a fresh process.

The executors start it with the job's devices in its environment (CUDA_VISIBLE_DEVICES,
XLA flags, CORES_ENV: the cores to pin itself to) and its output going to the job's log. It
dies with its parent, so a killed sweep leaves no orphan writing into a workdir that the rerun
resumes. A user error (bad config,
bad file) ends it with one `error: ...` line and status 1, which the executor reports.
"""

import logging
import os
import sys

from darts_rl.processes import die_with_parent
from darts_rl.sweep.slots import CORES_ENV


def main(argv):
  die_with_parent()
  cores = os.environ.pop(CORES_ENV, "")
  if cores:  # before jax starts: XLA and Procgen size their thread pools from the affinity
    os.sched_setaffinity(0, [int(c) for c in cores.split(",")])
  logging.getLogger("jax").setLevel(logging.WARNING)
  if len(argv) != 2:
    sys.exit("usage: python -m darts_rl.sweep.worker JOB_JSON")
  from darts_rl import cli
  from darts_rl.sweep import jobs

  try:
    jobs.call(jobs.Job.from_json(argv[1]))
  except cli.USER_ERRORS as e:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
  main(sys.argv)
