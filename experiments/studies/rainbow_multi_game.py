"""Rainbow multi-game: one search over several Procgen games at once, its cell retrained, next
to the IMPALA-CNN (the paper's "up to 250% of IMPALA-CNN"), with per-game normalized scores.

  python launch/study.py --study=experiments/studies/rainbow_multi_game.py:full --workdir=W
Sizes: smoke (2 games, one seed), cpu (4 games, 2 seeds), full (the 16 games, 3 seeds).
"""

from darts_rl import studies
from experiments.rainbow_procgen import MULTI_GAMES

CONFIG = "experiments/rainbow_procgen.py"


def get_study(arg=None) -> studies.Study:
  size, _ = studies.parse_variant(arg)
  games = tuple(MULTI_GAMES[size])
  return studies.Study(
    name="rainbow_multi_game",
    size=size,
    description=(
      f"Rainbow on {len(games)} Procgen games at once: the searched cell retrained from "
      "scratch, against the IMPALA-CNN, per game."
    ),
    env_field="env.games",
    envs=((f"{len(games)}games", games),),
    seeds=studies.SEEDS[size],
    methods=(
      studies.darts("darts", f"{CONFIG}:multi"),
      studies.Method("impala", (studies.Baseline(f"{CONFIG}:baseline,{{size}},multi"),)),
    ),
    reports=("per_game",),
  )
