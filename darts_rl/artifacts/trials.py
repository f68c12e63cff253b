"""The files of a sweep: an index of its finished runs, one workdir per run, worker logs.

Random search (darts_rl/random_search.py):
    WORKDIR/trials.jsonl         one row per finished trial, by trial index, rewritten
                                 atomically: trial, genotype, workdir (relative) and
                                 rows.run_row's env_steps, wall_s, train_levels /
                                 validation_levels / test_levels (eval.json's splits) and
                                 "fresh" (the trial's fresh evaluation, if it has one)
    WORKDIR/trials/trial_XXX/    an evaluate workdir
    WORKDIR/logs/trial_XXX.log   a worker's output (worker processes only)
Seeds (darts_rl/seeds.py):
    WORKDIR/seeds.jsonl          one row per finished seed, by seed: seed, workdir and
                                 rows.run_row's fields
    WORKDIR/seed_<S>/            a workdir of the phase run, config.seed = S
    WORKDIR/logs/seed_<S>.log    a worker's output
"""

import os
import re
from typing import Callable, Dict, List, Optional, Sequence

from darts_rl.artifacts.evals import SPLITS
from darts_rl.artifacts.files import ArtifactError, atomic_write_jsonl, missing, read_jsonl
from darts_rl.artifacts.ownership import CONFIG, is_done, phase
from darts_rl.formatting import is_num


class Sweep:
  """Where a sweep keeps run i: its index file, its run dirs and logs (see the module doc)."""

  def __init__(
    self, index: str, key: str, subdir: str, name: Callable[[int], str], pattern: str, hint: str
  ):
    self.index, self.key, self.subdir, self.name = index, key, subdir, name
    self._pattern, self._hint = re.compile(pattern), hint

  def run_dir(self, workdir: str, i: int) -> str:
    return os.path.join(workdir, self.subdir, self.name(i))

  def log(self, workdir: str, i: int) -> str:
    return os.path.join(workdir, "logs", self.name(i) + ".log")

  def finished(self, workdir: str) -> List[int]:
    """Indices of the runs whose workdir is done, ascending."""
    root = os.path.join(workdir, self.subdir)
    names = os.listdir(root) if os.path.isdir(root) else []
    return sorted(
      int(m[1]) for m in map(self._pattern.match, names) if m and is_done(os.path.join(root, m[0]))
    )

  def write(self, workdir: str, rows: Sequence[Dict]) -> str:
    """Rewrites the index with `rows` (atomically); returns its path."""
    path = os.path.join(workdir, self.index)
    atomic_write_jsonl(path, rows, sort_keys=True)
    return path

  def _check_row(self, row: dict) -> Optional[str]:
    ok = (
      isinstance(row.get(self.key), int)
      and is_num(row.get("env_steps"))
      and any(isinstance(row.get(s), dict) for s in SPLITS)
      and all(
        isinstance(row[s], dict)
        and (row[s].get("mean_return") is None or is_num(row[s]["mean_return"]))
        for s in SPLITS
        if s in row
      )
    )
    return (
      None
      if ok
      else (
        f"a {self.key} row needs '{self.key}', 'env_steps' and a split "
        f"({', '.join(SPLITS)}) with a 'mean_return' (number or null)"
      )
    )

  def read(self, workdir: str) -> List[dict]:
    """The index's rows sorted by key; ArtifactError naming the file and line for a malformed
    row, or when there is no finished run."""
    path = os.path.join(workdir, self.index)
    if not os.path.isfile(path):
      raise missing(workdir, self.index, self._hint)
    rows = read_jsonl(path, cut_last_ok=False, check=self._check_row)
    if not rows:
      raise ArtifactError(f"{path}: no finished {self.key}s")
    return sorted(rows, key=lambda r: r[self.key])


TRIALS = "trials.jsonl"
SEEDS = "seeds.jsonl"
TRIAL_SWEEP = Sweep(
  TRIALS,
  "trial",
  "trials",
  lambda i: f"trial_{i:03d}",
  r"^trial_(\d+)$",
  "is this a random-search workdir?",
)
SEED_SWEEP = Sweep(
  SEEDS, "seed", "", lambda s: f"seed_{s}", r"^seed_(\d+)$", "is this a workdir of launch/seeds.py?"
)

trial_dir, trial_log = TRIAL_SWEEP.run_dir, TRIAL_SWEEP.log
finished_trials, write_trials, read_trials = (
  TRIAL_SWEEP.finished,
  TRIAL_SWEEP.write,
  TRIAL_SWEEP.read,
)
seed_dir, seed_log = SEED_SWEEP.run_dir, SEED_SWEEP.log
finished_seeds, write_seeds, read_seeds = SEED_SWEEP.finished, SEED_SWEEP.write, SEED_SWEEP.read


def seeds_phase(run_phase: str) -> str:
  """config.json's phase of a seeds workdir whose runs are of `run_phase`: 'seeds:evaluate'."""
  return f"seeds:{run_phase}"


def seeds_run_phase(workdir: str) -> Optional[str]:
  """The phase of a seeds workdir's runs ('evaluate' for 'seeds:evaluate'); None when
  `workdir` is not a seeds workdir (no config.json, or another phase)."""
  if not os.path.isfile(os.path.join(workdir, CONFIG)):
    return None
  p = phase(workdir) or ""
  return p.split(":", 1)[1] if p.startswith("seeds:") else None
