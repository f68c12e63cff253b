"""Efficiency: DARTS against random search in the same space (the paper's "up to 30x").

The trajectory study's cells (a search discretized at several points, each retrained) next to
random cells sampled uniformly from the same space, each trained like a retrain and selected
on validation levels; the report plots best-so-far return against cumulative env steps and
gives the compute ratio at which DARTS first reaches random search's final pick, per seed and
as a geometric mean with a bootstrap interval over seeds. The paper ran this with Rainbow;
the study uses PPO (`rainbow` variant: Rainbow on starpilot).

  python launch/study.py --study=experiments/studies/efficiency.py:cpu --workdir=W
Run in the same --workdir as the trajectory study, it reuses that study's searches and cells.
"""

from darts_rl import studies
from experiments.studies import trajectory

RAINBOW = "rainbow"
TRIALS = {"smoke": 1, "cpu": 2, "full": 24}


def get_study(arg=None) -> studies.Study:
  size, flags = studies.parse_variant(arg, (RAINBOW,))
  rainbow = RAINBOW in flags
  config = "experiments/rainbow_procgen.py" if rainbow else trajectory.CONFIG
  suffix = "_rainbow" if rainbow else ""
  budget = {} if rainbow else trajectory.TRAIN.get(size, {})  # a retrain's budget
  random = studies.RandomCells(
    f"{config}:search,{{size}}", f"{config}:evaluate,{{size}}", TRIALS[size], budget
  )
  return studies.Study(
    name=f"efficiency{suffix}",
    size=size,
    description=(
      f"{'Rainbow' if rainbow else 'PPO'} on Procgen starpilot: cells of one DARTS search "
      f"along its trajectory against {TRIALS[size]} random cells of the same space, by compute."
    ),
    env_field="env.games",
    envs=studies.games("starpilot"),
    seeds=studies.SEEDS[size],
    methods=(
      trajectory.method(f"darts{suffix}", config, size),
      studies.Method(f"random{suffix}", (random,)),
    ),
    reports=("trajectory", "efficiency"),
  )
