"""Steps with inputs, run on an executor: the one scheduler of studies, seeds and random search.

    failed = execute(nodes, executor, events)   # {name: one-line failure} of the steps that failed

A `Node` is a step: a job for the executor, or a quick function this process runs itself
(discretizing a search, writing an index); it starts once the nodes it depends on are done.
Whether a node is done is asked of the node (its workdir's files), so a rerun skips what a
killed run finished. A failed node stops only the nodes that need it: everything else runs to
its end, then the caller reports the failures (a rerun retries exactly those).
"""

import time
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence

from darts_rl.formatting import format_duration
from darts_rl.sweep.jobs import Job

# Errors of one step that count as its failure (in-process jobs and quick steps raise them);
# anything else (a bug, Ctrl-C) propagates.
STEP_ERRORS = (ValueError, KeyError, FileNotFoundError, FloatingPointError)


class Node(NamedTuple):
  """One step. `job` runs on an executor (None: `run` is quick and runs here); `prepare` runs
  here just before it starts (claims, genotype files); `index` rewrites the index its workdir
  keeps (seeds.jsonl, trials.jsonl) after it succeeded and is safe to call again: a
  functools.partial of the writer, shared by the steps of one workdir."""

  name: str
  deps: Sequence[str]
  done: Callable[[], bool]
  job: Optional[Job] = None
  run: Optional[Callable[[], None]] = None
  prepare: Optional[Callable[[], None]] = None
  workdir: str = ""
  index: Optional[Callable[[], object]] = None
  config: Optional[Callable[[], object]] = None  # the config its job trains with


class Events:
  """What `execute` says as it goes: `started(node)`, `ended(node, failure, wall_s)` (failure
  None on success), `settled(node)` (done without running). The default prints one line per
  ended step with `prefix`."""

  def __init__(self, prefix: str = "[sweep]", total: int = 0, done: int = 0):
    self.prefix, self.total, self.done = prefix, total, done

  def started(self, node: Node):
    pass

  def settled(self, node: Node):
    """A node found done once its inputs were: nothing ran."""
    self.done += 1

  def ended(self, node: Node, failure: Optional[str], wall_s: float):
    if failure is None:
      self.done += 1
      of = f"{self.done}/{self.total}" if self.total else str(self.done)
      print(f"{self.prefix} done ({of}): {node.name} in {format_duration(wall_s)}", flush=True)
    else:
      print(f"{self.prefix} failed: {failure}", flush=True)


def execute(nodes: Sequence[Node], executor, events: Optional[Events] = None) -> Dict[str, str]:
  """Runs every node that is not done, each once its deps are done; returns the failures
  ({name: line}). Nodes whose deps failed stay unrun (the caller counts them)."""
  events = events or Events()
  by_name = {n.name: n for n in nodes}
  todo = [n for n in nodes if not n.done()]
  done = {n.name for n in nodes} - {n.name for n in todo}
  failed: Dict[str, str] = {}
  started: Dict[str, float] = {}

  def finish(name: str, failure: Optional[str]):
    node, wall = by_name[name], time.time() - started.pop(name)
    if failure is None:
      if node.index is not None:
        node.index()
      done.add(name)
    else:
      failed[name] = failure
    events.ended(node, failure, wall)

  def ready() -> List[Node]:
    return [
      n
      for n in todo
      if n.name not in done | set(failed) | set(started) and all(d in done for d in n.deps)
    ]

  try:
    while True:
      progressed = False
      for n in ready():
        if n.done():  # settled by its inputs (a trial that is not selected needs no evaluation)
          done.add(n.name)
          events.settled(n)
          progressed = True
          continue
        if n.job is not None and not executor.room():
          continue
        started[n.name] = time.time()
        progressed = True
        try:
          if n.prepare is not None:
            n.prepare()
          events.started(n)
          if n.job is None:
            n.run()
            finish(n.name, None)
          else:
            executor.start(n.job)
        except STEP_ERRORS as e:
          msg = e.args[0] if isinstance(e, KeyError) and e.args else e
          finish(n.name, f"{n.name} ({msg})")
      if not executor.running() and not progressed:
        return failed
      for job, failure in executor.poll():
        finish(job.name, failure)
  finally:
    executor.stop()  # kills what still runs: only on an exception here (e.g. Ctrl-C)
