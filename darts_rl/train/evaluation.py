"""Policy evaluation on separate env groups (train levels or unseen test levels).

Every device evaluates its own env group (darts_rl/train/actors.py, `run_episodes`); each of
the run's N eval envs contributes its first ceil(episodes / N) episodes, and the per-env
returns of all processes are gathered before the summary, so every process returns the same.
"""
from typing import Dict, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from darts_rl import parallel
from darts_rl.train.actors import Actors

SPLIT_NAMES = {"train": "train_levels", "test": "test_levels"}
# Eval envs of split i draw from their own seed stream, apart from the training envs'.
EVAL_SEED_STRIDE = 7919


def evaluate(config, eval_act, learner, devices: parallel.Devices, key, splits: Sequence[str],
             episodes: int, max_env_steps: int) -> Dict[str, Dict]:
  """{split: summary} for each split; summary as in `summarize`."""
  out = {}
  for i, split in enumerate(splits):
    actors = Actors(config.env, config.seed + EVAL_SEED_STRIDE * (i + 1), split, devices)
    try:
      res = actors.run_episodes(eval_act, learner, episodes, jax.random.fold_in(key, i),
                                max_env_steps)
      out[split] = summarize(res, actors, devices)
    finally:
      actors.close()
  return out


def summarize(res: Dict, actors: Actors, devices: parallel.Devices) -> Dict:
  """Gathers every process's per-env returns -> {'mean_return', 'std_return', 'episodes',
  'per_game': {game: mean}, 'capped'} over the run's eval envs (identical on every process).
  `capped`: loop.eval_max_env_steps ended the evaluation before every env finished its share
  (`episodes` then counts the finished ones)."""
  first_row = devices.first * actors.n
  rows = [(first_row + i, r) for i, rs in enumerate(res["returns"]) for r in rs]
  env_ids = parallel.allgather_ragged(np.asarray([e for e, _ in rows], np.float64))
  returns = parallel.allgather_ragged(np.asarray([r for _, r in rows], np.float64))
  capped = bool(parallel.process_allgather(np.asarray([res["capped"]], np.int32)).max())
  games = actors.spec.game_ids[env_ids.astype(np.int64)]
  per_game = {name: float(returns[games == g].mean())
              for g, name in enumerate(actors.spec.game_names) if np.any(games == g)}
  return {"mean_return": float(returns.mean()) if returns.size else float("nan"),
          "std_return": float(returns.std()) if returns.size else float("nan"),
          "episodes": int(returns.size), "per_game": per_game, "capped": capped}


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
    return jax.vmap(lambda k: jax.random.uniform(k, shape, jnp.float32, self.spec.low,
                                                 self.spec.high))(keys)
