"""Policy evaluation on separate env groups (train levels or unseen test levels).

Every device evaluates its own env group (darts_rl/train/actors.py, `run_episodes`); each of
the run's N eval envs contributes its first ceil(episodes / N) episodes, and the per-env
returns of all processes are gathered before the summary, so every process returns the same.
"""

from typing import Dict, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from darts_rl import parallel
from darts_rl.train.actors import Actors

# Eval envs of split i draw from their own seed stream, apart from the training envs'.
EVAL_SEED_STRIDE = 7919
# A fresh evaluation (seed_offset K >= 1) moves every eval seed by K strides, past any other.
FRESH_SEED_STRIDE = 1_000_003
# loop.eval_batch=0 (auto) on XLA:CPU: a quarter of a device's eval envs per acting call, at
# least this many. A convolution's cost per sample on CPU barely grows as the batch shrinks
# from 32 to 8 (+10 %), so computing only the rows that still owe episodes pays; on an
# accelerator, where a call's fixed cost dominates at these sizes, auto keeps one call.
MIN_AUTO_EVAL_BATCH = 8


def check_eval_batch(setting: int) -> None:
  """loop.eval_batch must be 0 (auto) or a positive row count: else one ValueError line."""
  if not isinstance(setting, int) or setting < 0:
    raise ValueError(
      f"loop.eval_batch={setting!r} must be 0 (auto) or the number >= 1 of env rows per "
      "acting call in evaluation"
    )


def eval_batch(setting: int, n: int) -> int:
  """loop.eval_batch -> env rows per acting call for a device's n eval envs (Actors.run_episodes):
  the setting (at most n), or for 0 (auto) on XLA:CPU a quarter of n, at least
  MIN_AUTO_EVAL_BATCH, and n (one call per env step) on accelerators."""
  check_eval_batch(setting)
  if setting:
    return min(setting, n)
  if jax.default_backend() == "cpu":
    return min(n, max(MIN_AUTO_EVAL_BATCH, -(-n // 4)))
  return n


def evaluate(
  config,
  eval_act,
  learner,
  devices: parallel.Devices,
  key,
  splits: Sequence[str],
  episodes: int,
  max_env_steps: int,
  seed_offset: int = 0,
  compiled: Optional[Dict] = None,
) -> Dict[str, Dict]:
  """{split: summary} for each split; summary as in `summarize`. seed_offset K >= 1: a fresh
  evaluation, on eval envs seeded apart from those of every evaluation with another K.
  compiled: compiled acting steps to share (Actors.compiled of the run's training actors):
  the evaluation step is compiled once per run, not once per split and evaluation."""
  out = {}
  base = config.seed + FRESH_SEED_STRIDE * seed_offset
  compiled = {} if compiled is None else compiled
  for i, split in enumerate(splits):
    seed = base + EVAL_SEED_STRIDE * (i + 1)
    actors = Actors(config.env, seed, split, devices, compiled=compiled)
    try:
      res = actors.run_episodes(
        eval_act,
        learner,
        episodes,
        jax.random.fold_in(key, i),
        max_env_steps,
        eval_batch(config.loop.eval_batch, actors.n),
      )
      out[split] = summarize(res, actors, devices)
    finally:
      actors.close()
  return out


def summarize(res: Dict, actors: Actors, devices: parallel.Devices) -> Dict:
  """Gathers every process's per-env returns -> {'mean_return', 'std_return' (n-1: the sample
  std), 'stderr_return' (std_return / sqrt(n)), 'episodes', 'per_game': {game: mean},
  'capped'} over the run's eval envs (identical on every process). With one episode the std
  and standard error are NaN (unknown), not 0.
  `capped`: loop.eval_max_env_steps ended the evaluation before every env finished its share
  (`episodes` then counts the finished ones)."""
  first_row = devices.first * actors.n
  rows = [(first_row + i, r) for i, rs in enumerate(res["returns"]) for r in rs]
  env_ids = parallel.allgather_ragged(np.asarray([e for e, _ in rows], np.float64))
  returns = parallel.allgather_ragged(np.asarray([r for _, r in rows], np.float64))
  capped = bool(parallel.process_allgather(np.asarray([res["capped"]], np.int32)).max())
  games = actors.spec.game_ids[env_ids.astype(np.int64)]
  per_game = {
    name: float(returns[games == g].mean())
    for g, name in enumerate(actors.spec.game_names)
    if np.any(games == g)
  }
  n = returns.size
  std = float(returns.std(ddof=1)) if n > 1 else float("nan")
  return {
    "mean_return": float(returns.mean()) if n else float("nan"),
    "std_return": std,
    "stderr_return": std / np.sqrt(n) if n > 1 else float("nan"),
    "episodes": int(n),
    "per_game": per_game,
    "capped": capped,
  }


class RandomPolicy:
  """Uniform random actions: the 'random policy' reference that learning is compared with."""

  def __init__(self, action_spec):
    self.spec = action_spec

  def eval_act(self, learner, obs, keys):
    """One uniform action per env row (from its key); learner and obs are ignored."""
    del learner, obs
    if hasattr(self.spec, "num_actions"):
      return jax.vmap(lambda k: jax.random.randint(k, (), 0, self.spec.num_actions))(keys)
    shape = tuple(self.spec.shape)
    return jax.vmap(
      lambda k: jax.random.uniform(k, shape, jnp.float32, self.spec.low, self.spec.high)
    )(keys)
