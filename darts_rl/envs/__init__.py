"""Vectorized, auto-resetting host-side environments (Procgen, DM-Control from pixels).

`make_env(env_config, seed, split)` builds either kind from an ml_collections config; the
contract every env follows (obs, Step fields, episode bookkeeping) is in `base.py`.
Importing this package imports dm_control, which sets MUJOCO_GL=egl unless already set.
"""

from darts_rl.envs.base import (ActionSpec, BoxActions, DiscreteActions, EpisodeTracker, Step,
                                VecEnv)
from darts_rl.envs.dmc import DEFAULT_ACTION_REPEAT, DMC_TASKS, DMCVecEnv, make_dmc
from darts_rl.envs.procgen import MAX_REWARD, PROCGEN_GAMES, ProcgenVecEnv, make_procgen

# Test-split envs draw from a different seed stream than train envs of the same run.
TEST_SEED_OFFSET = 10_000
# Used for a DMC task without a released action repeat.
FALLBACK_ACTION_REPEAT = 4
SPLITS = ("train", "test")
KINDS = ("procgen", "dmc")


def parse_games(games) -> tuple:
    """('bigfish,starpilot',) or 'bigfish,starpilot' -> ('bigfish', 'starpilot').

    Command-line overrides of a tuple field arrive as one comma-joined string."""
    items = (games,) if isinstance(games, str) else tuple(games)
    return tuple(g.strip() for item in items for g in str(item).split(",") if g.strip())


def make_env(env_config, seed: int, split: str) -> VecEnv:
    """Builds the env batch described by `env_config` (a ConfigDict) for `split`.

    env_config.kind == 'procgen': games, num_envs, num_levels, start_level, distribution_mode.
      'train' uses num_levels/start_level; 'test' uses all levels (num_levels=0, start_level=0).
    env_config.kind == 'dmc': task, num_envs, action_repeat (0/None -> the task's released
      value), frame_stack, image_size; optional camera_id, time_limit.
    Both kinds seed the 'test' split with seed + TEST_SEED_OFFSET.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; valid splits: {', '.join(SPLITS)}")
    env_seed = seed + (TEST_SEED_OFFSET if split == "test" else 0)
    kind = env_config.kind
    if kind == "procgen":
        train = split == "train"
        return make_procgen(
            games=parse_games(env_config.games), num_envs=env_config.num_envs,
            num_levels=env_config.num_levels if train else 0,
            start_level=env_config.start_level if train else 0,
            distribution_mode=env_config.distribution_mode, seed=env_seed)
    if kind == "dmc":
        action_repeat = env_config.action_repeat or DEFAULT_ACTION_REPEAT.get(
            env_config.task, FALLBACK_ACTION_REPEAT)
        return make_dmc(
            task=env_config.task, num_envs=env_config.num_envs, seed=env_seed,
            action_repeat=action_repeat, frame_stack=env_config.frame_stack,
            image_size=env_config.image_size, camera_id=env_config.get("camera_id"),
            time_limit=env_config.get("time_limit"))
    raise ValueError(f"unknown env kind '{kind}'; valid kinds: {', '.join(KINDS)}")


__all__ = [
    "ActionSpec", "BoxActions", "DiscreteActions", "EpisodeTracker", "Step", "VecEnv",
    "DEFAULT_ACTION_REPEAT", "DMC_TASKS", "DMCVecEnv", "make_dmc",
    "MAX_REWARD", "PROCGEN_GAMES", "ProcgenVecEnv", "make_procgen",
    "TEST_SEED_OFFSET", "make_env",
]
