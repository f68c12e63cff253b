"""SAC on DM-Control from pixels: the searched cell against the 4-layer CNN on each of the
release's six tasks, each with the release's action repeat, initial random steps and budget
(experiments/sac_dmc.py's per-task defaults at the full size).

  python launch/study.py --study=experiments/studies/sac_tasks.py:full --workdir=W
Sizes: smoke (cartpole, one seed), cpu (cartpole, 2 seeds), full (six tasks, 3 seeds).
"""

from darts_rl import studies

CONFIG = "experiments/sac_dmc.py"
TASKS = {
  "smoke": ("cartpole-swingup",),
  "cpu": ("cartpole-swingup",),
  "full": (
    "cartpole-swingup",
    "reacher-easy",
    "ball_in_cup-catch",
    "finger-spin",
    "cheetah-run",
    "walker-walk",
  ),
}


def get_study(arg=None) -> studies.Study:
  size, _ = studies.parse_variant(arg)
  return studies.Study(
    name="sac_tasks",
    size=size,
    description="SAC from pixels: each task's searched cell against the 4-layer CNN.",
    env_field="env.task",
    envs=tuple((t, t) for t in TASKS[size]),
    seeds=studies.SEEDS[size],
    methods=(
      studies.darts("darts", CONFIG),
      studies.Method("cnn4", (studies.Baseline(f"{CONFIG}:baseline,{{size}}"),)),
    ),
    reports=("per_game",),
  )
