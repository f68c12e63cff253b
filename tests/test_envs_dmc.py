"""DM-Control pixel wrapper: errors, shapes, frame stacking, action repeat, truncation, seeds.

Rendering costs ~15 ms a frame on CPU, so tests use small images, few envs and a short
`time_limit` (cartpole's control step is 0.01 s, so time_limit=0.1 gives 10-step episodes).
"""

import gc
import threading

import numpy as np
import pytest

from darts_rl import envs
from experiments.sac_dmc import dmc_config

TASK = "cartpole-swingup"


def _actions(rng, env, num_steps):
  return rng.uniform(-1.0, 1.0, size=(num_steps, env.num_envs) + env.action_spec.shape)


def test_unknown_task_lists_valid_names():
  with pytest.raises(
    ValueError,
    match=r"unknown DM-Control task 'cartpole-balance_hard'; "
    r"valid 'domain-task' names: .*ball_in_cup-catch.*"
    r"cartpole-swingup",
  ):
    envs.make_dmc("cartpole-balance_hard", 1, 0, 4)


def test_shapes_dtypes_and_spec():
  env = envs.make_dmc(TASK, num_envs=2, seed=0, action_repeat=4)
  assert isinstance(env, envs.VecEnv)
  with pytest.raises(RuntimeError, match="reset"):
    env.step(np.zeros((2, 1)))
  obs = env.reset()
  assert obs.shape == (2, 84, 84, 9) and obs.dtype == np.uint8
  assert env.observation_shape == (84, 84, 9)
  assert env.action_spec == envs.BoxActions(shape=(1,), low=-1.0, high=1.0)
  assert env.game_names == (TASK,)
  np.testing.assert_array_equal(env.game_ids, np.zeros(2, np.int32))
  np.testing.assert_array_equal(env.reward_scale, np.ones(1, np.float32))
  step = env.step(np.zeros((2, 1)))
  assert step.obs.shape == step.final_obs.shape == (2, 84, 84, 9)
  assert step.obs.dtype == step.final_obs.dtype == np.uint8
  for field in (step.reward, step.episode_return, step.episode_length):
    assert field.shape == (2,) and field.dtype == np.float32
  assert step.terminated.dtype == bool and step.truncated.dtype == bool
  with pytest.raises(ValueError, match="shape"):
    env.step(np.zeros(2))
  env.close()


def test_frame_stack_shifts_and_newest_frame_is_last():
  env = envs.make_dmc(TASK, num_envs=2, seed=0, action_repeat=2, image_size=32)
  obs = env.reset()
  # A new episode starts with its first frame in every slot.
  np.testing.assert_array_equal(obs[..., 0:3], obs[..., 3:6])
  np.testing.assert_array_equal(obs[..., 3:6], obs[..., 6:9])
  for action in _actions(np.random.default_rng(0), env, 3):
    new = env.step(action).obs
    np.testing.assert_array_equal(new[..., :6], obs[..., 3:])
    for i in range(env.num_envs):  # rendered on the batch's thread, which owns the GL context
      physics = env._envs[i].physics
      frame = env._thread.submit(physics.render, 32, 32, camera_id=0).result()
      np.testing.assert_array_equal(new[i, ..., 6:], frame)
    assert not np.array_equal(new[..., 6:], obs[..., 6:])  # the cart moved
    obs = new
  env.close()


def test_action_repeat_sums_rewards_and_stops_at_episode_end():
  # 10-step episodes with repeat 3: agent steps of 3, 3, 3 and then 1 control step.
  repeat, num_agent_steps = 3, 9
  env = envs.make_dmc(TASK, 1, seed=4, action_repeat=repeat, image_size=16, time_limit=0.1)
  ref = envs.make_dmc(TASK, 1, seed=4, action_repeat=1, image_size=16, time_limit=0.1)
  env.reset(), ref.reset()
  actions = _actions(np.random.default_rng(2), env, num_agent_steps)
  ref_lengths = []
  for t, action in enumerate(actions):
    step = env.step(action)
    rewards = []
    for _ in range(repeat):
      ref_step = ref.step(action)
      rewards.append(ref_step.reward[0])
      if ref_step.truncated[0]:
        ref_lengths.append(ref_step.episode_length[0])
        break
    np.testing.assert_allclose(step.reward[0], np.sum(rewards), rtol=1e-5, atol=1e-6)
    assert step.reward[0] > 0.0  # cartpole pays a positive shaped reward every step
    # Stacks differ (one frame per agent step vs per control step); newest frames match.
    np.testing.assert_array_equal(step.obs[..., -3:], ref_step.obs[..., -3:])
    np.testing.assert_array_equal(step.final_obs[..., -3:], ref_step.final_obs[..., -3:])
    # The 4th agent step ends the episode after a single repeat.
    assert step.truncated[0] == (t % 4 == 3) == ref_step.truncated[0]
    if step.truncated[0]:
      assert len(rewards) == 1 and step.episode_length[0] == 4
  assert ref_lengths == [10.0, 10.0]
  env.close(), ref.close()


def test_truncation_final_obs_and_episode_bookkeeping():
  env = envs.make_dmc(TASK, 2, seed=1, action_repeat=2, image_size=16, time_limit=0.1)
  obs = env.reset()
  ret, length, ends = np.zeros(2), np.zeros(2), 0
  for action in _actions(np.random.default_rng(3), env, 12):
    step = env.step(action)
    ret += step.reward
    length += 1
    ended = step.truncated
    assert not step.terminated.any()
    np.testing.assert_allclose(step.episode_return, np.where(ended, ret, np.nan), rtol=1e-5)
    np.testing.assert_array_equal(step.episode_length, np.where(ended, length, np.nan))
    # Rows that did not end: final_obs is obs. Rows that ended: final_obs continues the
    # old stack, obs is the new episode's first frame repeated.
    np.testing.assert_array_equal(step.final_obs[~ended], step.obs[~ended])
    np.testing.assert_array_equal(step.final_obs[ended][..., :6], obs[ended][..., 3:])
    new = step.obs[ended]
    np.testing.assert_array_equal(new[..., :3], new[..., 6:])
    assert not np.array_equal(step.final_obs[ended], step.obs[ended]) or not ended.any()
    ret[ended], length[ended] = 0.0, 0.0
    ends += ended.sum()
    obs = step.obs
  assert ends == 4  # 5-step episodes (10 control steps / repeat 2), 12 steps, 2 rows
  env.close()


def _rollout(seed, num_steps=5):
  env = envs.make_dmc(TASK, 2, seed=seed, action_repeat=2, image_size=16)
  frames = [env.reset()]
  frames += [env.step(a).obs for a in _actions(np.random.default_rng(0), env, num_steps)]
  env.close()
  return np.stack(frames)


def test_same_seed_reproduces_and_different_seeds_and_rows_differ():
  a, b, c = _rollout(0), _rollout(0), _rollout(1)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a[0], c[0])
  assert not np.array_equal(a[0, 0], a[0, 1])  # each row has its own seed


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_closed_batch_s_render_contexts_serve_the_next_and_render_the_same(monkeypatch):
  """A batch closed leaves its thread and its rows' render contexts to the next batch of the
  task (making one costs more than 10 renders); frames rendered with them are a fresh
  context's."""
  from darts_rl.envs import dmc

  monkeypatch.setattr(dmc, "_SPARE", type(dmc._SPARE)(list))
  fresh = envs.make_dmc(TASK, 2, seed=0, action_repeat=2, image_size=16)
  assert all(env.physics._contexts is None for env in fresh._envs)  # none spare yet
  want = [fresh.reset()]
  want += [fresh.step(a).obs for a in _actions(np.random.default_rng(0), fresh, 5)]
  contexts = {id(env.physics.contexts) for env in fresh._envs}
  fresh.close()
  fresh.close()  # idempotent: nothing is given twice
  assert [len(spare.contexts) for spare in dmc._SPARE[TASK]] == [2]
  other = envs.make_dmc("cartpole-balance", 1, seed=0, action_repeat=2, image_size=16)
  assert other._envs[0].physics._contexts is None  # another task's model: its own context
  other.close()
  reused = envs.make_dmc(TASK, 3, seed=0, action_repeat=2, image_size=16)
  assert {id(env.physics._contexts) for env in reused._envs[:2]} == contexts
  assert reused._envs[2].physics._contexts is None  # only two were spare
  got = [reused.reset()]
  actions = _actions(np.random.default_rng(0), fresh, 5)  # rows 0 and 1 as before, a third
  got += [reused.step(np.concatenate([a, a[:1]])).obs for a in actions]
  reused.close()
  np.testing.assert_array_equal(np.stack(got)[:, :2], np.stack(want))
  # What the interpreter's exit does: the spare contexts freed on their own threads.
  dmc._free_spare_threads()
  assert not dmc._SPARE


def test_make_env_dmc_default_action_repeat_and_test_seed():
  config = dmc_config("finger-spin", num_envs=1)  # the experiments' (action_repeat 0)
  config.frame_stack, config.image_size = 2, 16
  train = envs.make_env(config, seed=0, split="train")
  assert train._action_repeat == envs.DEFAULT_ACTION_REPEAT["finger-spin"] == 1
  assert train.observation_shape == (16, 16, 6)
  test = envs.make_env(config, seed=0, split="test")
  validation = envs.make_env(config, seed=0, split="validation")
  first = {
    name: env.reset()
    for name, env in (("train", train), ("test", test), ("validation", validation))
  }
  assert not np.array_equal(first["train"], first["test"])
  # Validation: fresh seeds apart from the test seeds (DM-Control has no levels).
  assert not np.array_equal(first["validation"], first["test"])
  assert not np.array_equal(first["validation"], first["train"])
  config.task, config.action_repeat = "hopper-hop", None
  assert envs.make_env(config, seed=0, split="train")._action_repeat == 4
  config.action_repeat = 3
  assert envs.make_env(config, seed=0, split="train")._action_repeat == 3


def test_egl_device_follows_the_first_visible_gpu_unless_set():
  from darts_rl.envs.dmc import egl_device

  assert egl_device({"MUJOCO_GL": "egl", "CUDA_VISIBLE_DEVICES": "3,1"}) == "3"
  assert egl_device({"MUJOCO_GL": "egl", "CUDA_VISIBLE_DEVICES": "GPU-5e1a"}) is None  # a UUID
  assert egl_device({"MUJOCO_GL": "egl"}) is None
  set_by_user = {"MUJOCO_GL": "egl", "CUDA_VISIBLE_DEVICES": "3", "MUJOCO_EGL_DEVICE_ID": "0"}
  assert egl_device(set_by_user) is None
  assert egl_device({"MUJOCO_GL": "osmesa", "CUDA_VISIBLE_DEVICES": "3"}) is None


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_batches_step_on_their_own_threads_and_match_stepping_alone():
  """Two batches started together (as a run's env groups are) give the frames each gives
  alone; a batch's physics and rendering run on its own thread, never the caller's; closed
  or dropped, a batch frees its physics on that thread and keeps its render contexts."""
  alone = [_rollout(0), _rollout(1)]
  a = envs.make_dmc(TASK, 2, seed=0, action_repeat=2, image_size=16)
  b = envs.make_dmc(TASK, 2, seed=1, action_repeat=2, image_size=16)
  threads = set()
  for env in (a, b):
    render = env._render
    env._render = lambda i, render=render: threads.add(threading.get_ident()) or render(i)
  frames = [[a.reset()], [b.reset()]]
  rng = np.random.default_rng(0)
  for action in _actions(rng, a, 5):
    a.step_async(action)
    b.step_async(action)
    frames[0].append(a.step_wait().obs)
    frames[1].append(b.step_wait().obs)
  with pytest.raises(RuntimeError, match="step_wait"):
    a.step_wait()
  a.step_async(action)
  with pytest.raises(RuntimeError, match="step_async"):
    a.step_async(action)
  a.close()
  b.close()
  b.close()  # idempotent
  for got, want in zip(frames, alone):
    np.testing.assert_array_equal(np.stack(got), want)
  assert len(threads) == 2 and threading.get_ident() not in threads
  dropped = envs.make_dmc(TASK, 1, seed=0, action_repeat=2, image_size=16)
  dropped.reset()
  del a, b, dropped
  gc.collect()
