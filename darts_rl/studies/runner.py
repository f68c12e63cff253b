"""The study driver: runs a study's graph on an executor, resumes it, reports its state.

    run("experiments/studies/trajectory.py:cpu", "W", executor)   # launch/study.py
    print_status("W")                                             # launch/study.py --status

A node starts when its inputs are on disk (a retrain when its search is discretized); quick
nodes (discretizing, claiming) run here, jobs on the executor (this process, a local pool or
Ray: darts_rl/sweep). A failed job is one line and does not stop the others: everything that
does not depend on it still runs; the driver then exits with one line naming the failures, and
a rerun retries exactly those. Whether a node is done is read from its workdir every time (no
state file to drift from the files): a rerun keeps finished runs and resumes partial ones from
their checkpoints. W/study.json records the resolved grid; W/status.json is only a view for
`--status` (what this driver runs and what failed).
"""

import importlib.util
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

from darts_rl import artifacts, cli
from darts_rl.studies import grid
from darts_rl.sweep import LocalPool, graph
from darts_rl.sweep.jobs import TRAINING, failure_message


class StudyFailed(ValueError):
  """Some jobs failed (one line: launchers print it as `error: ...`)."""


def load_study(spec: str) -> Tuple[grid.Study, str]:
  """'FILE[:VARIANT]' -> (FILE's get_study(VARIANT), FILE); VARIANT is 'SIZE[,FLAG...]'."""
  path, _, variant = spec.partition(":")
  if not os.path.isfile(path):
    raise ValueError(f"study file {path} not found (the shipped ones: experiments/studies/)")
  # A study file inside a package may import its siblings (experiments.studies.trajectory).
  root = cli.package_root(os.path.dirname(os.path.abspath(path)))
  if root not in sys.path:
    sys.path.insert(0, root)
  module_spec = importlib.util.spec_from_file_location(
    "study_" + os.path.splitext(os.path.basename(path))[0], path
  )
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not callable(getattr(module, "get_study", None)):
    raise ValueError(f"{path} has no get_study(variant) function")
  study = module.get_study(variant or None)
  if not isinstance(study, grid.Study):
    raise ValueError(f"{path}: get_study must return darts_rl.studies.Study")
  return study, path


def _record(study: grid.Study, spec: str, nodes) -> dict:
  return {
    "study": study.name,
    "spec": spec,
    "size": study.size,
    "description": study.description,
    "envs": [label for label, _ in study.envs],
    "seeds": list(study.seeds),
    "methods": grid.describe_steps(study),
    "reports": list(study.reports),
    "nodes": [{"name": n.name, "deps": list(n.deps)} for n in nodes],
  }


def _claim(workdir: str, record: dict):
  """Writes W/studies/<name>.json; the same study at another size or variant is one error
  line. Other studies may share W: a step they have in common (same name, same config) runs
  once, and one with the same name but another config is refused by its workdir's claim."""
  path = artifacts.record_path(workdir, record["study"])
  if os.path.exists(path):
    old = artifacts.read_json(path, "study record")
    if old.get("spec", "").partition(":")[2] != record["spec"].partition(":")[2]:
      raise ValueError(
        f"{workdir} holds study '{record['study']}' as {old.get('spec')}, not {record['spec']}: "
        "use another --workdir"
      )
  os.makedirs(os.path.dirname(path), exist_ok=True)
  artifacts.write_record(workdir, record)


class _Status(graph.Events):
  """Progress lines, and W/studies/<name>.status.json: the driver's pid, what it runs, what
  failed (a view for --status, rewritten at every event)."""

  def __init__(self, workdir: str, name: str):
    super().__init__("[study]")
    self.path = artifacts.status_path(workdir, name)
    self.running: Dict[str, float] = {}
    self.failed: Dict[str, str] = {}

  def events(self, total: int, done: int) -> "_Status":
    self.total, self.done = total, done
    self.write()
    return self

  def started(self, node):
    if node.job is not None:
      self.running[node.name] = time.time()
      self.write()

  def ended(self, node, failure, wall_s):
    super().ended(node, failure, wall_s)
    self.running.pop(node.name, None)
    if failure is not None:
      self.failed[node.name] = failure
    self.write()

  def write(self):
    artifacts.atomic_write_json(
      self.path,
      {"driver_pid": os.getpid(), "running": self.running, "failed": self.failed},
    )


def run(spec: str, workdir: str, report, executor=None, training: str = TRAINING) -> Optional[str]:
  """Runs every node of the study not done yet; when all are done, writes its report with
  report(workdir, record) (darts_rl.analysis.studies.write_report: launchers pass it, training
  code never imports analysis) and returns its path. Raises StudyFailed (after the others
  finished) if any failed. training: the module jobs train with (tests pass one that trains
  nothing)."""
  study, _ = load_study(spec)
  size = study.size
  nodes = grid.expand(study, workdir, training)
  record = _record(study, spec, nodes)
  _claim(workdir, record)
  out = artifacts.report_path(workdir, study.name)
  todo = [n for n in nodes if not n.done()]
  if not todo and os.path.isfile(out):
    print(f"[study] {study.name} ({size}) is finished; its report: {out}", flush=True)
    return out
  executor = executor or LocalPool()
  total = len(nodes)
  print(
    f"[study] {study.name} ({size}) in {workdir}: {total - len(todo)} of {total} steps done, "
    f"{len(todo)} to run ({executor.describe()})",
    flush=True,
  )
  status = _Status(workdir, study.name)
  failed = graph.execute(nodes, executor, status.events(len(nodes), len(nodes) - len(todo)))
  if failed:
    blocked = sum(not n.done() and n.name not in failed for n in nodes)
    extra = f"; {blocked} step(s) wait on them" if blocked else ""
    raise StudyFailed(failure_message(list(failed.values())) + extra)
  out = _write_report(workdir, record, nodes, report)
  print(f"[study] {study.name} ({size}) finished; its report: {out}", flush=True)
  return out


def recorded(workdir: str) -> List[Tuple[dict, grid.Study]]:
  """(record, study) of every study run in W, by name."""
  return [(rec, load_study(rec["spec"])[0]) for rec in artifacts.read_records(workdir)]


def _write_report(workdir: str, record: dict, nodes, report) -> str:
  """The indexes of the finished runs (a driver killed between a job's end and its index
  left one stale), then the report."""
  # One rewrite per index file: the steps of a workdir share one (a partial of its writer).
  indexes = {(n.index.func, n.index.args): n.index for n in nodes if n.index and n.done()}
  for index in indexes.values():
    index()
  return report(workdir, record)


def rewrite_reports(workdir: str, report) -> List[str]:
  """Rewrites every study's report in W from its finished runs (no training)."""
  return [
    _write_report(workdir, rec, grid.expand(study, workdir), report)
    for rec, study in recorded(workdir)
  ]


def node_states(workdir: str, study: grid.Study) -> List[Tuple[str, str, str]]:
  """[(node, state, detail)] with state done | running | failed | partial | waiting (partial:
  started and resumable; waiting: its inputs are not there yet)."""
  nodes = grid.expand(study, workdir)
  view_path = artifacts.status_path(workdir, study.name)
  view = artifacts.read_json(view_path, "status") if os.path.isfile(view_path) else {}
  alive = _alive(view.get("driver_pid"))
  rows, done = [], set()
  for n in nodes:
    if n.done():
      done.add(n.name)
      rows.append((n.name, "done", ""))
    elif alive and n.name in (view.get("running") or {}):
      rows.append((n.name, "running", f"log: {n.job.log}" if n.job else ""))
    elif n.name in (view.get("failed") or {}):
      failure = view["failed"][n.name]  # 'NAME (what happened)'
      rows.append((n.name, "failed", failure.removeprefix(f"{n.name} (").removesuffix(")")))
    elif n.workdir and os.path.exists(n.workdir):
      rows.append((n.name, "partial", "resumes on the next run"))
    else:
      missing = [d for d in n.deps if d not in done]
      rows.append((n.name, "waiting", f"on {missing[0]}" if missing else "ready"))
  return rows


def _alive(pid) -> bool:
  if not isinstance(pid, int):
    return False
  try:
    os.kill(pid, 0)
  except (ProcessLookupError, PermissionError):
    return False
  return True


STATES = ("done", "running", "failed", "partial", "waiting")


def print_status(workdir: str, out=None):
  """The --status view per study in W: counts per state, then one line per step not done."""
  out = out or sys.stdout
  for desc, study in recorded(workdir):
    rows = node_states(workdir, study)
    counts = {s: sum(r[1] == s for r in rows) for s in STATES}
    summary = ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])
    print(f"study {study.name} ({desc['spec']}) in {workdir}: {summary}", file=out)
    for name, state, detail in rows:
      if state != "done":
        print(f"  {state:8s} {name}" + (f"  ({detail})" if detail else ""), file=out)
    report = artifacts.report_path(workdir, study.name)
    if os.path.isfile(report):
      print(f"  report: {report}", file=out)


def plan(spec: str) -> List[Tuple[str, int, int]]:
  """[(method/step, runs, env steps)] of a study's training jobs, and the total as the last
  row ('total'): what it costs before anything runs (writes nothing)."""
  from darts_rl import envs

  study, _ = load_study(spec)
  rows: Dict[str, List[int]] = {}
  for n in grid.expand(study, os.path.join("W", study.name)):
    if n.config is None:
      continue
    method, _, step = n.name.split("/")[:3]
    steps = int(envs.with_task_defaults(n.config()).loop.total_env_steps)
    runs = rows.setdefault(f"{method}/{step}", [0, 0])
    runs[0] += 1
    runs[1] += steps
  out = [(k, r, s) for k, (r, s) in rows.items()]
  return out + [("total", sum(r for _, r, _ in out), sum(s for _, _, s in out))]
