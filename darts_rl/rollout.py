"""EnvRunner: holds a vector env's current observation and collects finished episodes.

Agents step envs only through a runner, so the loop can read episode statistics (returns per
game) without knowing which agent ran them.
"""
from typing import Dict, List

import numpy as np


class EnvRunner:

  def __init__(self, env):
    self.env = env
    self.obs = env.reset()
    self._returns: List[np.ndarray] = []
    self._lengths: List[np.ndarray] = []
    self._games: List[np.ndarray] = []

  def step(self, actions):
    """actions [N] -> envs Step; remembers the episodes that ended."""
    step = self.env.step(np.asarray(actions))
    ended = ~np.isnan(step.episode_return)
    if ended.any():
      self._returns.append(step.episode_return[ended])
      self._lengths.append(step.episode_length[ended])
      self._games.append(self.env.game_ids[ended])
    self.obs = step.obs
    return step

  def pop_episodes(self) -> Dict[str, np.ndarray]:
    """{'return', 'length', 'game_id'}: episodes finished since the last call."""
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros((0,), dt)
    out = {"return": cat(self._returns, np.float32), "length": cat(self._lengths, np.float32),
           "game_id": cat(self._games, np.int32)}
    self._returns, self._lengths, self._games = [], [], []
    return out
