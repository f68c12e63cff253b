"""Random-search baseline (docs/paper.md, "Evaluation protocols"): sample genotypes uniformly,
evaluate each, select the best on validation levels, and evaluate the selected trial afresh on
test levels.

    run(config, workdir, num_trials, executor=None) -> trial rows

Trials sample from the space the search config names (`make_space(config.encoder)`: micro or
macro; an evaluate config leaves the space's shape to its genotype, so it is refused unless
every shape field is set) and are trained with the evaluate protocol (`loop.run(...,
'evaluate')`, encoder kind 'fixed'), each in its own evaluate workdir; each trial's
genotype.json records the space's shape. Every trial trains with `config.seed`, so trials
differ only by their architecture. Trial i's genotype is a pure function of (config.seed, i):
a resumed or extended search samples the same ones.

Selection without peeking: the best trial so far is the one with the best validation-levels
return (held-out levels apart from the training and test levels, darts_rl/envs); each trial
that is ever the best so far (in trial order) then gets a fresh evaluation, with seeds no
evaluation of the run used (`loop.reevaluate(..., seed_offset=artifacts.FRESH_SEED_OFFSET)`,
eval_<N>_offset1.json), and its test-levels return there is the number reports show.

    WORKDIR/
      config.json          the config given, phase 'random_search' (artifacts.claim)
      trials.jsonl         one row per finished trial (darts_rl/artifacts/trials.py)
      trials/trial_000/    an evaluate workdir: config.json, genotype.json, metrics.jsonl,
                           checkpoints/, eval.json, DONE (eval_<N>_offset1.json if selected)
      logs/trial_000.log   a worker's output (when trials run in worker processes)

`env_steps` and `wall_s` are the trial's training budget and training wall time (metrics.jsonl
`wall_s`, carried over resumes); the final evaluation's cost is not counted, as for RL-DARTS in
darts_rl/analysis/compare.py. A finished trial (DONE) is never rerun; a killed one resumes
through loop.run's checkpoints. Trials run on an executor (darts_rl/sweep: this process, a
local pool of workers with their own devices, or Ray); a worker reads the config from
WORKDIR/config.json.
"""

import functools
import os
from typing import Dict, List, Optional

import numpy as np

from darts_rl import artifacts
from darts_rl.formatting import format_duration, is_num
from darts_rl.sweep import Job, LocalPool, graph
from darts_rl.sweep.jobs import TRAINING, TrialFailed, failure_message, resolve

PHASE = "random_search"
TRIAL_FN = "darts_rl.random_search:run_trial"
_SALT = 0x5EA4C4  # keeps the genotype stream apart from other streams seeded by config.seed


def trial_genotype(config, i: int):
  """Trial i's genotype: uniform over the config's space, a pure function of (seed, i)."""
  from darts_rl.networks.space_config import make_space  # the parent's import, not a worker's

  space = make_space(config.encoder)
  rng = np.random.default_rng([_SALT, int(config.seed), int(i)])
  return space.sample(rng, int(config.arch.discretize_k) if "arch" in config else 2)


def trial_config(config, workdir: str, i: int):
  """The evaluate config of trial i: encoder.kind 'fixed' reading the trial's genotype.json."""
  c = config.copy_and_resolve_references()
  c.encoder.kind = "fixed"
  c.encoder.genotype = os.path.abspath(artifacts.genotype_path(artifacts.trial_dir(workdir, i)))
  return c


def _check_config(config, num_trials: int):
  if num_trials < 1:
    raise ValueError(f"num_trials must be >= 1, got {num_trials}")
  if config.encoder.kind not in ("fixed", "supernet"):
    raise ValueError(
      f"random search samples from a search space: use an evaluate (or search) "
      f"config, not encoder.kind='{config.encoder.kind}'"
    )
  if config.encoder.genotype:
    raise ValueError(
      "random search samples the genotypes itself: leave encoder.genotype empty "
      f"(got '{config.encoder.genotype}')"
    )
  from darts_rl.networks.space_config import make_space, unset_fields, unset_phrase

  unset = unset_fields(config.encoder)
  if unset:
    raise ValueError(
      f"random search samples the space its config names, but "
      f"{unset_phrase(unset)} (an evaluate config takes them from a genotype): "
      "use the search config, e.g. --config=experiments/ppo_procgen.py:search"
    )
  make_space(config.encoder)  # a bad space fails here, before any trial


def prepare_trial(config, workdir: str, i: int):
  """Claims trial i's dir and writes the genotype it samples (in the parent, before the job:
  a worker then needs neither the search space nor the networks, only its training)."""
  d = artifacts.trial_dir(workdir, i)
  tc = trial_config(config, workdir, i)
  genotype = trial_genotype(config, i)
  # Claim first: loop.run refuses a non-empty dir without a config of its own.
  if not artifacts.claim(d, "evaluate", tc):
    path = tc.encoder.genotype
    if os.path.exists(path):
      if artifacts.read_genotype_json(path) != genotype.to_dict():
        raise artifacts.ArtifactError(
          f"{path} is not the genotype trial {i} samples now: use another --workdir"
        )
    else:
      artifacts.write_genotype(path, genotype)


def run_trial(workdir: str, i: int, training: str = TRAINING):
  """Job: trains and evaluates trial i in WORKDIR/trials/trial_XXX (resuming it if half done)
  with WORKDIR's config (prepare_trial wrote its genotype)."""
  config = artifacts.load_config(workdir, want_phase=PHASE)
  resolve(f"{training}:run")(
    trial_config(config, workdir, i), artifacts.trial_dir(workdir, i), "evaluate"
  )


def fresh_evaluation(workdir: str, i: int, training: str = TRAINING):
  """Job: the fresh evaluation of finished trial i (its config's episode count, seeds offset
  by artifacts.FRESH_SEED_OFFSET)."""
  config = artifacts.load_config(workdir, want_phase=PHASE)
  resolve(f"{training}:reevaluate")(
    artifacts.trial_dir(workdir, i),
    config.loop.eval_episodes,
    seed_offset=artifacts.FRESH_SEED_OFFSET,
  )


def _finished_rows(workdir: str, upto: int) -> Optional[List[Dict]]:
  """Rows of trials 0..upto, or None unless every one of them is finished."""
  done = set(artifacts.finished_trials(workdir))
  if not all(j in done for j in range(upto + 1)):
    return None
  return [trial_row(workdir, j) for j in range(upto + 1)]


def _fresh_settled(workdir: str, i: int) -> bool:
  """Trials 0..i are done, and trial i is not the best so far or has its fresh evaluation."""
  rows = _finished_rows(workdir, i)
  return rows is not None and (i not in selected_trials(rows) or "fresh" in rows[i])


def search_nodes(
  workdir: str, num_trials: int, config_fn, training: str = TRAINING, prefix: str = ""
) -> List[graph.Node]:
  """Trials 0..num_trials-1 as steps (each claims WORKDIR with config_fn() and writes its
  genotype first), and per trial the step of its fresh evaluation: once trials 0..i are done
  it is done at once unless trial i is the best so far on validation levels, in which case
  it runs. Named 'trial 3' and 'fresh evaluation of trial 3', or PREFIX/trial_003 and
  PREFIX/fresh_003 in a study."""

  def prepare(i):
    def fn():
      config = config_fn()
      artifacts.claim(workdir, PHASE, config)
      prepare_trial(config, workdir, i)

    return fn

  def trial_name(i):
    return f"{prefix}/trial_{i:03d}" if prefix else f"trial {i}"

  nodes = []
  for i in range(num_trials):
    job = Job(trial_name(i), TRIAL_FN, [workdir, i, training], artifacts.trial_log(workdir, i))
    nodes.append(
      graph.Node(
        job.name,
        (),
        lambda i=i: i in artifacts.finished_trials(workdir),
        job=job,
        prepare=prepare(i),
        workdir=artifacts.trial_dir(workdir, i),
        index=functools.partial(write_trials, workdir),
        config=lambda i=i: trial_config(config_fn(), workdir, i),
      )
    )
  for i in range(num_trials):  # a selected trial's fresh evaluation, logged with the trial
    name = f"{prefix}/fresh_{i:03d}" if prefix else f"fresh evaluation of trial {i}"
    log = artifacts.trial_log(workdir, i)
    nodes.append(
      graph.Node(
        name,
        tuple(n.name for n in nodes[: i + 1]),
        lambda i=i: _fresh_settled(workdir, i),
        job=Job(name, "darts_rl.random_search:fresh_evaluation", [workdir, i, training], log),
        workdir=artifacts.trial_dir(workdir, i),
        index=functools.partial(write_trials, workdir),
      )
    )
  return nodes


def trial_row(workdir: str, i: int) -> Dict:
  """The trials.jsonl row of finished trial i (artifacts.run_row plus trial, genotype and its
  workdir relative to WORKDIR)."""
  d = artifacts.trial_dir(workdir, i)
  return dict(
    artifacts.run_row(d),
    trial=i,
    workdir=os.path.relpath(d, workdir),
    genotype=artifacts.read_genotype_json(artifacts.genotype_path(d)),
  )


def write_trials(workdir: str) -> List[Dict]:
  """Rewrites WORKDIR/trials.jsonl from every finished trial dir, ordered by trial index."""
  rows = [trial_row(workdir, i) for i in artifacts.finished_trials(workdir)]
  artifacts.write_trials(workdir, rows)
  return rows


def selected_trials(rows: List[Dict]) -> List[int]:
  """The trials that are ever the best so far on the selection split, in trial order."""
  split = artifacts.selection_split(rows)
  picks = artifacts.running_best(rows, split)
  return [rows[p]["trial"] for p in sorted({p for p in picks if p is not None})]


def _progress(workdir: str, i: int, num_trials: int):
  rows = write_trials(workdir)
  row = next(r for r in rows if r["trial"] == i)
  split = artifacts.selection_split(rows)
  best = artifacts.running_best(rows, split)[-1]
  best_text = (
    "-"
    if best is None
    else f"{_fmt(artifacts.split_return(rows[best], split))} (trial {rows[best]['trial']})"
  )
  rets = ", ".join(
    f"{s.split('_')[0]} {_fmt(row[s]['mean_return'])}" for s in artifacts.SPLITS if s in row
  )
  print(
    f"[random_search] trial {i} done ({len(rows)}/{num_trials} finished): return {rets} | "
    f"{row['env_steps']} env steps, {format_duration(row['wall_s'])} | best so far on "
    f"{split.replace('_', ' ')} {best_text}",
    flush=True,
  )


class _Progress(graph.Events):
  """One line per finished trial: its returns, its cost, the best so far."""

  def __init__(self, workdir: str, num_trials: int):
    super().__init__("[random_search]")
    self.workdir, self.num_trials = workdir, num_trials

  def ended(self, node, failure, wall_s):
    if failure is not None:
      super().ended(node, failure, wall_s)
    elif node.job.fn == TRIAL_FN:
      _progress(self.workdir, node.job.args[1], self.num_trials)


def _fmt(v) -> str:
  return "-" if not is_num(v) else f"{v:.3g}"


def run(
  config, workdir: str, num_trials: int, executor=None, training: str = TRAINING
) -> List[Dict]:
  """Runs trials 0..num_trials-1 that have not finished on `executor` (default: one by one in
  this process), then the fresh evaluations of the selected trials that lack one; returns
  the rows of trials.jsonl."""
  _check_config(config, num_trials)
  executor = executor or LocalPool()
  artifacts.claim(workdir, PHASE, config)
  done = set(artifacts.finished_trials(workdir))
  todo = [i for i in range(num_trials) if i not in done]
  print(
    f"[random_search] {workdir}: {num_trials - len(todo)} of {num_trials} trials finished, "
    f"{len(todo)} to run ({executor.describe()})",
    flush=True,
  )
  failed = graph.execute(
    search_nodes(workdir, num_trials, lambda: config, training),
    executor,
    _Progress(workdir, num_trials),
  )
  if failed:
    write_trials(workdir)
    raise TrialFailed(failure_message(list(failed.values())))
  rows = write_trials(workdir)
  split = artifacts.selection_split(rows)
  pick = artifacts.running_best(rows, split)[-1]
  chosen = (
    "no trial has a return"
    if pick is None
    else (
      f"selected trial {rows[pick]['trial']} on {split.replace('_', ' ')} "
      f"({_fmt(artifacts.split_return(rows[pick], split))}); its fresh evaluation on test "
      f"levels: {_fmt(artifacts.reported_return(rows[pick]))}"
    )
  )
  print(
    f"[random_search] wrote {os.path.join(workdir, artifacts.TRIALS)} ({len(rows)} trials); "
    f"{chosen}",
    flush=True,
  )
  return rows
