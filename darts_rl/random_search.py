"""Random-search baseline (docs/paper.md, "Evaluation protocols"): sample genotypes uniformly, evaluate each.

    run(config, workdir, num_trials, parallel=1) -> trial rows

Trials sample from the space the search config names (`make_space(config.encoder)`: micro or
macro; an evaluate config leaves the space's shape to its genotype, so it is refused unless
every shape field is set) and are trained with the evaluate protocol (`loop.run(...,
'evaluate')`, encoder kind 'fixed'), each in its own evaluate workdir; each trial's
genotype.json records the space's shape. Every trial trains with `config.seed`, so
trials differ only by their architecture. Trial i's genotype is a pure function of
(config.seed, i): a resumed or extended search samples the same ones.

    WORKDIR/
      config.json          the config given, phase 'random_search' (artifacts.claim)
      trials.jsonl         one row per finished trial, by trial index, rewritten atomically:
                           trial, genotype, env_steps, wall_s, train_levels, test_levels (as
                           in eval.json), workdir (relative)
      trials/trial_000/    an evaluate workdir: config.json, genotype.json, metrics.jsonl,
                           checkpoints/, eval.json, DONE
      logs/trial_000.log   a worker's output (parallel > 1 only)

`env_steps` and `wall_s` are the trial's training budget and training wall time (metrics.jsonl
`wall_s`, carried over resumes); the final evaluation's cost is not counted, as for RL-DARTS in
darts_rl/analysis/compare.py. The files are darts_rl/artifacts/trials.py's. A finished trial
(DONE) is never rerun; a killed one resumes through loop.run's checkpoints. With parallel > 1
each trial runs in a fresh worker process (`python -m darts_rl.random_search WORKDIR TRIAL`)
that reads the config from WORKDIR/config.json.
"""
import ctypes
import os
import signal
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np

from darts_rl import artifacts
from darts_rl.formatting import format_duration, is_num
from darts_rl.train import loop
from darts_rl.networks.encoders import make_space
from darts_rl.networks.space_config import unset_fields, unset_phrase

PHASE = "random_search"
_SALT = 0x5EA4C4  # keeps the genotype stream apart from other streams seeded by config.seed


class TrialFailed(ValueError):
  """A worker process failed; its log names the cause. (A ValueError: one line from launchers.)"""


def trial_genotype(config, i: int):
  """Trial i's genotype: uniform over the config's space, a pure function of (seed, i)."""
  space = make_space(config.encoder)
  rng = np.random.default_rng([_SALT, int(config.seed), int(i)])
  return space.sample(rng, int(config.arch.discretize_k) if "arch" in config else 2)


def trial_config(config, workdir: str, i: int):
  """The evaluate config of trial i: encoder.kind 'fixed' reading the trial's genotype.json."""
  c = config.copy_and_resolve_references()
  c.encoder.kind = "fixed"
  c.encoder.genotype = os.path.abspath(artifacts.genotype_path(artifacts.trial_dir(workdir, i)))
  return c


def _check_config(config, num_trials: int, parallel: int):
  if num_trials < 1 or parallel < 1:
    raise ValueError(f"num_trials and parallel must be >= 1, got {num_trials} and {parallel}")
  if config.encoder.kind not in ("fixed", "supernet"):
    raise ValueError(f"random search samples from a search space: use an evaluate (or search) "
                     f"config, not encoder.kind='{config.encoder.kind}'")
  if config.encoder.genotype:
    raise ValueError("random search samples the genotypes itself: leave encoder.genotype empty "
                     f"(got '{config.encoder.genotype}')")
  unset = unset_fields(config.encoder)
  if unset:
    raise ValueError(f"random search samples the space its config names, but "
                     f"{unset_phrase(unset)} (an evaluate config takes them from a genotype): "
                     "use the search config, e.g. --config=experiments/ppo_procgen.py:search")
  make_space(config.encoder)  # a bad space fails here, before any trial


def run_trial(config, workdir: str, i: int) -> Dict:
  """Trains and evaluates trial i in WORKDIR/trials/trial_XXX (resuming it if half done)."""
  d = artifacts.trial_dir(workdir, i)
  tc = trial_config(config, workdir, i)
  genotype = trial_genotype(config, i)
  # Claim first: loop.run refuses a non-empty dir without a config of its own.
  if not artifacts.claim(d, "evaluate", tc):
    path = tc.encoder.genotype
    if os.path.exists(path):
      if artifacts.read_genotype_json(path) != genotype.to_dict():
        raise artifacts.ArtifactError(f"{path} is not the genotype trial {i} samples now: "
                                      "use another --workdir")
    else:
      artifacts.write_genotype(path, genotype)
  loop.run(tc, d, "evaluate")
  return trial_row(workdir, i)


def trial_row(workdir: str, i: int) -> Dict:
  """The trials.jsonl row of finished trial i. A split's mean_return is null when the
  evaluation finished no episode (NaN in eval.json): the trial still counts as compute."""
  d = artifacts.trial_dir(workdir, i)
  ev = artifacts.read_eval(d)
  env_steps, wall_s = artifacts.training_compute(d)
  row = {"trial": i, "genotype": artifacts.read_genotype_json(artifacts.genotype_path(d)),
         "env_steps": env_steps, "wall_s": wall_s, "workdir": os.path.relpath(d, workdir)}
  for split in artifacts.SPLITS:
    if isinstance(ev.get(split), dict):
      mean = ev[split].get("mean_return")
      row[split] = dict(ev[split], mean_return=mean if is_num(mean) else None)
  return row


def write_trials(workdir: str) -> List[Dict]:
  """Rewrites WORKDIR/trials.jsonl from every finished trial dir, ordered by trial index."""
  rows = [trial_row(workdir, i) for i in artifacts.finished_trials(workdir)]
  artifacts.write_trials(workdir, rows)
  return rows


def trial_return(row: Dict):
  """(split, mean return): test levels, else train levels; (None, None) if neither."""
  for split in reversed(artifacts.SPLITS):  # the held-out levels first
    if isinstance(row.get(split), dict) and row[split]["mean_return"] is not None:
      return split, row[split]["mean_return"]
  return None, None


def _progress(workdir: str, i: int, num_trials: int):
  rows = write_trials(workdir)
  row = next(r for r in rows if r["trial"] == i)
  scored = [(trial_return(r)[1], r["trial"]) for r in rows if trial_return(r)[1] is not None]
  best = max(scored, key=lambda s: (s[0], -s[1])) if scored else (float("nan"), -1)
  rets = ", ".join(f"{s.split('_')[0]} {_fmt(row[s]['mean_return'])}"
                   for s in artifacts.SPLITS if s in row)
  print(f"[random_search] trial {i} done ({len(rows)}/{num_trials} finished): return {rets} | "
        f"{row['env_steps']} env steps, {format_duration(row['wall_s'])} | best so far "
        f"{_fmt(best[0])} (trial {best[1]})", flush=True)


def _fmt(v) -> str:
  return "-" if v is None or not np.isfinite(v) else f"{v:.3g}"


def run(config, workdir: str, num_trials: int, parallel: int = 1) -> List[Dict]:
  """Runs trials 0..num_trials-1 that have not finished; returns the rows of trials.jsonl."""
  _check_config(config, num_trials, parallel)
  artifacts.claim(workdir, PHASE, config)
  done = set(artifacts.finished_trials(workdir))
  todo = [i for i in range(num_trials) if i not in done]
  print(f"[random_search] {workdir}: {num_trials - len(todo)} of {num_trials} trials finished, "
        f"{len(todo)} to run ({min(parallel, max(len(todo), 1))} at a time)", flush=True)
  if parallel == 1:
    for i in todo:
      print(f"[random_search] trial {i}: {artifacts.trial_dir(workdir, i)}", flush=True)
      run_trial(config, workdir, i)
      _progress(workdir, i, num_trials)
  else:
    _run_workers(workdir, todo, parallel, num_trials)
  rows = write_trials(workdir)
  print(f"[random_search] wrote {os.path.join(workdir, artifacts.TRIALS)} ({len(rows)} trials)",
        flush=True)
  return rows


def _run_workers(workdir: str, todo: List[int], parallel: int, num_trials: int):
  """Runs each trial in its own worker process, `parallel` at a time. After a failure no new
  trial starts; the running ones finish, then TrialFailed names the failed trials."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      p for p in (root, os.environ.get("PYTHONPATH")) if p))
  pending, running, failed = list(todo), {}, []
  try:
    while pending or running:
      while pending and len(running) < parallel and not failed:
        i = pending.pop(0)
        log = artifacts.trial_log(workdir, i)
        os.makedirs(os.path.dirname(log), exist_ok=True)
        with open(log, "a") as f:  # appended: a resumed trial keeps its earlier output
          running[i] = (subprocess.Popen(
              [sys.executable, "-m", "darts_rl.random_search", workdir, str(i)], env=env,
              stdout=f, stderr=subprocess.STDOUT), log)
        print(f"[random_search] trial {i}: {artifacts.trial_dir(workdir, i)} (log: {log})",
              flush=True)
      time.sleep(0.2)
      for i, (proc, log) in list(running.items()):
        if proc.poll() is None:
          continue
        del running[i]
        if proc.returncode == 0:
          _progress(workdir, i, num_trials)
        else:
          failed.append(f"trial {i} (exit {proc.returncode}: {_last_line(log)}; log: {log})")
          print(f"[random_search] {failed[-1]}", flush=True)
  finally:
    for proc, _ in running.values():  # only on an exception in this process (e.g. Ctrl-C)
      proc.kill()
      proc.wait()
  if failed:
    raise TrialFailed(f"{len(failed)} trial(s) failed: {'; '.join(failed)}. Rerun the same "
                      "command to retry them (finished trials are kept)")


def _last_line(path: str) -> str:
  with open(path, errors="replace") as f:
    lines = [l.strip() for l in f.read().splitlines() if l.strip()]
  return lines[-1][:300] if lines else "no output"


def _die_with_parent():
  """Linux: a worker is killed when its parent dies, so a killed search leaves no orphan
  writing into a trial dir that the rerun will resume."""
  try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
  except (OSError, AttributeError):
    return
  if os.getppid() == 1:  # the parent died before prctl
    sys.exit(1)


def _worker_main(argv):
  """python -m darts_rl.random_search WORKDIR TRIAL: runs one trial with WORKDIR's config."""
  import logging
  from darts_rl import cli
  _die_with_parent()
  logging.getLogger("jax").setLevel(logging.WARNING)
  if len(argv) != 3 or not argv[2].isdigit():
    sys.exit("usage: python -m darts_rl.random_search WORKDIR TRIAL")
  workdir, i = argv[1], int(argv[2])
  try:
    run_trial(artifacts.load_config(workdir, want_phase=PHASE), workdir, i)
  except cli.USER_ERRORS as e:
    print(f"error: {e}", file=sys.stderr, flush=True)
    sys.exit(1)


if __name__ == "__main__":
  _worker_main(sys.argv)
