"""Transfer: a cell searched on one game retrained on others, next to each game's own searched
cell and the IMPALA-CNN (PPO).

  python launch/study.py --study=experiments/studies/transfer.py:full --workdir=W
Sizes: smoke (starpilot's cell on bigfish, one seed; the own cell and the IMPALA-CNN on
starpilot only), cpu (starpilot's cell on bigfish, 2 seeds), full (starpilot's cell on five
other games, 3 seeds).
"""

from darts_rl import studies

CONFIG = "experiments/ppo_procgen.py"
SOURCE = "starpilot"
TARGETS = {
  "smoke": ("bigfish",),
  "cpu": ("bigfish",),
  "full": ("bigfish", "bossfight", "chaser", "coinrun", "jumper"),
}


def get_study(arg=None) -> studies.Study:
  size, _ = studies.parse_variant(arg)
  # smoke: the source's own cell and baseline only (the smallest grid with every phase; the
  # per-game study shares both)
  source_only = (SOURCE,) if size == "smoke" else None
  return studies.Study(
    name="transfer",
    size=size,
    description=(
      f"PPO: the cell searched on {SOURCE} retrained on other games, against each game's own "
      "searched cell and the IMPALA-CNN."
    ),
    env_field="env.games",
    envs=studies.games(SOURCE, *TARGETS[size]),
    seeds=studies.SEEDS[size],
    methods=(
      studies.darts("darts", CONFIG, envs=source_only),
      studies.Method(
        f"from_{SOURCE}",
        (studies.Retrain(f"{CONFIG}:evaluate,{{size}}", source=("darts", SOURCE)),),
        envs=TARGETS[size],
      ),
      studies.Method("impala", (studies.Baseline(f"{CONFIG}:baseline,{{size}}"),), source_only),
    ),
    reports=("per_game",),
  )
