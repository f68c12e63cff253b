"""Per-game normalized scores, so that no game dominates an aggregate by its reward scale.

Procgen, easy mode: (R - R_min) / (R_max - R_min) with the constants of Cobbe, Hesse, Hilton
and Schulman, "Leveraging Procedural Generation to Benchmark Reinforcement Learning" (ICML
2020, arXiv:1912.01588), appendix table of normalization constants, easy-mode columns: R_max
is (about) the best achievable score, R_min the score of a policy that does nothing useful.
Scores of other environments (DM-Control, Procgen outside easy mode) stay raw.
"""

from typing import Dict, Mapping, Optional

# game -> (R_min, R_max), easy mode.
PROCGEN_EASY = {
  "bigfish": (1.0, 40.0),
  "bossfight": (0.5, 13.0),
  "caveflyer": (3.5, 12.0),
  "chaser": (0.5, 13.0),
  "climber": (2.0, 12.6),
  "coinrun": (5.0, 10.0),
  "dodgeball": (1.5, 19.0),
  "fruitbot": (-1.5, 32.4),
  "heist": (3.5, 10.0),
  "jumper": (3.0, 10.0),
  "leaper": (3.0, 10.0),
  "maze": (5.0, 10.0),
  "miner": (1.5, 13.0),
  "ninja": (3.5, 10.0),
  "plunder": (4.5, 30.0),
  "starpilot": (2.5, 64.0),
}


def normalize_procgen(game: str, score: float) -> float:
  """Easy-mode normalized score of `game`: 0 at R_min, 1 at R_max (not clipped)."""
  if game not in PROCGEN_EASY:
    raise ValueError(
      f"no Procgen normalization constants for '{game}'; games: {', '.join(sorted(PROCGEN_EASY))}"
    )
  lo, hi = PROCGEN_EASY[game]
  return (score - lo) / (hi - lo)


def score_kind(env: Optional[Mapping]) -> str:
  """'normalized' when scores of runs on `env` (a config's env section) are normalized per
  game (Procgen, easy mode), else 'raw'."""
  env = env or {}
  easy = env.get("kind") == "procgen" and env.get("distribution_mode", "easy") == "easy"
  return "normalized" if easy else "raw"


def game_scores(per_game: Mapping[str, float], env: Optional[Mapping]) -> Dict[str, float]:
  """{game: score} of one evaluation split's per_game means: normalized per game for Procgen
  easy mode (score_kind), raw otherwise."""
  if score_kind(env) == "raw":
    return {g: float(v) for g, v in per_game.items()}
  return {g: normalize_procgen(g, float(v)) for g, v in per_game.items()}
