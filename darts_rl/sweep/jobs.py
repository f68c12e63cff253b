"""A job: an importable function, its JSON arguments, a name for messages and a log file.

    Job(name="trial 3", fn="darts_rl.random_search:run_trial", args=[workdir, 3], log=path)

The function is named by "module:function" so a worker process (or a Ray node) imports it
instead of unpickling code; the arguments travel as JSON on the worker's command line.
"""

import importlib
import json
from typing import Any, Callable, NamedTuple, Sequence

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
