"""Vectorized, auto-resetting host-side environments (Procgen, DM-Control from pixels).

`make_env(env_config, seed, split)` builds either kind from an ml_collections config; the
contract every env follows (obs, Step fields, episode bookkeeping) is in `base.py`.
Importing this package sets MUJOCO_GL=egl unless already set (for dm_control, imported when a
DM-Control env is first built).
"""

import os

from darts_rl import processes
from darts_rl.envs.base import ActionSpec, BoxActions, DiscreteActions, EpisodeTracker, Step, VecEnv
from darts_rl.envs.dmc import (
  DEFAULT_ACTION_REPEAT,
  FALLBACK,
  RELEASED,
  DMCVecEnv,
  dmc_tasks,
  make_dmc,
  parse_task,
)
from darts_rl.envs.procgen import (
  MAX_REWARD,
  PROCGEN_GAMES,
  ProcgenVecEnv,
  check_procgen,
  make_procgen,
)

# Test- and validation-split envs draw from their own seed streams, apart from the train envs'
# of the same run (and from each other's).
TEST_SEED_OFFSET = 10_000
VALIDATION_SEED_OFFSET = 20_000
SPLIT_SEED_OFFSETS = {"train": 0, "test": TEST_SEED_OFFSET, "validation": VALIDATION_SEED_OFFSET}
# Used for a DMC task without a released action repeat.
FALLBACK_ACTION_REPEAT = FALLBACK.action_repeat
SPLITS = ("train", "test", "validation")
KINDS = ("procgen", "dmc")


def with_task_defaults(config):
  """`config` with the DM-Control fields that say "the task's released value" filled in from
  the task (RELEASED): sac.init_random_env_steps -1 and loop.total_env_steps 0 (action repeat
  0 is resolved where the env is made). Other configs come back as they are."""
  if config.env.kind != "dmc" or "sac" not in config:
    return config
  todo = config.sac.init_random_env_steps < 0 or config.loop.total_env_steps <= 0
  if not todo:
    return config
  released = RELEASED.get(config.env.task, FALLBACK)
  c = config.copy_and_resolve_references()
  if c.sac.init_random_env_steps < 0:
    c.sac.init_random_env_steps = released.init_random_env_steps
  if c.loop.total_env_steps <= 0:
    c.loop.total_env_steps = released.total_env_steps
  return c


def parse_games(games) -> tuple:
  """('bigfish,starpilot',) or 'bigfish,starpilot' -> ('bigfish', 'starpilot').

  Command-line overrides of a tuple field arrive as one comma-joined string."""
  items = (games,) if isinstance(games, str) else tuple(games)
  return tuple(g.strip() for item in items for g in str(item).split(",") if g.strip())


def envs_per_group(env_config, num_groups: int) -> int:
  """env_config.num_envs counts all envs of the run (every device of every process); each
  of the `num_groups` env groups (one per device) gets an equal share."""
  n = env_config.num_envs
  if n <= 0 or n % num_groups:
    raise ValueError(
      f"env.num_envs={n} (all devices together) must be a positive multiple "
      f"of the number of devices ({num_groups}): each device steps an equal "
      "group of envs"
    )
  return n // num_groups


def make_env(
  env_config, seed: int, split: str, group: int = 0, num_groups: int = 1, local_groups: int = 1
) -> VecEnv:
  """Builds env group `group` of `num_groups` described by `env_config` for `split`.

  The run's env.num_envs envs are split into one group per device; group g's envs are
  seeded by (seed, g), so a group plays the same levels whichever process steps it.
  env_config.kind == 'procgen': games, num_envs, num_levels, start_level, distribution_mode,
    num_threads (0: the cores this process may use, shared by the Procgen instances of its
    `local_groups` groups).
    'train' uses num_levels/start_level; 'test' uses all levels (num_levels=0, start_level=0);
    'validation' uses validation_num_levels/validation_start_level, which must not overlap
    the training levels (procgen_levels).
  env_config.kind == 'dmc': task, num_envs, action_repeat (0/None -> the task's released
    value), frame_stack, image_size, camera_id and time_limit (None: the suite's; fields of
    a DM-Control env config alone). Row r of the run is seeded by (seed, r) whatever the
    grouping. It has no levels: its validation and test splits are fresh seeds.
  Both kinds seed the 'test' split with seed + TEST_SEED_OFFSET and the 'validation' split
  with seed + VALIDATION_SEED_OFFSET.
  """
  if split not in SPLITS:
    raise ValueError(f"unknown split '{split}'; valid splits: {', '.join(SPLITS)}")
  if not 0 <= group < num_groups:
    raise ValueError(f"env group {group} out of range for {num_groups} groups")
  env_seed = seed + SPLIT_SEED_OFFSETS[split]
  n = envs_per_group(env_config, num_groups)
  kind = env_config.kind
  if kind == "procgen":
    games = parse_games(env_config.games)
    num_levels, start_level = procgen_levels(env_config, split)
    return make_procgen(
      games=games,
      num_envs=n,
      num_levels=num_levels,
      start_level=start_level,
      distribution_mode=env_config.distribution_mode,
      seed=env_seed,
      group=group,
      num_threads=procgen_threads(env_config.num_threads, local_groups * len(games)),
    )
  if kind == "dmc":
    action_repeat = env_config.action_repeat or DEFAULT_ACTION_REPEAT.get(
      env_config.task, FALLBACK_ACTION_REPEAT
    )
    return make_dmc(
      task=env_config.task,
      num_envs=n,
      seed=env_seed,
      action_repeat=action_repeat,
      frame_stack=env_config.frame_stack,
      image_size=env_config.image_size,
      camera_id=env_config.camera_id,
      time_limit=env_config.time_limit,
      first_row=group * n,
    )
  raise ValueError(f"unknown env kind '{kind}'; valid kinds: {', '.join(KINDS)}")


def check_config(env_config, splits, num_groups: int = 1) -> None:
  """Every check make_env does for `splits`, without building an env (so a run refuses a bad
  env config before it writes anything): ValueError naming the problem."""
  for split in splits:
    if split not in SPLITS:
      raise ValueError(f"unknown split '{split}'; valid splits: {', '.join(SPLITS)}")
  n = envs_per_group(env_config, num_groups)
  if env_config.kind == "procgen":
    for split in splits:
      num_levels, start_level = procgen_levels(env_config, split)
      check_procgen(
        parse_games(env_config.games), n, env_config.distribution_mode, num_levels, start_level
      )
    procgen_threads(env_config.num_threads, 1)
  elif env_config.kind == "dmc":
    parse_task(env_config.task)
  else:
    raise ValueError(f"unknown env kind '{env_config.kind}'; valid kinds: {', '.join(KINDS)}")


def procgen_levels(env_config, split: str) -> tuple:
  """(num_levels, start_level) of a Procgen split: train, the config's training levels;
  test, all levels (0, 0); validation, the config's validation levels, refused when they
  overlap the training levels (validation must be levels training never saw)."""
  if split == "train":
    return env_config.num_levels, env_config.start_level
  if split == "test":
    return 0, 0
  n, start = env_config.validation_num_levels, env_config.validation_start_level
  train_n, train_start = env_config.num_levels, env_config.start_level
  if n <= 0 or start < 0:
    raise ValueError(
      f"env.validation_num_levels must be >= 1 and env.validation_start_level "
      f">= 0, got {n} and {start}"
    )
  if train_n == 0:
    raise ValueError(
      "env.num_levels=0 trains on all levels: no level is held out for the "
      "validation split; train on a finite set or drop 'validation' from "
      "loop.eval_splits"
    )
  if start < train_start + train_n and train_start < start + n:
    raise ValueError(
      f"validation levels [{start}, {start + n}) overlap the training levels "
      f"[{train_start}, {train_start + train_n}): move "
      "env.validation_start_level"
    )
  return n, start


def procgen_threads(num_threads: int, instances: int) -> int:
  """Worker threads per Procgen instance: num_threads if set, else this process's usable
  cores (processes.usable_core_count: a Ray trial's core count) shared by its `instances`
  (one per game per local env group), at least 1."""
  if num_threads < 0:
    raise ValueError(f"env.num_threads must be >= 0 (0: automatic), got {num_threads}")
  if num_threads:
    return num_threads
  return max(1, processes.usable_core_count() // max(instances, 1))


__all__ = [
  "ActionSpec",
  "BoxActions",
  "DiscreteActions",
  "EpisodeTracker",
  "Step",
  "VecEnv",
  "DEFAULT_ACTION_REPEAT",
  "FALLBACK",
  "RELEASED",
  "with_task_defaults",
  "dmc_tasks",
  "DMCVecEnv",
  "make_dmc",
  "MAX_REWARD",
  "PROCGEN_GAMES",
  "ProcgenVecEnv",
  "make_procgen",
  "TEST_SEED_OFFSET",
  "VALIDATION_SEED_OFFSET",
  "envs_per_group",
  "make_env",
  "procgen_levels",
]
