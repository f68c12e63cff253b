"""A random search's files: trials.jsonl, one evaluate workdir per trial, worker logs.

    WORKDIR/trials.jsonl         one row per finished trial, by trial index, rewritten
                                 atomically: trial, genotype, env_steps, wall_s, workdir
                                 (relative), train_levels / test_levels (eval.json's splits,
                                 "mean_return" null when the evaluation finished no episode)
    WORKDIR/trials/trial_XXX/    an evaluate workdir
    WORKDIR/logs/trial_XXX.log   a worker's output (parallel > 1 only)
"""
import os
import re
from typing import Dict, List, Optional, Sequence

from darts_rl.artifacts.evals import SPLITS
from darts_rl.artifacts.files import ArtifactError, atomic_write_jsonl, missing, read_jsonl
from darts_rl.artifacts.ownership import is_done
from darts_rl.formatting import is_num

TRIALS = "trials.jsonl"
_TRIAL_DIR = re.compile(r"^trial_(\d+)$")


def trial_dir(workdir: str, i: int) -> str:
  return os.path.join(workdir, "trials", f"trial_{i:03d}")


def trial_log(workdir: str, i: int) -> str:
  return os.path.join(workdir, "logs", f"trial_{i:03d}.log")


def finished_trials(workdir: str) -> List[int]:
  """Indices of the trials whose workdir is done, ascending."""
  root = os.path.dirname(trial_dir(workdir, 0))
  names = os.listdir(root) if os.path.isdir(root) else []
  return sorted(int(m[1]) for m in map(_TRIAL_DIR.match, names)
                if m and is_done(os.path.join(root, m[0])))


def write_trials(workdir: str, rows: Sequence[Dict]) -> str:
  """Rewrites WORKDIR/trials.jsonl with `rows` (atomically); returns its path."""
  path = os.path.join(workdir, TRIALS)
  atomic_write_jsonl(path, rows, sort_keys=True)
  return path


def _check_row(row: dict) -> Optional[str]:
  ok = (isinstance(row.get("trial"), int) and is_num(row.get("env_steps"))
        and any(isinstance(row.get(s), dict) for s in SPLITS)
        and all(isinstance(row[s], dict) and (row[s].get("mean_return") is None
                                             or is_num(row[s]["mean_return"]))
                for s in SPLITS if s in row))
  return None if ok else ("a trial row needs 'trial', 'env_steps' and 'test_levels' or "
                          "'train_levels' with a 'mean_return' (number or null)")


def read_trials(workdir: str) -> List[dict]:
  """WORKDIR/trials.jsonl -> rows sorted by trial index; ArtifactError naming the file and line
  for a malformed row, or when there is no finished trial."""
  path = os.path.join(workdir, TRIALS)
  if not os.path.isfile(path):
    raise missing(workdir, TRIALS, "is this a random-search workdir?")
  rows = read_jsonl(path, cut_last_ok=False, check=_check_row)
  if not rows:
    raise ArtifactError(f"{path}: no finished trials")
  return sorted(rows, key=lambda r: r["trial"])
