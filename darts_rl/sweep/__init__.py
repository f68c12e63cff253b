"""Trials on an executor: random-search trials, seeds, retrains, each a `Job`.

    executor = make_executor(parallel=2, devices_per_trial=1)         # this machine
    executor = make_executor(parallel=8, executor="ray", ray_address="auto")  # a Ray cluster
    executor.run(jobs, on_done=lambda job: ...)   # TrialFailed (one line) if any job failed

A job is an importable function and JSON arguments (jobs.py); it writes its results into its
own workdir through darts_rl.artifacts, so an executor returns nothing but success or failure.
Every job runs in a fresh worker process (`python -m darts_rl.sweep.worker`), whose output
goes to the job's log; only the local pool with parallel=1 runs jobs in this process.

  local.py   LocalPool: `parallel` workers on this machine, each with its own devices
             (slots.py: a CUDA_VISIBLE_DEVICES slice per worker, no GPU memory preallocation;
             on CPU disjoint cores when there are enough)
  ray_run.py RayExecutor: the same worker on a Ray cluster, placed by Ray's own resource
             accounting (num_gpus / num_cpus per task); Ray is the optional extra [ray]
  options.py the launchers' flags (--parallel, --executor, --ray_address, --devices_per_trial,
             --cpus_per_trial)

Failure semantics (both executors): after a job fails no new one starts; the running ones
finish; then TrialFailed names every failed job with the last line of its log. Jobs resume
their own work (checkpoints, DONE), so rerunning the command retries exactly the failed ones.
"""

from darts_rl.sweep.jobs import Job, TrialFailed
from darts_rl.sweep.local import LocalPool
from darts_rl.sweep.options import EXECUTORS, make_executor

__all__ = ["EXECUTORS", "Job", "LocalPool", "TrialFailed", "make_executor"]
