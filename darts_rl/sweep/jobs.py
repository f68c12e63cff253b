"""A job: an importable function, its JSON arguments, a name for messages and a log file.

    Job(name="trial 3", fn="darts_rl.random_search:run_trial", args=[workdir, 3], log=path)

The function is named by "module:function" so a worker process (or a Ray node) imports it
instead of unpickling code; the arguments travel as JSON on the worker's command line.
"""

import importlib
import json
from typing import Any, Callable, NamedTuple, Optional, Sequence, Tuple

# What sweep jobs train and evaluate with: a module with run(config, workdir, phase),
# evaluate_random_policy(config, workdir) and reevaluate(workdir, episodes, seed_offset=K)
# (tests pass a fake that trains nothing).
TRAINING = "darts_rl.train.loop"


class TrialFailed(ValueError):
  """Jobs failed; the message names each with its log. (A ValueError: one line from
  launchers.)"""


class Job(NamedTuple):
  name: str  # how messages name it: "trial 3", "seed 1"
  fn: str  # "module:function", importable wherever the job runs
  args: Sequence[Any]  # JSON-able positional arguments
  log: str  # the worker's output (appended: a resumed job keeps its history)

  def to_json(self) -> str:
    return json.dumps(self._asdict())

  @classmethod
  def from_json(cls, text: str) -> "Job":
    d = json.loads(text)
    return cls(d["name"], d["fn"], list(d["args"]), d["log"])


def resolve(fn: str) -> Callable:
  """'package.module:function' -> the function; ValueError naming what is missing."""
  module, sep, name = fn.partition(":")
  if not sep or not module or not name:
    raise ValueError(f"a job function is named 'module:function', got '{fn}'")
  try:
    return getattr(importlib.import_module(module), name)
  except (ImportError, AttributeError) as e:
    raise ValueError(f"cannot import job function '{fn}': {e}") from None


def call(job: Job):
  """Runs the job here; returns what its function returns."""
  return resolve(job.fn)(*job.args)


def failure_message(failed: Sequence[str]) -> str:
  """One line for TrialFailed from ['trial 1 (exit 1: <last log line>; log: <path>)', ...]."""
  return (
    f"{len(failed)} job(s) failed: {'; '.join(failed)}. Rerun the same command to retry "
    "them (finished ones are kept)"
  )


# What an executor's `poll` returns per job that ended: (job, None) when it succeeded, else
# (job, 'trial 1 (exit 1: <last log line>; log: <path>)').
Ended = Tuple[Job, Optional[str]]


def run_all(executor, jobs: Sequence[Job], on_done: Callable[[Job], None]):
  """Runs `jobs` on an executor (`room()`, `start(job)`, `poll() -> [Ended]`, `stop()`): after a
  job fails no new one starts, the running ones finish, then TrialFailed names every failed
  one. Studies schedule on the same four calls with their own policy (darts_rl/studies)."""
  pending, failed = list(jobs), []
  try:
    while executor.running() or (pending and not failed):
      while pending and not failed and executor.room():
        executor.start(pending.pop(0))
      for job, failure in executor.poll():
        if failure is None:
          on_done(job)
        else:
          failed.append(failure)
          print(f"[sweep] failed: {failure}", flush=True)
  finally:
    executor.stop()  # kills what still runs: only on an exception here (e.g. Ctrl-C)
  if failed:
    raise TrialFailed(failure_message(failed))
