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

import os
from typing import Dict, List

import numpy as np

from darts_rl import artifacts
from darts_rl.formatting import format_duration, is_num
from darts_rl.sweep import Job, LocalPool
from darts_rl.sweep.jobs import TRAINING, resolve

PHASE = "random_search"
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


def fresh_missing(workdir: str) -> List[int]:
  """The selected trials (ever the best so far on validation levels) that lack a fresh
  evaluation, from the finished trials on disk ([] when none has finished)."""
  rows = [trial_row(workdir, i) for i in artifacts.finished_trials(workdir)]
  by_trial = {r["trial"]: r for r in rows}
  return [i for i in selected_trials(rows) if "fresh" not in by_trial[i]] if rows else []


def fresh_evaluations(workdir: str, training: str = TRAINING):
  """Job: the fresh evaluations that fresh_missing names, one after another (a study runs
  them as one job once every trial of its random search is done)."""
  for i in fresh_missing(workdir):
    fresh_evaluation(workdir, i, training)
  write_trials(workdir)


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
  for i in todo:
    prepare_trial(config, workdir, i)
  executor.run(
    [
      Job(
        f"trial {i}",
        "darts_rl.random_search:run_trial",
        [workdir, i, training],
        artifacts.trial_log(workdir, i),
      )
      for i in todo
    ],
    on_done=lambda job: _progress(workdir, job.args[1], num_trials),
  )
  fresh = fresh_missing(workdir)
  executor.run(
    [
      Job(
        f"fresh evaluation of trial {i}",
        "darts_rl.random_search:fresh_evaluation",
        [workdir, i, training],
        artifacts.trial_log(workdir, i),
      )
      for i in fresh
    ],
    on_done=lambda job: write_trials(workdir),
  )
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
