"""Procgen's vectorized C++ games: train/test levels and multi-game batches.

One vectorized env per game; their rows are concatenated game by game into one batch and
`game_ids` says which game each row plays. Two packages ship the same C++ games and give the
same frames (tests/test_procgen_frames.py replays a recording): `procgen-gym` (Python 3.13,
numpy 2), driven through its C library handle, and `procgen-mirror` 0.10.7 (Python 3.11 /
3.12, numpy<2) through its gym3 interface. Whichever is installed is used; both split a step
into `act` (queues the step on the C++ worker threads) and `observe` (waits for it).

gym3 semantics this wrapper relies on (checked in tests/test_envs_procgen.py):
  * `observe()` returns (reward, obs, first). `first[i]` marks that `obs[i]` starts a new
    episode; the reward returned together with first=True is the reward of the *last* step of
    the episode that just ended (e.g. coinrun's +10 for reaching the coin arrives with first).
  * gym3 auto-resets and never exposes the ended episode's last observation, so `final_obs`
    is None.
  * Procgen does not distinguish a time-out from a real terminal state, so every episode end
    is reported as `terminated=True, truncated=False` (the usual Procgen PPO treatment).
"""

import contextlib
import io
from importlib import metadata
from typing import Callable, Optional, Protocol, Sequence, Tuple

import numpy as np

try:
  import procgen_gym as _procgen_gym

  _procgen = None
  PACKAGE = f"procgen-gym {metadata.version('procgen-gym')}"
except ImportError:
  _procgen_gym = None
  # gym (imported by procgen only to register gym ids) prints a deprecation notice on import
  # that is irrelevant here: we use the gym3 API, not gym.
  with contextlib.redirect_stderr(io.StringIO()):
    import procgen as _procgen
  PACKAGE = f"procgen-mirror {metadata.version('procgen-mirror')}"

from darts_rl.envs.base import DiscreteActions, EpisodeTracker, Step

PROCGEN_GAMES = (
  "bigfish",
  "bossfight",
  "caveflyer",
  "chaser",
  "climber",
  "coinrun",
  "dodgeball",
  "fruitbot",
  "heist",
  "jumper",
  "leaper",
  "maze",
  "miner",
  "ninja",
  "plunder",
  "starpilot",
)

# Max-reward normalizers used by the released Rainbow (docs/paper.md).
MAX_REWARD = {
  "coinrun": 10.0,
  "dodgeball": 19.0,
  "miner": 20.0,
  "jumper": 10.0,
  "leaper": 10.0,
  "maze": 10.0,
  "bigfish": 40.0,
  "heist": 10.0,
  "plunder": 30.0,
  "ninja": 10.0,
  "bossfight": 13.0,
  "caveflyer": 13.4,
  "chaser": 14.2,
  "climber": 12.6,
  "starpilot": 35.0,
  "fruitbot": 27.2,
}

OBSERVATION_SHAPE = (64, 64, 3)
# 'exploration' is left out: it fixes num_levels/start_level itself, which this API sets.
DISTRIBUTION_MODES = ("easy", "hard", "extreme", "memory")


class Game(Protocol):
  """`num` rows of one Procgen game in C++, stepped in two halves (gym3's split)."""

  num: int
  num_actions: int
  observation_shape: Tuple[int, ...]

  def act(self, actions: np.ndarray) -> None:
    """Queues one step with [num] int32 actions; returns at once."""

  def observe(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Waits for the step: ([num] float32 reward, [num, 64, 64, 3] uint8 obs, [num] bool
    first)."""

  def close(self) -> None:
    """Frees the C++ side."""


class _Gym3Game:
  """procgen-mirror's `ProcgenGym3Env` as a `Game`."""

  def __init__(self, **options):
    self._env = _procgen.ProcgenGym3Env(**options)
    self.num = self._env.num
    self.num_actions = int(self._env.ac_space.eltype.n)
    self.observation_shape = tuple(self._env.ob_space["rgb"].shape)

  def act(self, actions):
    self._env.act(actions)

  def observe(self):
    reward, obs, first = self._env.observe()
    return reward, obs["rgb"], first

  def close(self):
    # gym3's CEnv frees its C++ side on garbage collection.
    self._env = None


class _CLibGame:
  """procgen-gym's vector env as a `Game`, driven through its C library handle: the env's own
  `step` acts and observes in one call, which would serialize the env groups."""

  def __init__(self, num, **options):
    self._env = _procgen_gym.ProcgenVecEnv(num_envs=num, **options)
    self._lib = self._env._clib
    self.num = num
    self.num_actions = int(self._env.single_action_space.n)
    self.observation_shape = tuple(self._env.single_observation_space.shape)

  def act(self, actions):
    self._lib.act(actions)

  def observe(self):
    first, obs, reward, _ = self._lib.observe()
    return reward, obs["rgb"], first.astype(bool)  # uint8 in the C buffer

  def close(self):
    self._env.close()


def open_game(
  env_name: str,
  num: int,
  num_levels: int,
  start_level: int,
  distribution_mode: str,
  rand_seed: int,
  num_threads: Optional[int] = None,
) -> Game:
  """`num` rows of one game from whichever Procgen package is installed (same frames).
  `num_threads`: C++ worker threads (both packages' default, 4, when None)."""
  options = dict(
    env_name=env_name,
    num=num,
    num_levels=num_levels,
    start_level=start_level,
    distribution_mode=distribution_mode,
    rand_seed=rand_seed,
  )
  if num_threads is not None:
    options["num_threads"] = num_threads
  return _CLibGame(**options) if _procgen_gym is not None else _Gym3Game(**options)


# (game_index, generation) -> a Game; generation counts re-creations done by `reset`.
GameFactory = Callable[[int, int], Game]


def _derived_seed(*entropy: int) -> int:
  """A seed in [0, 2**31) (procgen's range) mixed from the given integers."""
  return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0] % (2**31))


class ProcgenVecEnv:
  """Concatenates one `Game` per game into one auto-resetting batch (see module doc)."""

  def __init__(self, factory: GameFactory, game_names: Sequence[str], envs_per_game: int):
    self.game_names = tuple(game_names)
    self.num_envs = envs_per_game * len(self.game_names)
    self.game_ids = np.repeat(np.arange(len(self.game_names), dtype=np.int32), envs_per_game)
    self.reward_scale = np.asarray([MAX_REWARD.get(g, 1.0) for g in self.game_names], np.float32)
    self._factory = factory
    self._envs_per_game = envs_per_game
    self._generation = 0
    self._envs = [factory(gi, 0) for gi in range(len(self.game_names))]
    for env in self._envs:
      if env.num != envs_per_game:
        raise ValueError(f"Procgen env has {env.num} rows, expected {envs_per_game}")
    num_actions = {env.num_actions for env in self._envs}
    if len(num_actions) != 1:
      raise ValueError(f"games disagree on the number of actions: {sorted(num_actions)}")
    self.action_spec = DiscreteActions(num_actions.pop())
    self.observation_shape = self._envs[0].observation_shape
    self._tracker = EpisodeTracker(self.num_envs)
    self._stepped = False

  def _observe(self):
    """Returns concatenated ([N] float32 reward, [N,64,64,3] uint8 obs, [N] bool first)."""
    rews, obs, firsts = [], [], []
    for env in self._envs:
      rew, ob, first = env.observe()
      rews.append(rew)
      obs.append(ob)
      firsts.append(first)
    return (
      np.concatenate(rews).astype(np.float32),
      np.concatenate(obs),
      np.concatenate(firsts).astype(bool),
    )

  def reset(self) -> np.ndarray:
    """Returns [N, 64, 64, 3] uint8 first observations of fresh episodes.

    Procgen cannot reset on demand, so after any `step` the per-game envs are re-created with
    a new deterministic seed (derived from the original seed and a reset counter).
    """
    if self._stepped:
      self.close()
      self._generation += 1
      self._envs = [self._factory(gi, self._generation) for gi in range(len(self.game_names))]
      self._stepped = False
    self._tracker.reset()
    return self._observe()[1]

  def step(self, actions: np.ndarray) -> Step:
    """Acts with [N] integer actions in [0, num_actions); returns a `Step` (final_obs None)."""
    self.step_async(actions)
    return self.step_wait()

  def step_async(self, actions: np.ndarray) -> None:
    """Starts a step (the C++ workers run it); `step_wait` returns its result. Starting
    every env group's step before waiting on any lets groups step concurrently."""
    actions = np.asarray(actions)
    if actions.shape != (self.num_envs,):
      raise ValueError(f"expected actions of shape ({self.num_envs},), got {actions.shape}")
    if not np.issubdtype(actions.dtype, np.integer):
      raise ValueError(f"Procgen actions must be integers, got dtype {actions.dtype}")
    if actions.min() < 0 or actions.max() >= self.action_spec.num_actions:
      raise ValueError(f"actions must lie in [0, {self.action_spec.num_actions})")
    actions = actions.astype(np.int32)
    # act() only queues the step; issuing every game's act before any observe() lets the
    # per-game C++ thread pools run concurrently.
    for gi, env in enumerate(self._envs):
      env.act(actions[gi * self._envs_per_game : (gi + 1) * self._envs_per_game])
    self._stepped = True

  def step_wait(self) -> Step:
    reward, obs, first = self._observe()
    # `first` means the episode ended on this step and `reward` is its last reward.
    episode_return, episode_length = self._tracker.update(reward, first)
    return Step(
      obs=obs,
      reward=reward,
      terminated=first,
      truncated=np.zeros_like(first),
      final_obs=None,
      episode_return=episode_return,
      episode_length=episode_length,
    )

  def close(self) -> None:
    for env in self._envs:
      env.close()
    self._envs = []


def check_games(games: Sequence[str]) -> None:
  """Raises ValueError naming the valid games if any of `games` is not a Procgen game."""
  if not games:
    raise ValueError(f"no Procgen game given; valid games: {', '.join(PROCGEN_GAMES)}")
  for game in games:
    if game not in PROCGEN_GAMES:
      raise ValueError(f"unknown Procgen game '{game}'; valid games: {', '.join(PROCGEN_GAMES)}")


def make_procgen(
  games: Sequence[str],
  num_envs: int,
  num_levels: int = 200,
  start_level: int = 0,
  distribution_mode: str = "easy",
  seed: int = 0,
  num_threads: Optional[int] = None,
  group: int = 0,
) -> ProcgenVecEnv:
  """A batch of `num_envs` Procgen envs split evenly over `games` (rows game by game).

  Train levels: num_levels=200, start_level=0; test levels: num_levels=0 (all levels).
  `seed` fixes the level sequence of every row (each game gets its own derived seed), so the
  same seed reproduces the same observations and different seeds differ. `group` is the
  env group's index in a run with one group per device: each group draws its own levels.
  `num_threads`: C++ worker threads per game (procgen's default 4 when None).
  Observations are [num_envs, 64, 64, 3] uint8; actions are 15 discrete buttons.
  """
  games = tuple(games)
  check_procgen(games, num_envs, distribution_mode, num_levels, start_level)
  envs_per_game = num_envs // len(games)

  def factory(game_index: int, generation: int):
    return open_game(
      games[game_index],
      envs_per_game,
      num_levels,
      start_level,
      distribution_mode,
      _derived_seed(seed, game_index, generation, *([group] if group else [])),
      num_threads,
    )

  return ProcgenVecEnv(factory, games, envs_per_game)


def check_procgen(
  games: Sequence[str], num_envs: int, distribution_mode: str, num_levels: int, start_level: int
) -> None:
  """The checks of make_procgen's arguments, without building anything: ValueError naming
  the problem (and the valid values)."""
  check_games(games)
  if len(set(games)) != len(games):
    raise ValueError(f"duplicate Procgen games in {games}")
  if num_envs <= 0 or num_envs % len(games):
    raise ValueError(
      f"num_envs={num_envs} must be a positive multiple of the number of "
      f"games ({len(games)}: {', '.join(games)}) so that every game gets "
      f"the same number of envs"
    )
  if distribution_mode not in DISTRIBUTION_MODES:
    raise ValueError(
      f"unknown Procgen distribution_mode '{distribution_mode}'; valid: "
      f"{', '.join(DISTRIBUTION_MODES)}"
    )
  if num_levels < 0 or start_level < 0:
    raise ValueError(f"num_levels ({num_levels}) and start_level ({start_level}) must be >= 0")
