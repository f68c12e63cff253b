"""eval.json and eval_<N>.json: a run's final evaluation, and its re-evaluations with N episodes.

    {"phase", "encoder", "env_steps", "seed", "train_levels": {...}, "test_levels": {...}}
    (eval_<N>.json adds "episodes": N)

Each split holds "mean_return" (NaN when no episode finished), "std_return", "episodes",
"per_game" and "capped". DM-Control writes only "test_levels".
"""
import os
import re
from typing import Dict, Optional, Tuple

from darts_rl.artifacts.files import ArtifactError, atomic_write_json, missing, read_json

EVAL = "eval.json"
REEVAL = "eval_<N>.json"  # how messages and reports name the re-evaluations
SPLIT_KEYS = {"train": "train_levels", "test": "test_levels"}  # config split -> file key
SPLITS = tuple(SPLIT_KEYS.values())  # the file's split keys, in the order tables show them
_REEVAL = re.compile(r"^eval_(?P<n>\d+)\.json$")


def eval_path(workdir: str, episodes: Optional[int] = None) -> str:
  """WORKDIR/eval.json, or WORKDIR/eval_<episodes>.json for a re-evaluation."""
  return os.path.join(workdir, EVAL if episodes is None else f"eval_{int(episodes)}.json")


def write_eval(workdir: str, summary: Dict, episodes: Optional[int] = None) -> Dict:
  """Writes `summary` as eval.json, or as eval_<episodes>.json with "episodes" added; returns
  what it wrote."""
  summary = summary if episodes is None else dict(summary, episodes=episodes)
  atomic_write_json(eval_path(workdir, episodes), summary)
  return summary


def _read(path: str) -> dict:
  d = read_json(path)
  for split in SPLITS:
    s = d.get(split)
    mean = s.get("mean_return") if isinstance(s, dict) else None
    if s is not None and (isinstance(mean, bool) or not isinstance(mean, (int, float))):
      raise ArtifactError(f"{path}: '{split}' must be an object with a numeric 'mean_return'")
  return d


def read_eval(workdir: str, episodes: Optional[int] = None,
              missing_ok: bool = False) -> Optional[dict]:
  """WORKDIR/eval.json (or eval_<episodes>.json) as a dict; ArtifactError if malformed, or if
  absent unless missing_ok (then None)."""
  path = eval_path(workdir, episodes)
  if not os.path.isfile(path):
    if missing_ok:
      return None
    raise missing(workdir, os.path.basename(path), "has the run finished?")
  return _read(path)


def best_eval(workdir: str) -> Tuple[Optional[dict], Optional[str]]:
  """(evaluation, file name) with the most episodes: the re-evaluation eval_<N>.json of largest
  N when there is one, else eval.json; (None, None) when there is neither. ArtifactError if
  the chosen file is malformed."""
  names = os.listdir(workdir) if os.path.isdir(workdir) else []
  reevals = sorted((int(m["n"]), n) for n in names for m in [_REEVAL.match(n)] if m)
  if reevals:
    return _read(os.path.join(workdir, reevals[-1][1])), reevals[-1][1]
  d = read_eval(workdir, missing_ok=True)
  return (d, EVAL) if d is not None else (None, None)
