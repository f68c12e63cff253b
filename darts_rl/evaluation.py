"""Policy evaluation on a separate vector env (train levels or unseen test levels)."""
import math
from typing import Dict

import jax
import numpy as np


def evaluate(agent, state, env, num_episodes: int, key, max_env_steps: int = 100_000) -> Dict:
  """Runs agent.act(evaluation=True) until every env finished its share of episodes.

  Each of the N envs contributes its first ceil(num_episodes / N) episodes, so short episodes
  are not over-counted. Returns {'mean_return', 'std_return', 'episodes', 'per_game': {...}},
  plus 'capped': True when max_env_steps (summed over envs) ended it before every env's share
  finished (then 'episodes' counts only the finished ones).
  """
  n = env.num_envs
  quota = max(1, math.ceil(num_episodes / n))
  returns = [[] for _ in range(n)]
  obs = env.reset()
  steps = 0
  while min(len(r) for r in returns) < quota and steps < max_env_steps:
    key, k = jax.random.split(key)
    step = env.step(agent.act(state, obs, k, evaluation=True))
    obs = step.obs
    steps += n
    for i in np.flatnonzero(~np.isnan(step.episode_return)):
      if len(returns[i]) < quota:
        returns[i].append(float(step.episode_return[i]))
  flat = np.array([x for r in returns for x in r], np.float64)
  per_game = {}
  for g, name in enumerate(env.game_names):
    vals = [x for i in np.flatnonzero(env.game_ids == g) for x in returns[i]]
    if vals:
      per_game[name] = float(np.mean(vals))
  return {"mean_return": float(flat.mean()) if flat.size else float("nan"),
          "std_return": float(flat.std()) if flat.size else float("nan"),
          "episodes": int(flat.size), "per_game": per_game,
          "capped": bool(min(len(r) for r in returns) < quota)}


class UniformRandomAgent:
  """Uniform random actions: the 'random policy' reference that learning is compared with."""

  def __init__(self, action_spec, seed: int):
    self.spec = action_spec
    self.rng = np.random.default_rng(seed)

  def act(self, state, obs, key, evaluation: bool = True):
    n = obs.shape[0]
    if hasattr(self.spec, "num_actions"):
      return self.rng.integers(self.spec.num_actions, size=n)
    return self.rng.uniform(self.spec.low, self.spec.high, (n,) + tuple(self.spec.shape))
