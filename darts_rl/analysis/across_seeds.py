"""The 'Across seeds' section of reports: per-seed scores, IQM and mean with 95%
stratified-bootstrap intervals, probability of improvement, performance profiles.

    methods = {"searched": [("seed 0", {"starpilot": 0.31}), ...], "impala": [...]}
    lines = section(methods, kind, out_dir)   # markdown lines; writes the profile figure

Every run of a method needs a score on the same games (a task per game); kind says whether
the scores are normalized per game or raw (analysis.normalization).
"""

import itertools
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from darts_rl import artifacts
from darts_rl.analysis import per_game, statistics
from darts_rl.analysis.render import decimals, md_cell

PROFILES_PNG = "performance_profiles.png"
Runs = Sequence[Tuple[str, Dict[str, float]]]  # (run label, {game: score})


def seed_runs(seeds_dir: str) -> List[Tuple[int, str]]:
  """[(seed, workdir)] of a seeds workdir's finished seeds (its seeds.jsonl)."""
  return [
    (r["seed"], os.path.join(seeds_dir, r["workdir"])) for r in artifacts.read_seeds(seeds_dir)
  ]


def group_runs(spec: str) -> Optional[List[Tuple[int, str]]]:
  """[(seed, workdir)] that `spec` stands for, or None when it is one run's workdir.

  A seeds workdir (launch/seeds.py) stands for its finished seeds; a comma-separated list
  of workdirs (seeds run one by one, each with its own launcher command) for those runs,
  each with the seed of its config.json. ValueError for a listed workdir without a readable
  config.json, or two with one seed.
  """
  if "," not in spec:
    return seed_runs(spec) if artifacts.seeds_run_phase(spec) is not None else None
  out = []
  for wd in (w for w in spec.split(",") if w):
    try:
      seed = int(artifacts.read_config(wd)["seed"])
    except (artifacts.ArtifactError, KeyError, TypeError, ValueError) as e:
      raise ValueError(f"{wd}: no seed in its {artifacts.CONFIG} ({e})") from None
    if seed in [s for s, _ in out]:
      raise ValueError(f"{wd}: seed {seed} is listed twice in '{spec}'")
    out.append((seed, wd))
  return out


def seed_scores(runs: Sequence[Tuple[int, str]]) -> Tuple[Runs, str]:
  """([('seed S', {game: score})], score kind) of [(seed, workdir)] (group_runs): each
  seed's reported evaluation (its fresh one when it has one) on test levels, normalized per
  game where possible."""
  out, kinds = [], set()
  for seed, wd in runs:
    raw, _ = per_game.run_games(wd)
    env = per_game.env_section(wd)
    if raw:
      sc = per_game.scores(raw, env)
      out.append((f"seed {seed}", sc))
      kinds.add(per_game.kind(sc, env))
  return out, ("normalized" if kinds == {"normalized"} else "raw")


def score_matrix(runs: Runs, games: Sequence[str]) -> np.ndarray:
  """[runs, games] scores; ValueError naming a run that lacks a game."""
  for label, sc in runs:
    missing = [g for g in games if g not in sc]
    if missing:
      raise ValueError(
        f"run '{label}' has no score on {', '.join(missing)}: every run of the "
        "comparison needs the same games"
      )
  return np.array([[sc[g] for g in games] for _, sc in runs], np.float64)


def _ci(t: Tuple[float, float, float], d: int) -> str:
  return f"{t[0]:.{d}f} [{t[1]:.{d}f}, {t[2]:.{d}f}]"


def section(
  methods: Mapping[str, Runs],
  kind: str,
  out_dir: str,
  png: str = PROFILES_PNG,
  against: Optional[str] = None,
  reps: Optional[int] = None,
) -> List[str]:
  """Markdown lines of the section (see the module doc); writes out_dir/png. against: a
  method that every other is compared with (P(X > against)); None: every pair. reps:
  bootstrap resamples of the intervals and of the profiles' bands (None: statistics'
  defaults)."""
  methods = {m: list(r) for m, r in methods.items() if r}
  if not methods:
    return []
  games = sorted({g for runs in methods.values() for _, sc in runs for g in sc})
  try:
    scores = {m: score_matrix(runs, games) for m, runs in methods.items()}
  except ValueError as e:
    return [f"No aggregates: {e}.", ""]
  what = (
    "normalized score (per game: (R - R_min) / (R_max - R_min), Procgen easy mode)"
    if kind == "normalized"
    else "return"
  )
  lines = [
    f"Score: each run's reported evaluation (its fresh one when it has one) on test "
    f"levels, as {what}; a task per game ({', '.join(games)}). Seeds are the unit: "
    "intervals come from a stratified bootstrap over runs (rliable), not from the "
    "episodes of one policy.",
    "",
    "| method | run | " + " | ".join(md_cell(g) for g in games) + " |",
    "|" + "---|" * (len(games) + 2),
  ]
  d = decimals(v for sc in scores.values() for v in sc.ravel())
  for m, runs in methods.items():
    for label, sc in runs:
      lines.append(
        f"| {md_cell(m)} | {md_cell(label)} | " + " | ".join(f"{sc[g]:.{d}f}" for g in games) + " |"
      )
  resamples = {} if reps is None else {"reps": reps}
  est = statistics.interval_estimates(scores, **resamples)
  lines += ["", "| method | runs | IQM [95% CI] | mean [95% CI] |", "|---|---|---|---|"]
  lines += [
    f"| {md_cell(m)} | {len(scores[m])} | {_ci(est[m]['IQM'], d)} | {_ci(est[m]['mean'], d)} |"
    for m in scores
  ]
  if len(scores) > 1:
    lines += [
      "",
      "Probability of improvement P(X > Y): the chance that a run of X scores "
      "above a run of Y on a game (ties count half), averaged over games.",
      "",
      "| X | Y | P(X > Y) |",
      "|---|---|---|",
    ]
    pairs = (
      itertools.combinations(scores, 2)
      if against not in scores
      else [(x, against) for x in scores if x != against]
    )
    for x, y in pairs:
      p = statistics.probability_of_improvement(scores[x], scores[y])
      lines.append(f"| {md_cell(x)} | {md_cell(y)} | {p:.2f} |")
  statistics.plot_performance_profiles(scores, what, os.path.join(out_dir, png), reps)
  lines += ["", f"![performance profiles]({png})", ""]
  return lines
