"""The vectorized-environment contract shared by Procgen and DM-Control.

Everything here is host-side numpy. Environments auto-reset: `step` always returns the
observation to act on next, which is the first observation of a new episode in rows whose
episode just ended. Episode bookkeeping (undiscounted raw return and length) is done by the
wrapper so that agents never need to track it.
"""

from typing import NamedTuple, Optional, Protocol, Tuple, Union, runtime_checkable

import numpy as np


class DiscreteActions(NamedTuple):
  """Actions are integers in [0, num_actions)."""

  num_actions: int


class BoxActions(NamedTuple):
  """Actions are float vectors of `shape` with every entry in [low, high]."""

  shape: Tuple[int, ...]
  low: float
  high: float


ActionSpec = Union[DiscreteActions, BoxActions]


class Step(NamedTuple):
  """What `VecEnv.step` returns for a batch of N environments.

  obs:            [N, H, W, C] uint8, observation to act on next (the first observation of
                  the new episode in rows where an episode ended).
  reward:         [N] float32, reward of this step (summed over action repeats for DMC).
  terminated:     [N] bool, episode ended in a terminal state: do not bootstrap.
  truncated:      [N] bool, episode cut by a time limit: bootstrap from `final_obs`.
  final_obs:      [N, H, W, C] uint8 or None. Equal to `obs` except that rows where an episode
                  ended hold that episode's last observation. None when the backend cannot
                  provide it (Procgen; see `procgen.py`).
  episode_return: [N] float32, NaN where no episode ended this step, else the undiscounted
                  raw (unscaled) return of the episode that ended.
  episode_length: [N] float32, NaN likewise, else that episode's length in agent decisions.
  """

  obs: np.ndarray
  reward: np.ndarray
  terminated: np.ndarray
  truncated: np.ndarray
  final_obs: Optional[np.ndarray]
  episode_return: np.ndarray
  episode_length: np.ndarray


@runtime_checkable
class VecEnv(Protocol):
  """A batch of `num_envs` auto-resetting environments.

  game_ids:     [N] int32, index into `game_names` of each row (all zeros for one game/task).
  reward_scale: [len(game_names)] float32, per-game max-reward normalizer (1.0 where none).
  """

  num_envs: int
  observation_shape: Tuple[int, ...]
  action_spec: ActionSpec
  game_ids: np.ndarray
  game_names: Tuple[str, ...]
  reward_scale: np.ndarray

  def reset(self) -> np.ndarray:
    """Starts new episodes in every row; returns [N, H, W, C] uint8."""
    ...

  def step(self, actions: np.ndarray) -> Step:
    """Acts with [N] int (discrete) or [N, *shape] float (box) actions."""
    ...

  def step_async(self, actions: np.ndarray) -> None:
    """`step` in two halves: start it (checks the actions) ..."""
    ...

  def step_wait(self) -> Step:
    """... and finish it. Several batches step concurrently when all start first."""
    ...

  def close(self) -> None: ...


class EpisodeTracker:
  """Accumulates per-row undiscounted returns and lengths across auto-resets."""

  def __init__(self, num_envs: int):
    # float64 so long episodes of small rewards do not lose precision.
    self._returns = np.zeros(num_envs, np.float64)
    self._lengths = np.zeros(num_envs, np.int64)

  def reset(self) -> None:
    self._returns[:] = 0.0
    self._lengths[:] = 0

  def update(self, reward: np.ndarray, done: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Adds one agent step; `reward` [N] belongs to the step that `done` [N] may end.

    Returns ([N] float32 episode_return, [N] float32 episode_length), NaN where not done.
    """
    done = np.asarray(done, bool)
    self._returns += reward
    self._lengths += 1
    episode_return = np.where(done, self._returns, np.nan).astype(np.float32)
    episode_length = np.where(done, self._lengths, np.nan).astype(np.float32)
    self._returns[done] = 0.0
    self._lengths[done] = 0
    return episode_return, episode_length
