"""Procgen wrapper: errors, shapes, first-flag bookkeeping, seeding, multi-game batches."""

import numpy as np
import pytest

from darts_rl import envs
from darts_rl.config import procgen_config
from darts_rl.envs import procgen as pg


def _random_actions(rng, env):
  return rng.integers(0, env.action_spec.num_actions, size=env.num_envs)


def test_unknown_game_lists_valid_games():
  with pytest.raises(
    ValueError,
    match=r"unknown Procgen game 'pong'; valid games: "
    r"bigfish, bossfight, caveflyer.*starpilot",
  ):
    envs.make_procgen(["coinrun", "pong"], 2, 200, 0, "easy", 0)


def test_uneven_split_over_games_is_rejected():
  with pytest.raises(
    ValueError,
    match=r"num_envs=5 must be a positive multiple of the "
    r"number of games \(2",
  ):
    envs.make_procgen(["coinrun", "bigfish"], 5, 200, 0, "easy", 0)


def test_shapes_dtypes_and_multi_game_ids():
  env = envs.make_procgen(["coinrun", "bigfish", "starpilot"], 6, 200, 0, "easy", seed=0)
  assert isinstance(env, envs.VecEnv)
  obs = env.reset()
  assert obs.shape == (6, 64, 64, 3) and obs.dtype == np.uint8
  assert env.observation_shape == (64, 64, 3)
  assert env.action_spec == envs.DiscreteActions(15)
  assert env.game_names == ("coinrun", "bigfish", "starpilot")
  np.testing.assert_array_equal(env.game_ids, [0, 0, 1, 1, 2, 2])
  assert env.game_ids.dtype == np.int32
  np.testing.assert_array_equal(env.reward_scale, np.float32([10.0, 40.0, 35.0]))
  step = env.step(np.zeros(6, np.int64))
  assert step.obs.shape == (6, 64, 64, 3) and step.obs.dtype == np.uint8
  for field in (step.reward, step.episode_return, step.episode_length):
    assert field.shape == (6,) and field.dtype == np.float32
  assert step.terminated.dtype == bool and step.truncated.dtype == bool
  assert not step.truncated.any() and step.final_obs is None
  with pytest.raises(ValueError, match="shape"):
    env.step(np.zeros(5, np.int64))
  with pytest.raises(ValueError, match="integers"):
    env.step(np.zeros(6, np.float32))
  with pytest.raises(ValueError, match=r"\[0, 15\)"):
    env.step(np.full(6, 15))
  env.close()


def test_all_games_have_a_max_reward():
  assert set(envs.MAX_REWARD) == set(envs.PROCGEN_GAMES) and len(envs.PROCGEN_GAMES) == 16


class _ScriptedGame:
  """A `pg.Game` replaying scripted (reward, first) rows after each act()."""

  num_actions, observation_shape = 15, (64, 64, 3)

  def __init__(self, rewards, firsts):
    self.num = rewards.shape[1]
    self._rewards, self._firsts, self._t = rewards, firsts, -1

  def act(self, actions):
    self._t += 1

  def observe(self):
    if self._t < 0:  # the initial observation: first=True, reward 0
      return (
        np.zeros(self.num, np.float32),
        np.zeros((self.num, 64, 64, 3), np.uint8),
        np.ones(self.num, bool),
      )
    return self._rewards[self._t], np.zeros((self.num, 64, 64, 3), np.uint8), self._firsts[self._t]

  def close(self):
    pass


def test_reward_returned_with_first_belongs_to_the_ended_episode():
  # Row 0: episode of rewards 1, 2, 3 ends at step 3 (first=True arrives with reward 3),
  # then a one-step episode of reward 4. Row 1 never ends.
  rewards = np.float32([[1, 0.5], [2, 0.5], [3, 0.5], [4, 0.5]])
  firsts = np.array([[False, False], [False, False], [True, False], [True, False]])
  env = pg.ProcgenVecEnv(lambda gi, gen: _ScriptedGame(rewards, firsts), ("fake",), 2)
  env.reset()
  steps = [env.step(np.zeros(2, np.int64)) for _ in range(4)]
  returns = np.stack([s.episode_return for s in steps])
  lengths = np.stack([s.episode_length for s in steps])
  np.testing.assert_array_equal(returns[:, 0], [np.nan, np.nan, 6.0, 4.0])
  np.testing.assert_array_equal(lengths[:, 0], [np.nan, np.nan, 3.0, 1.0])
  assert np.isnan(returns[:, 1]).all() and np.isnan(lengths[:, 1]).all()
  np.testing.assert_array_equal([s.terminated[0] for s in steps], [False, False, True, True])


def test_completion_reward_arrives_with_episode_end_in_real_procgen():
  # Leaper pays +10 only for finishing a level, so every nonzero reward must end an episode
  # whose return is exactly that reward (misattributing it to the next episode gives 0).
  env = envs.make_procgen(["leaper"], 8, 200, 0, "easy", seed=3)
  env.reset()
  rng = np.random.default_rng(0)
  successes = 0
  for _ in range(250):
    step = env.step(_random_actions(rng, env))
    paid = step.reward != 0
    assert step.terminated[paid].all()
    np.testing.assert_array_equal(step.episode_return[paid], step.reward[paid])
    successes += paid.sum()
  assert successes > 0, "rollout too short to contain a completed level"
  env.close()


def test_episode_bookkeeping_matches_manual_accumulation_on_the_raw_game():
  # Bossfight episodes end within a few dozen random steps and pay intermediate rewards.
  seed, n, num_steps = 5, 4, 150
  env = envs.make_procgen(["bossfight"], n, 200, 0, "easy", seed=seed)
  raw = pg.open_game("bossfight", n, 200, 0, "easy", pg._derived_seed(seed, 0, 0))
  np.testing.assert_array_equal(env.reset(), raw.observe()[1])
  rng = np.random.default_rng(1)
  ret, length, ended = np.zeros(n), np.zeros(n), 0
  for _ in range(num_steps):
    actions = _random_actions(rng, env)
    step = env.step(actions)
    raw.act(actions.astype(np.int32))
    rew, ob, first = raw.observe()
    np.testing.assert_array_equal(step.obs, ob)
    ret += rew
    length += 1
    expected_return = np.where(first, ret, np.nan)
    expected_length = np.where(first, length, np.nan)
    np.testing.assert_allclose(step.episode_return, expected_return, rtol=1e-6)
    np.testing.assert_array_equal(step.episode_length, expected_length)
    ret[first], length[first] = 0.0, 0.0
    ended += first.sum()
  assert ended >= 3, "rollout contains too few episode ends to test bookkeeping"
  env.close()
  raw.close()


def _rollout(seed, num_steps=40):
  env = envs.make_procgen(["coinrun", "starpilot"], 4, 200, 0, "easy", seed=seed)
  rng = np.random.default_rng(0)
  frames = [env.reset()]
  frames += [env.step(_random_actions(rng, env)).obs for _ in range(num_steps)]
  frames.append(env.reset())  # a mid-run reset re-creates the envs deterministically
  frames += [env.step(_random_actions(rng, env)).obs for _ in range(5)]
  env.close()
  return np.stack(frames)


def test_same_seed_reproduces_and_different_seeds_differ():
  a, b, c = _rollout(7), _rollout(7), _rollout(8)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a[0], c[0])


def _coinrun_one_level(**extra):
  """The experiments' Procgen env config: two coinrun envs whose training levels are level 0
  alone."""
  config = procgen_config("coinrun", num_envs=2)
  config.update(dict(num_levels=1, start_level=0, **extra))
  return config


def test_make_env_train_and_test_splits():
  config = _coinrun_one_level()
  # num_levels=1: every train episode replays level 0, so two train envs show the same level
  # whatever the seed, while test envs draw from all levels.
  train_a = envs.make_env(config, seed=0, split="train").reset()
  train_b = envs.make_env(config, seed=1, split="train").reset()
  np.testing.assert_array_equal(train_a, train_b)
  test_a = envs.make_env(config, seed=0, split="test").reset()
  assert not np.array_equal(train_a, test_a)
  with pytest.raises(ValueError, match="unknown split 'valid'"):
    envs.make_env(config, seed=0, split="valid")
  config.kind = "atari"
  with pytest.raises(ValueError, match="unknown env kind 'atari'"):
    envs.make_env(config, seed=0, split="train")


def test_validation_split_holds_out_its_own_levels():
  config = _coinrun_one_level(validation_start_level=5, validation_num_levels=1)
  # One validation level (5): every seed shows it, and it is not the training level (0).
  val_a = envs.make_env(config, seed=0, split="validation").reset()
  val_b = envs.make_env(config, seed=3, split="validation").reset()
  np.testing.assert_array_equal(val_a, val_b)
  assert not np.array_equal(val_a, envs.make_env(config, seed=0, split="train").reset())
  assert envs.procgen_levels(config, "validation") == (1, 5)
  assert envs.procgen_levels(config, "test") == (0, 0)
  config.num_levels = 6  # training levels [0, 6) now include level 5
  with pytest.raises(
    ValueError,
    match=r"validation levels \[5, 6\) overlap the training "
    r"levels \[0, 6\)",
  ):
    envs.make_env(config, seed=0, split="validation")
  config.num_levels, config.start_level = 10, 6  # [6, 16): disjoint again
  assert envs.procgen_levels(config, "validation") == (1, 5)
  config.num_levels = 0
  with pytest.raises(ValueError, match="num_levels=0 trains on all levels"):
    envs.procgen_levels(config, "validation")
