"""Seeds as the unit of comparison: one phase run for N seeds, each in its own workdir.

    run(config, workdir, phase, seeds, executor=None) -> seed rows

phase: search | evaluate | random_policy. Seed S runs the phase with config.seed = S in
WORKDIR/seed_<S>/, a normal workdir of that phase (launch/report.py, reevaluate, discretize
read it as any other), then gets a fresh evaluation (seeds offset by
artifacts.FRESH_SEED_OFFSET: eval_<N>_offset1.json, N = loop.eval_episodes), the number
reports aggregate over seeds, as for a random search's selected trial. An evaluate config
whose encoder.genotype contains "{seed}" retrains each search seed's own cell
(--config.encoder.genotype=W/search_seeds/seed_{seed}/genotype.json).

    WORKDIR/
      config.json        the config given, phase 'seeds:<phase>' (artifacts.claim)
      seeds.jsonl        one row per finished seed: seed, workdir and artifacts.run_row's
                         fields (env_steps, wall_s, eval.json's splits, "fresh")
      seed_<S>/          the phase's workdir for seed S
      logs/seed_<S>.log  a worker's output (when seeds run in worker processes)

Like random search: rerun the command to resume (a finished seed is kept, an unfinished one
resumes from its checkpoint), or with more seeds to extend; seeds run on an executor
(darts_rl/sweep: this process, a local pool, or Ray).
"""

import functools
import os
from typing import Dict, List, Sequence

from darts_rl import artifacts
from darts_rl.sweep import Job, LocalPool, graph
from darts_rl.sweep.jobs import TRAINING, TrialFailed, failure_message, resolve

PHASES = ("search", "evaluate", "random_policy")
SEED_FIELD = "{seed}"


def parse_seeds(text: str) -> List[int]:
  """'0,1,2' or '0-4' (or a mix: '0-2,7') -> distinct seeds >= 0, in order; ValueError."""
  seeds = []
  for part in (p.strip() for p in str(text).split(",") if p.strip()):
    lo, sep, hi = part.partition("-")
    try:
      seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(part)]
    except ValueError:
      raise ValueError(f"--seeds expects integers like 0,1,2 or 0-4, got '{text}'") from None
  if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
    raise ValueError(f"--seeds needs distinct integers >= 0, got '{text}'")
  return seeds


def seed_config(config, seed: int):
  """The config of seed S: config.seed = S and "{seed}" in encoder.genotype filled in."""
  c = config.copy_and_resolve_references()
  c.seed = int(seed)
  if "encoder" in c and SEED_FIELD in (c.encoder.get("genotype") or ""):
    c.encoder.genotype = c.encoder.genotype.replace(SEED_FIELD, str(seed))
  return c


def run_seed(workdir: str, phase: str, seed: int, training: str = TRAINING):
  """Job: the phase for one seed in WORKDIR/seed_<S> (resumed if half done), then its fresh
  evaluation unless it has one."""
  config = seed_config(
    artifacts.load_config(workdir, want_phase=artifacts.seeds_phase(phase)), seed
  )
  d = artifacts.seed_dir(workdir, seed)
  if phase == "random_policy":
    resolve(f"{training}:evaluate_random_policy")(config, d)
  else:
    resolve(f"{training}:run")(config, d, phase)
  if artifacts.fresh_eval(d)[0] is None:
    resolve(f"{training}:reevaluate")(
      d, config.loop.eval_episodes, seed_offset=artifacts.FRESH_SEED_OFFSET
    )


def _seed_done(d: str, seed: int) -> bool:
  sd = artifacts.seed_dir(d, seed)
  return artifacts.is_done(sd) and artifacts.fresh_eval(sd)[0] is not None


def seed_node(name, deps, d, phase, seed, config_fn, training=TRAINING) -> graph.Node:
  """Seed S of the multi-seed workdir d as a step (run_seed's job: the phase, then a fresh
  evaluation); prepare claims d with config_fn() (the same config for every seed)."""

  def prepare():
    artifacts.claim(d, artifacts.seeds_phase(phase), config_fn())

  job = Job(
    name, "darts_rl.seeds:run_seed", [d, phase, seed, training], artifacts.seed_log(d, seed)
  )
  return graph.Node(
    name,
    tuple(deps),
    lambda: _seed_done(d, seed),
    job=job,
    prepare=prepare,
    workdir=artifacts.seed_dir(d, seed),
    index=functools.partial(write_seeds, d),
    config=lambda: seed_config(config_fn(), seed),
  )


def write_seeds(workdir: str) -> List[Dict]:
  """Rewrites WORKDIR/seeds.jsonl from every finished seed dir (with its fresh evaluation)."""
  rows = []
  for s in artifacts.finished_seeds(workdir):
    d = artifacts.seed_dir(workdir, s)
    if artifacts.fresh_eval(d)[0] is not None:  # else the seed's job has not finished
      rows.append(dict(artifacts.run_row(d), seed=s, workdir=os.path.relpath(d, workdir)))
  artifacts.write_seeds(workdir, rows)
  return rows


def _check(config, phase: str, seeds: Sequence[int]):
  if phase not in PHASES:
    raise ValueError(f"unknown phase '{phase}'; valid phases: {', '.join(PHASES)}")
  if not seeds:
    raise ValueError("no seeds given")
  genotype = config.encoder.get("genotype") or ""
  if SEED_FIELD in genotype:
    missing = [s for s in seeds if not os.path.isfile(genotype.replace(SEED_FIELD, str(s)))]
    if missing:
      raise ValueError(
        f"encoder.genotype={genotype}: no file for seed(s) "
        f"{', '.join(map(str, missing))} (discretize those searches first)"
      )


def run(
  config, workdir: str, phase: str, seeds: Sequence[int], executor=None, training: str = TRAINING
) -> List[Dict]:
  """Runs `phase` for every seed of `seeds` not finished yet on `executor` (default: one by
  one in this process); returns the rows of seeds.jsonl (every finished seed)."""
  _check(config, phase, seeds)
  executor = executor or LocalPool()
  artifacts.claim(workdir, artifacts.seeds_phase(phase), config)
  nodes = [seed_node(f"seed {s}", (), workdir, phase, s, lambda: config, training) for s in seeds]
  todo = [n for n in nodes if not n.done()]
  print(
    f"[seeds] {workdir}: {phase} for seeds {','.join(map(str, seeds))}: "
    f"{len(seeds) - len(todo)} finished, {len(todo)} to run ({executor.describe()})",
    flush=True,
  )
  failed = graph.execute(nodes, executor, _Progress(workdir))
  rows = write_seeds(workdir)
  if failed:
    raise TrialFailed(failure_message(list(failed.values())))
  print(f"[seeds] wrote {os.path.join(workdir, artifacts.SEEDS)} ({len(rows)} seeds)", flush=True)
  return rows


class _Progress(graph.Events):
  """One line per finished seed, with its fresh test return."""

  def __init__(self, workdir: str):
    super().__init__("[seeds]")
    self.workdir = workdir

  def ended(self, node, failure, wall_s):
    if failure is not None:
      return super().ended(node, failure, wall_s)
    rows = artifacts.read_seeds(self.workdir)
    row = next(r for r in rows if r["seed"] == node.job.args[2])
    ret = artifacts.reported_return(row)
    print(
      f"[seeds] seed {row['seed']} done: fresh test return "
      f"{'-' if ret is None else f'{ret:.3g}'} ({len(rows)} seeds finished)",
      flush=True,
    )
