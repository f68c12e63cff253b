"""Rows of the sweep indexes (trials.jsonl, seeds.jsonl): one finished run each, and the
best-of-N selection that reads them.

    run_row(rundir) -> {"env_steps", "wall_s", "<split>": {...} per split of eval.json,
                        "fresh": {"file", "episodes", "seed_offset", "<split>": {...}}}

A split's "mean_return" is null when the evaluation finished no episode (NaN in eval.json).
"fresh" is the run's fresh evaluation (evals.fresh_eval), when it has one.
"""

import math
from typing import Dict, List, Optional, Sequence

from darts_rl.artifacts import evals
from darts_rl.artifacts.files import ArtifactError
from darts_rl.artifacts.metrics import training_compute
from darts_rl.formatting import is_num

RANDOM_POLICY = "random_policy"  # the phase of a random-policy workdir: eval.json, no metrics


def _splits(ev: dict) -> Dict[str, dict]:
  out = {}
  for split in evals.SPLITS:
    if isinstance(ev.get(split), dict):
      mean = ev[split].get("mean_return")
      out[split] = dict(ev[split], mean_return=mean if is_num(mean) else None)
  return out


def run_row(rundir: str) -> Dict:
  """The index row of a finished run (see the module doc)."""
  ev = evals.read_eval(rundir)
  if ev.get("phase") == RANDOM_POLICY:  # no training, no metrics.jsonl
    env_steps, wall_s = 0, None
  else:
    env_steps, wall_s = training_compute(rundir)
  row = dict(_splits(ev), env_steps=env_steps, wall_s=wall_s)
  fresh, name = evals.fresh_eval(rundir)
  if fresh is not None:
    row["fresh"] = dict(
      _splits(fresh),
      file=name,
      episodes=fresh.get("episodes"),
      seed_offset=fresh.get("seed_offset"),
    )
  return row


def split_return(row: dict, split: str) -> Optional[float]:
  """row[split]["mean_return"], or None when the row has no such number."""
  s = row.get(split)
  v = s.get("mean_return") if isinstance(s, dict) else None
  return float(v) if is_num(v) else None


def selection_split(rows: Sequence[dict]) -> str:
  """The split best-of-N selects on: validation levels when every row has them; else test
  levels, else train levels (older sweeps; reports say such a selection is biased)."""
  for split in (evals.VALIDATION, evals.TEST, evals.SPLIT_KEYS["train"]):
    if rows and all(isinstance(r.get(split), dict) for r in rows):
      return split
  raise ArtifactError("the runs share no evaluation split to select on")


def running_best(rows: Sequence[dict], split: str) -> List[Optional[int]]:
  """After each row (in order), the index of the best row so far on `split` (first among
  equals), or None before the first row with a number."""
  out, best, best_v = [], None, -math.inf
  for i, row in enumerate(rows):
    v = split_return(row, split)
    if v is not None and v > best_v:
      best, best_v = i, v
    out.append(best)
  return out


def reported_return(row: dict, split: str = evals.TEST) -> Optional[float]:
  """What a report shows for a (selected) run: its fresh evaluation's `split`, else None."""
  fresh = row.get("fresh")
  return split_return(fresh, split) if isinstance(fresh, dict) else None
