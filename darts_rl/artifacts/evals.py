"""eval.json, eval_<N>.json and eval_<N>_offset<K>.json: a run's final evaluation, its
re-evaluations with N episodes, and its fresh evaluations (other seeds).

    {"phase", "encoder", "env_steps", "seed", "train_levels": {...}, "validation_levels": {...},
     "test_levels": {...}}
    eval_<N>.json adds "episodes": N; eval_<N>_offset<K>.json adds "episodes": N and
    "seed_offset": K (K >= 1: eval envs and keys from seeds none of the run's own evaluations
    used, so nothing selected on the run's numbers has seen these episodes)

Each split holds "mean_return" (NaN when no episode finished), "std_return" (n-1),
"stderr_return" (std_return / sqrt(n); absent in files written before it), "episodes",
"per_game" and "capped". DM-Control writes no "train_levels" (it has no levels: its
validation and test splits are fresh seeds).
"""

import os
import re
from typing import Dict, Optional, Tuple

from darts_rl.artifacts.files import ArtifactError, atomic_write_json, missing, read_json

EVAL = "eval.json"
REEVAL = "eval_<N>.json"  # how messages and reports name the re-evaluations
FRESH_EVAL = "eval_<N>_offset<K>.json"  # ... and the fresh evaluations
# config split -> file key. validation: held-out levels (Procgen) or seeds (DM-Control) that
# best-of-N selection reads; test: what reports show.
SPLIT_KEYS = {"train": "train_levels", "validation": "validation_levels", "test": "test_levels"}
SPLITS = tuple(SPLIT_KEYS.values())  # the file's split keys, in the order tables show them
VALIDATION, TEST = SPLIT_KEYS["validation"], SPLIT_KEYS["test"]
# The seed offset of the fresh evaluation that sweeps (random search, seeds) report.
FRESH_SEED_OFFSET = 1
_REEVAL = re.compile(r"^eval_(?P<n>\d+)(_offset(?P<k>\d+))?\.json$")


def eval_path(workdir: str, episodes: Optional[int] = None, seed_offset: int = 0) -> str:
  """WORKDIR/eval.json, eval_<episodes>.json (a re-evaluation), or
  eval_<episodes>_offset<seed_offset>.json (a fresh evaluation, seed_offset >= 1)."""
  if seed_offset < 0 or (seed_offset and episodes is None):
    raise ValueError(
      f"a fresh evaluation needs episodes and seed_offset >= 1, got {episodes} and {seed_offset}"
    )
  if episodes is None:
    return os.path.join(workdir, EVAL)
  suffix = f"_offset{int(seed_offset)}" if seed_offset else ""
  return os.path.join(workdir, f"eval_{int(episodes)}{suffix}.json")


def write_eval(
  workdir: str, summary: Dict, episodes: Optional[int] = None, seed_offset: int = 0
) -> Dict:
  """Writes `summary` as eval.json, or as eval_<episodes>[_offset<K>].json with "episodes"
  (and "seed_offset") added; returns what it wrote."""
  path = eval_path(workdir, episodes, seed_offset)
  if episodes is not None:
    summary = dict(summary, episodes=episodes)
  if seed_offset:
    summary = dict(summary, seed_offset=seed_offset)
  atomic_write_json(path, summary)
  return summary


def _read(path: str) -> dict:
  d = read_json(path)
  for split in SPLITS:
    s = d.get(split)
    mean = s.get("mean_return") if isinstance(s, dict) else None
    if s is not None and (isinstance(mean, bool) or not isinstance(mean, (int, float))):
      raise ArtifactError(f"{path}: '{split}' must be an object with a numeric 'mean_return'")
  return d


def read_eval(
  workdir: str, episodes: Optional[int] = None, missing_ok: bool = False, seed_offset: int = 0
) -> Optional[dict]:
  """WORKDIR/eval.json (or eval_<episodes>[_offset<K>].json) as a dict; ArtifactError if
  malformed, or if absent unless missing_ok (then None)."""
  path = eval_path(workdir, episodes, seed_offset)
  if not os.path.isfile(path):
    if missing_ok:
      return None
    raise missing(workdir, os.path.basename(path), "has the run finished?")
  return _read(path)


def is_reeval_file(name: str) -> bool:
  """Whether NAME is a re-evaluation's or a fresh evaluation's file name (eval_<N>.json,
  eval_<N>_offset<K>.json)."""
  return _REEVAL.match(name) is not None


def _reevals(workdir: str):
  """[(seed_offset, episodes, name)] of WORKDIR's eval_<N>[_offset<K>].json files."""
  names = os.listdir(workdir) if os.path.isdir(workdir) else []
  return [(int(m["k"] or 0), int(m["n"]), n) for n in names for m in [_REEVAL.match(n)] if m]


def fresh_eval(workdir: str) -> Tuple[Optional[dict], Optional[str]]:
  """(evaluation, file name) of WORKDIR's fresh evaluation with the most episodes (the
  smallest seed offset among those), or (None, None)."""
  fresh = sorted((-n, k, name) for k, n, name in _reevals(workdir) if k > 0)
  if not fresh:
    return None, None
  name = fresh[0][2]
  return _read(os.path.join(workdir, name)), name


def best_eval(workdir: str) -> Tuple[Optional[dict], Optional[str]]:
  """(evaluation, file name) a report shows: the fresh evaluation when there is one (see
  fresh_eval), else the re-evaluation eval_<N>.json of largest N, else eval.json; (None, None)
  when there is none. ArtifactError if the chosen file is malformed."""
  fresh = fresh_eval(workdir)
  if fresh[0] is not None:
    return fresh
  reevals = sorted((n, name) for k, n, name in _reevals(workdir) if k == 0)
  if reevals:
    return _read(os.path.join(workdir, reevals[-1][1])), reevals[-1][1]
  d = read_eval(workdir, missing_ok=True)
  return (d, EVAL) if d is not None else (None, None)
