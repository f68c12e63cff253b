"""Trajectory: does DARTS improve the discrete cell as its search goes on? (the paper's central
ablation). Each PPO search on starpilot is discretized at several points of its alphas history;
every cell is retrained from scratch; the report plots the cells' test return against search
progress next to the supernet's own return there, with their rank correlation.

  python launch/study.py --study=experiments/studies/trajectory.py:cpu --workdir=W
Sizes: smoke (one seed, two points: the test suite), cpu (2 seeds x 4 points on 2 CPU cores),
full (3 seeds x 4 points at the paper's PPO settings).
"""

from darts_rl import studies

CONFIG = "experiments/ppo_procgen.py"
POINTS = {"smoke": (0.5, 1.0), "cpu": (0.25, 0.5, 0.75, 1.0), "full": (0.25, 0.5, 0.75, 1.0)}


def get_study(arg=None) -> studies.Study:
  size, _ = studies.parse_variant(arg)
  return studies.Study(
    name="trajectory",
    size=size,
    description=(
      "PPO on Procgen starpilot: the searched cell discretized at several points of the "
      "search and retrained from scratch, against the supernet's own return there."
    ),
    env_field="env.games",
    envs=studies.games("starpilot"),
    seeds=studies.SEEDS[size],
    methods=(studies.darts("darts", CONFIG, at=POINTS[size]),),
    reports=("trajectory",),
  )
