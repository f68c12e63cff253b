"""Per-game scores of a run's reported evaluation, and the per-game tables of reports.

A run's score on a game is its reported evaluation's (artifacts.best_eval: the fresh one when
there is one) per-game mean return on test levels, normalized per game where
analysis.normalization can (Procgen, easy mode) and raw otherwise.
"""

import logging
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from darts_rl import artifacts
from darts_rl.analysis import normalization
from darts_rl.analysis.render import md_cell
from darts_rl.formatting import is_num


def env_section(workdir: str) -> dict:
  """config.json's env section ({} when unreadable)."""
  try:
    env = artifacts.read_config(workdir).get("env")
  except artifacts.ArtifactError:
    return {}
  return env if isinstance(env, dict) else {}


def split_per_game(split: Optional[dict]) -> Dict[str, float]:
  """{game: mean return} of an evaluation split: its per_game, else {'all': mean_return}."""
  split = split or {}
  per_game = {g: float(v) for g, v in (split.get("per_game") or {}).items() if is_num(v)}
  if per_game:
    return per_game
  return {"all": float(split["mean_return"])} if is_num(split.get("mean_return")) else {}


def run_games(workdir: str, split: str = artifacts.TEST) -> Tuple[Dict[str, float], str]:
  """({game: raw return}, evaluation file) of a run's reported evaluation; ({}, '-') when it
  has none (a malformed one is logged)."""
  try:
    ev, name = artifacts.best_eval(workdir)
  except artifacts.ArtifactError as e:
    logging.warning("%s", e)
    return {}, "-"
  return (split_per_game((ev or {}).get(split)), name) if ev else ({}, "-")


def named(raw: Mapping[str, float], env: Mapping) -> Dict[str, float]:
  """Raw per-game returns, a one-game run's {'all': x} named by its game."""
  games = env.get("games") or ()
  games = [
    g for item in ([games] if isinstance(games, str) else games) for g in str(item).split(",") if g
  ]
  if set(raw) == {"all"} and len(games) == 1:
    return {games[0]: raw["all"]}
  return dict(raw)


def scores(raw: Mapping[str, float], env: Mapping) -> Dict[str, float]:
  """Per-game scores (normalized when the env allows it, see the module doc). A one-game run
  whose evaluation has no per-game means ({'all': x}) is scored as that game."""
  raw = named(raw, env)
  if "all" in raw or normalization.score_kind(env) == "raw":
    return raw
  return normalization.game_scores(raw, env)


def kind(scores_: Mapping[str, float], env: Mapping) -> str:
  """'normalized' when `scores` (from `scores`) were normalized, else 'raw'."""
  return "raw" if "all" in scores_ else normalization.score_kind(env)


def per_game_tables(runs: Mapping[str, str], split: str = artifacts.TEST) -> Optional[str]:
  """Markdown: each run's per-game return on `split` of its reported evaluation, and when the
  runs are Procgen easy mode, the normalized scores with their mean over games (the
  aggregate that does not let high-reward games dominate). None unless some run has two or
  more games."""
  data = {label: (run_games(wd, split)[0], env_section(wd)) for label, wd in runs.items()}
  games: List[str] = []
  for raw, _ in data.values():
    games += [g for g in raw if g not in games and g != "all"]
  if len(games) < 2:
    return None
  cell = lambda v: "-" if v is None else f"{v:.2f}"
  head = "| run | " + " | ".join(md_cell(g) for g in games)
  lines = [
    f"Return per game ({split.replace('_', ' ')}):",
    "",
    head + " | mean |",
    "|" + "---|" * (len(games) + 2),
  ]
  for label, (raw, _) in data.items():
    vals = [raw.get(g) for g in games]
    mean = np.mean([v for v in vals if v is not None]) if any(v is not None for v in vals) else None
    lines.append(
      f"| {md_cell(label)} | " + " | ".join(cell(v) for v in vals) + f" | {cell(mean)} |"
    )
  norm = {label: scores(raw, env) for label, (raw, env) in data.items() if raw}
  norm = {label: sc for label, sc in norm.items() if kind(sc, data[label][1]) == "normalized"}
  if norm:
    lines += [
      "",
      "Normalized score per game ((R - R_min) / (R_max - R_min), Procgen easy-mode "
      "constants of Cobbe et al. 2020) and their mean over games:",
      "",
      head + " | mean of normalized |",
      "|" + "---|" * (len(games) + 2),
    ]
    for label, sc in norm.items():
      vals = [sc.get(g) for g in games]
      known = [v for v in vals if v is not None]
      lines.append(
        f"| {md_cell(label)} | "
        + " | ".join(cell(v) for v in vals)
        + f" | {cell(np.mean(known) if known else None)} |"
      )
  return "\n".join(lines)
