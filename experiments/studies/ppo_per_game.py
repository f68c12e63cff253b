"""PPO per game: search -> discretize -> retrain on each Procgen game, next to the IMPALA-CNN
(the paper's "competitive with IMPALA-CNN" PPO results, which use the macro space).

  python launch/study.py --study=experiments/studies/ppo_per_game.py:full --workdir=W
  python launch/study.py --study=experiments/studies/ppo_per_game.py:full,macro --workdir=W
Report: per game the retrained cell and the baseline (raw, normalized, % of IMPALA-CNN), then
IQM and mean with intervals over seeds, probability of improvement, performance profiles.
Sizes: smoke (starpilot, one seed), cpu (starpilot, 2 seeds), full (16 games, 3 seeds).
"""

from darts_rl import studies
from darts_rl.envs.procgen import PROCGEN_GAMES

MACRO = "macro"
GAMES = {"smoke": ("starpilot",), "cpu": ("starpilot",), "full": PROCGEN_GAMES}


def get_study(arg=None) -> studies.Study:
  size, flags = studies.parse_variant(arg, (MACRO,))
  macro = MACRO in flags
  cfg = "experiments/ppo_procgen_macro.py" if macro else "experiments/ppo_procgen.py"
  return studies.Study(
    name="ppo_per_game_macro" if macro else "ppo_per_game",
    size=size,
    description=(
      f"PPO, {'macro' if macro else 'micro'} space: each game's searched cell retrained from "
      "scratch, against the IMPALA-CNN."
    ),
    env_field="env.games",
    envs=studies.games(*GAMES[size]),
    seeds=studies.SEEDS[size],
    methods=(
      studies.darts("darts_macro" if macro else "darts", cfg),
      studies.Method("impala", (studies.Baseline("experiments/ppo_procgen.py:baseline,{size}"),)),
    ),
    reports=("per_game",),
  )
