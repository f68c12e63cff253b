"""Robust search options, one at a time: does any of them stop the collapse toward
parameter-free ops? SAC on DM-Control cartpole-swingup from pixels, where the default search
collapses (experiments/results/robust_sac_cartpole_cpu): the default DARTS search against each
option alone at its paper's setting and against the `robust` bundle, every arm with the same
collapse monitor. The report compares the searches themselves (their collapse monitor, the
cells discretized at their end and their own final evaluation); it retrains no cell.

  python launch/study.py --study=experiments/studies/robust_ablation.py:cpu --workdir=W --parallel=2
Sizes: smoke (one seed), cpu (2 seeds, 2,000 env steps a search, a probe every 100 arch
updates: 16 searches), full (3 seeds at the full config's cartpole budget).
docs/robust_search.md defines each option and how it departs from its paper's code.
"""

from darts_rl import studies

CONFIG = "experiments/sac_dmc.py"
# (arm, the config flags that turn its option on), each option at its paper's setting.
ARMS = (
  ("darts", {}),  # first-order DARTS, the paper's search
  ("beta_decay", {"arch.beta_decay": 1.0}),  # beta-DARTS: Beta-Decay, lambda rising to 1
  ("sdarts", {"arch.smoothing_eps": 0.3}),  # SDARTS-RS: eps ramped 0.03 -> 0.3
  ("early_stop", {"arch.early_stop": True}),  # RobustDARTS: stop the alphas, roll back
  ("darts_ada", {"arch.early_stop": True, "arch.adaptive_l2": 3e-4}),  # RobustDARTS: DARTS-ADA
  ("drop_path", {"arch.drop_path": 0.2}),  # ScheduledDropPath, rising to 0.2
  ("second_order", {"arch.mode": "second_order"}),  # DARTS's second-order step
)
# The bundle: the experiment configs' `robust` variant (Beta-Decay, SDARTS, early stopping).
ROBUST = "robust"
# Every arm runs the collapse monitor at the same cadence (arch updates between eigenvalue
# probes; early stopping reads it), so their tables compare. At cpu size every 100 of a
# search's 1,500 arch updates: 15 probes, enough for early stopping's windows (5 probes, lag 4)
# after its warm-up; the ops' ranking settles within the first 1,000 env steps on this task
# (experiments/results/robust_sac_cartpole_cpu), so 2,000 env steps cover it twice.
MONITOR = {"smoke": 4, "cpu": 100, "full": 1000}
BUDGET = {"smoke": None, "cpu": 2_000, "full": None}  # env steps a search (None: the config's)


def _search(config: str, size: str, flags: dict) -> studies.Search:
  overrides = dict(flags)
  if MONITOR[size]:
    overrides["arch.eigen_every_updates"] = MONITOR[size]
  if BUDGET[size]:
    overrides["loop.total_env_steps"] = BUDGET[size]
  return studies.Search(config, overrides)


def get_study(arg=None) -> studies.Study:
  size, _ = studies.parse_variant(arg)
  search = f"{CONFIG}:search,{{size}}"
  arms = [
    studies.Method(name, (_search(search, size, flags), studies.Cells())) for name, flags in ARMS
  ]
  arms.append(studies.Method(ROBUST, (_search(f"{search},{ROBUST}", size, {}), studies.Cells())))
  return studies.Study(
    name="robust_ablation",
    size=size,
    description=(
      "SAC on DM-Control cartpole-swingup: the default DARTS search against each robust "
      "option alone and against the robust bundle; collapse monitor, cells and returns."
    ),
    env_field="env.task",
    envs=(("cartpole-swingup", "cartpole-swingup"),),
    seeds=studies.SEEDS[size],
    methods=tuple(arms),
    reports=("collapse",),
  )
