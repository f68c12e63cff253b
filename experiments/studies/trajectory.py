"""Trajectory: does DARTS improve the discrete cell as its search goes on? (the paper's central
ablation). Each PPO search on starpilot is discretized at several points of its alphas history;
every cell is retrained from scratch; the report plots the cells' test return against search
progress next to the supernet's own return there, with their rank correlation.

  python launch/study.py --study=experiments/studies/trajectory.py:cpu --workdir=W
Sizes: smoke (one seed, two points: the test suite), cpu (2 seeds x 3 points; with the
efficiency study's random cells it fits about two hours of two CPU cores), full (3 seeds x 4
points at the paper's PPO settings).
"""

from darts_rl import studies

CONFIG = "experiments/ppo_procgen.py"
POINTS = {"smoke": (0.5, 1.0), "cpu": (1 / 3, 2 / 3, 1.0), "full": (0.25, 0.5, 0.75, 1.0)}
# At cpu size: no eigenvalue probes during the search (the report does not read them; they cost
# ~30% of its time) and 65,536 env steps per trained cell (ppo_procgen's evaluate,cpu trains
# 98,304), so that this study and the efficiency study's random cells (the same budget each)
# fit about two hours of two cores.
SEARCH = {"cpu": {"arch.eigen_every_updates": 0}}
TRAIN = {"cpu": {"loop.total_env_steps": 65_536}}


def method(name: str, config: str, size: str) -> studies.Method:
  """The DARTS method both this study and the efficiency study run (so they share its runs)."""
  return studies.darts(
    name, config, at=POINTS[size], search=SEARCH.get(size), retrain=TRAIN.get(size)
  )


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
    methods=(method("darts", CONFIG, size),),
    reports=("trajectory",),
  )
