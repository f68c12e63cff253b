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
TRIALS = {"smoke": 2, "cpu": 4, "full": 24}


def get_study(arg=None) -> studies.Study:
  size, flags = studies.parse_variant(arg, (RAINBOW,))
  config = "experiments/rainbow_procgen.py" if RAINBOW in flags else trajectory.CONFIG
  darts = trajectory.darts_method(size)
  if RAINBOW in flags:
    darts = studies.Method(
      "darts_rainbow",
      (
        studies.Search(f"{config}:search,{{size}}"),
        studies.Retrain(f"{config}:evaluate,{{size}}", at=trajectory.POINTS[size]),
      ),
    )
  random = studies.Method(
    "random_rainbow" if RAINBOW in flags else "random",
    (
      studies.RandomCells(f"{config}:search,{{size}}", f"{config}:evaluate,{{size}}", TRIALS[size]),
    ),
  )
  return studies.Study(
    name="efficiency_rainbow" if RAINBOW in flags else "efficiency",
    size=size,
    description=(
      f"{'Rainbow' if RAINBOW in flags else 'PPO'} on Procgen starpilot: cells of one DARTS "
      f"search along its trajectory against {TRIALS[size]} random cells of the same space, by "
      "compute."
    ),
    env_field="env.games",
    envs=studies.games("starpilot"),
    seeds=trajectory.SEEDS[size],
    methods=(darts, random),
    reports=("trajectory", "efficiency"),
  )
