"""SAC from pixels: losses on hand-computed numbers, the random-shift augmentation, the actor
leaving the encoder alone, replay bootstrapping (terminated vs truncated), and
search -> discretize -> evaluate end to end on DM-Control (rendering included)."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from darts_rl import parallel, phases
from darts_rl.agents import base, sac
from darts_rl.agents.base import Batches, EnvSpec
from darts_rl.config import parse_variant
from darts_rl.envs.base import BoxActions, Step
from darts_rl.networks import make_encoder
from darts_rl.train import loop
from darts_rl.train.actors import Actors
from experiments.sac_dmc import get_config
from tests.conftest import SMOKE_SEARCHES

OBS = (16, 16, 9)


# ---------------------------------------------------------------------------- learning math


def test_soft_td_target_and_critic_loss_hand_computed():
  # Row 0 bootstraps: 1 + 0.99 * (min(2, 1.5) - 0.2 * -1) = 1 + 0.99 * 1.7 = 2.683.
  # Row 1 terminated (discount 0): the reward alone.
  y = sac.soft_td_target(
    jnp.array([1.0, 0.5]),
    jnp.array([0.99, 0.0]),
    jnp.array([2.0, 3.0]),
    jnp.array([1.5, 4.0]),
    jnp.array([-1.0, 0.5]),
    0.2,
  )
  np.testing.assert_allclose(y, [2.683, 0.5], rtol=1e-6)
  # 0.5 * (((2 - 2.683)^2 + (1 - .5)^2) / 2 + ((3 - 2.683)^2 + (0 - .5)^2) / 2) = 0.2667445
  q1, q2 = jnp.array([2.0, 1.0]), jnp.array([3.0, 0.0])
  np.testing.assert_allclose(sac.critic_loss(q1, q2, y), 0.2667445, rtol=1e-5)
  np.testing.assert_allclose(sac.critic_loss(q1, q2, y, weight=1.0), 0.533489, rtol=1e-5)
  g_q1, g_y = jax.grad(sac.critic_loss, argnums=(0, 2))(q1, q2, y)
  # d/dq1 = 0.5 * 2 (q1 - y) / B; the target is a constant.
  np.testing.assert_allclose(g_q1, [0.5 * (2 - 2.683), 0.5 * (1 - 0.5)], rtol=1e-5)
  np.testing.assert_array_equal(g_y, [0.0, 0.0])


def test_actor_and_temperature_losses_hand_computed():
  # mean(0.1 * [-1, 2] - min([1, 2], [.5, 3])) = mean([-0.6, -1.8]) = -1.2
  loss = sac.actor_loss(jnp.array([1.0, 2.0]), jnp.array([0.5, 3.0]), jnp.array([-1.0, 2.0]), 0.1)
  np.testing.assert_allclose(loss, -1.2, rtol=1e-6)
  # logp + target = [-1.5, -0.5], mean -1: loss = -log(0.5) * -1 = log(0.5).
  logp, target_entropy = jnp.array([-1.0, 0.0]), -0.5
  log_temp = jnp.log(0.5)
  np.testing.assert_allclose(
    sac.temperature_loss(log_temp, logp, target_entropy), np.log(0.5), rtol=1e-6
  )
  # Entropy 0.5 is above the target -0.5: the gradient (+1) lowers the temperature.
  g = jax.grad(sac.temperature_loss)(log_temp, logp, target_entropy)
  np.testing.assert_allclose(g, 1.0, rtol=1e-6)
  # Entropy -3 is below the target: the gradient (-2.5) raises it.
  np.testing.assert_allclose(jax.grad(sac.temperature_loss)(log_temp, jnp.array([3.0]), -0.5), -2.5)
  # log pi is not differentiated through the temperature loss.
  np.testing.assert_array_equal(
    jax.grad(sac.temperature_loss, argnums=1)(log_temp, logp, target_entropy), [0.0, 0.0]
  )


def test_tanh_gaussian_log_prob_and_sample():
  # u = 0.8 under N(0.3, 0.5^2): -0.5 * 1^2 - log 0.5 - 0.5 log 2pi = -0.7257914;
  # minus log(1 - tanh(0.8)^2) = -0.5815071 -> -0.1442843.
  lp = sac.tanh_gaussian_log_prob(jnp.array([0.8]), jnp.array([0.3]), jnp.log(jnp.array([0.5])))
  np.testing.assert_allclose(lp, -0.1442843, rtol=1e-5)
  # Sums over action dimensions and stays finite where tanh saturates (u = 20, where the naive
  # log(1 - tanh(u)^2) is log 0): with std 1, dim 0 is -0.5 * 0.25 - 0.9189385 + 0.5815071 and
  # dim 1 is -0.9189385 - log(sech(20)^2) = -0.9189385 - 2 (log 2 - 20 - log1p(e^-40)).
  lp2 = sac.tanh_gaussian_log_prob(jnp.array([0.8, 20.0]), jnp.array([0.3, 20.0]), jnp.zeros(2))
  want = (-0.125 - 0.9189385 + 0.5815071) + (
    -0.9189385 - 2 * (np.log(2) - 20 - np.log1p(np.exp(-40)))
  )
  np.testing.assert_allclose(lp2, want, rtol=1e-5)
  mu, log_std = jnp.array([[0.3, -1.0]] * 4), jnp.array([[-1.0, 0.5]] * 4)
  a, logp = sac.tanh_gaussian_sample(jax.random.PRNGKey(0), mu, log_std)
  assert a.shape == (4, 2) and logp.shape == (4,)
  assert np.all(np.abs(np.asarray(a)) < 1)
  np.testing.assert_allclose(
    logp, sac.tanh_gaussian_log_prob(jnp.arctanh(a), mu, log_std), rtol=1e-4
  )


def test_soft_update():
  target = {"w": jnp.array([1.0, 2.0]), "b": jnp.array(0.0)}
  online = {"w": jnp.array([3.0, 2.0]), "b": jnp.array(1.0)}
  new = sac.soft_update(target, online, 0.005)
  np.testing.assert_allclose(new["w"], [1.01, 2.0], rtol=1e-6)
  np.testing.assert_allclose(new["b"], 0.005, rtol=1e-6)


# ---------------------------------------------------------------------------- augmentation


def _position_coded_obs(batch, size=84, frames=3):
  """Channel 3k holds the row index, 3k+1 the column, 3k+2 (sample id % 250) + k."""
  obs = np.zeros((batch, size, size, 3 * frames), np.uint8)
  rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
  for k in range(frames):
    obs[..., 3 * k] = rows
    obs[..., 3 * k + 1] = cols
    obs[..., 3 * k + 2] = (np.arange(batch) % 250 + k)[:, None, None]
  return obs


def test_random_shift_shape_range_and_same_shift_for_stacked_frames():
  B, pad, size = 128, 4, 84
  obs = _position_coded_obs(B, size)
  out = np.asarray(sac.random_shift(jax.random.PRNGKey(3), jnp.asarray(obs), pad))
  assert out.shape == obs.shape and out.dtype == np.uint8
  dy = out[:, size // 2, size // 2, 0].astype(int) - size // 2
  dx = out[:, size // 2, size // 2, 1].astype(int) - size // 2
  assert dy.min() == -pad and dy.max() == pad and dx.min() == -pad and dx.max() == pad
  # Shifts differ across samples (81 possible; 128 samples see many of them).
  assert len(set(zip(dy.tolist(), dx.tolist()))) > 30
  idx = np.arange(size)
  for b in range(0, B, 17):
    # A pure translation with replicate padding at the border...
    want_rows = np.clip(idx + dy[b], 0, size - 1)[:, None].repeat(size, 1)
    want_cols = np.clip(idx + dx[b], 0, size - 1)[None, :].repeat(size, 0)
    for k in range(3):  # ...and the same one for every stacked frame.
      np.testing.assert_array_equal(out[b, ..., 3 * k], want_rows)
      np.testing.assert_array_equal(out[b, ..., 3 * k + 1], want_cols)
      np.testing.assert_array_equal(out[b, ..., 3 * k + 2], b % 250 + k)
  # Deterministic in the key; a different key gives different shifts; a batch split over
  # devices (first_index) draws the same shifts as the whole batch.
  again = sac.random_shift(jax.random.PRNGKey(3), jnp.asarray(obs), pad)
  np.testing.assert_array_equal(again, out)
  other = sac.random_shift(jax.random.PRNGKey(4), jnp.asarray(obs), pad)
  assert not np.array_equal(other, out)
  tail = sac.random_shift(jax.random.PRNGKey(3), jnp.asarray(obs[64:]), pad, first_index=64)
  np.testing.assert_array_equal(tail, out[64:])


# ---------------------------------------------------------------------------- agent


def tiny_config(kind="supernet", **sac_overrides):
  c = get_config("search,smoke" if kind == "supernet" else "baseline,smoke")
  c.sac.update(sac_overrides)
  return c


def spec(num_envs=2, action_shape=(2,), action_spec=None):
  return EnvSpec(
    OBS,
    action_spec or BoxActions(shape=action_shape, low=-1.0, high=1.0),
    num_envs,
    num_envs,
    np.zeros(num_envs, np.int32),
    ("task",),
    np.ones(1, np.float32),
  )


def tiny_agent(config, num_envs=2, action_shape=(2,)):
  return sac.SAC(
    config, make_encoder(config.encoder), spec(num_envs, action_shape), parallel.Devices(1)
  )


def random_batch(rng, agent, n):
  return sac.Transition(
    obs=rng.integers(0, 256, (n,) + OBS, dtype=np.uint8),
    action=rng.uniform(-1, 1, (n, agent.action_dim)).astype(np.float32),
    reward=rng.normal(size=n).astype(np.float32),
    discount=(rng.uniform(size=n) > 0.2).astype(np.float32),
    next_frame=rng.integers(0, 256, (n,) + OBS[:2] + (3,), dtype=np.uint8),
  )


def test_a_resume_replans_the_arch_schedules_on_the_updates_still_to_come():
  """The replay is not checkpointed: a resumed SAC refills it and learns again only after
  learning_starts new env steps. With 1,000 env steps, learning_starts 100, 2 envs and one
  update per iteration a run plans (1000 - 100) / 2 = 450 arch updates; resumed at env step
  600 after 250 of them it still makes (1000 - 600 - 100) / 2 = 150, so progress counts
  250 + 150 = 400 and DARTS-'s auxiliary skip ends at 0 instead of 1 - 400 / 450 = 0.111."""
  config = tiny_config(learning_starts=100, updates_per_iteration=1)
  config.loop.total_env_steps = 1000
  config.arch.aux_skip = 1.0
  agent = sac.SAC(
    config, make_encoder(config.encoder, arch=config.arch), spec(2), parallel.Devices(1)
  )
  state = agent.init(jax.random.PRNGKey(0))
  assert int(state.learner.arch_opt_state.planned) == 450
  arch = state.learner.arch_opt_state._replace(updates=jnp.asarray(250, jnp.int32))
  state = state._replace(learner=state.learner._replace(arch_opt_state=arch))
  resumed = agent.resumed(state, 600)
  assert int(resumed.learner.arch_opt_state.planned) == 400
  zero = jax.tree.map(jnp.zeros_like, agent.opt.trainable(state.learner.alphas))
  step = jax.jit(lambda a, s: agent.opt.apply_arch(a, s, zero, None)[:2])
  for learner, end in ((resumed.learner, 0.0), (state.learner, 1 - 400 / 450)):
    alphas, s = learner.alphas, learner.arch_opt_state
    for _ in range(150):
      alphas, s = step(alphas, s)
    assert int(s.updates) == 400
    np.testing.assert_allclose(agent.opt.summary(alphas, s)["arch/aux_skip"], end, atol=1e-6)


def test_actor_loss_leaves_encoder_and_alphas_alone():
  config = tiny_config()
  config.sac.critic_optimizer.lr = 0.0
  config.arch.optimizer.lr = 0.0
  agent = tiny_agent(config)
  learner = agent.init(jax.random.PRNGKey(0)).learner
  # Make the alphas non-uniform so their gradient would not vanish by symmetry.
  learner = learner._replace(
    alphas=jax.tree.map(lambda a: jax.random.normal(jax.random.PRNGKey(1), a.shape), learner.alphas)
  )
  obs = jnp.asarray(np.random.default_rng(0).integers(0, 256, (4,) + OBS, dtype=np.uint8))
  keys = sac.per_sample_keys(jax.random.PRNGKey(2), 4)
  g_actor, g_critic, g_alphas = jax.jit(
    jax.grad(lambda *a: agent.actor_loss_fn(*a)[0], argnums=(0, 1, 2))
  )(learner.actor_params, learner.params, learner.alphas, obs, keys, learner.log_temperature)
  norm = lambda t: float(sum(jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(t)))
  assert norm(g_actor) > 0
  assert norm(g_critic["encoder"]) == 0.0
  assert norm(g_alphas) == 0.0
  # Through a whole update with the critic and arch learning rates at 0, only the actor and the
  # temperature move: the actor's gradient never reaches the encoder or the alphas.
  d = agent.devices
  batches = Batches(random_batch(np.random.default_rng(1), agent, config.sac.batch_size))
  new, metrics = d.compile(agent.update)(
    d.replicate(learner), d.replicate(batches), d.broadcast(jax.random.PRNGKey(3))
  )
  new, metrics = d.unreplicate((new, metrics))
  same = lambda a, b: all(
    np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
  )
  assert same(new.params, learner.params) and same(new.alphas, learner.alphas)
  assert not same(new.actor_params, learner.actor_params)
  assert float(new.log_temperature) != float(learner.log_temperature)
  assert metrics["grad_norm/critic"] > 0 and metrics["grad_norm/arch"] > 0
  assert all(np.isfinite(v) for v in metrics.values())


class FakeEnv:
  """A 2-row frame-stacking env: row 0's episode is truncated, row 1's terminates, at step 1.

  Frame t of row i is filled with 10 * i + t (the first frame of a new episode: 100 + i)."""

  num_envs = 2
  observation_shape = OBS
  action_spec = BoxActions(shape=(2,), low=-1.0, high=1.0)
  game_ids = np.zeros(2, np.int32)
  game_names = ("fake",)
  reward_scale = np.ones(1, np.float32)

  def __init__(self):
    self.t = 0

  def reset(self):
    self.obs = self._stack(np.array([[0, 0, 0], [10, 10, 10]]))
    return self.obs

  def close(self):
    pass

  @staticmethod
  def _stack(values):
    return np.stack(
      [np.concatenate([np.full(OBS[:2] + (3,), v, np.uint8) for v in row], -1) for row in values]
    )

  def step_async(self, actions):
    assert actions.shape == (2, 2) and np.all(np.abs(actions) <= 1)

  def step_wait(self):
    self.t += 1
    t = self.t
    final = self._stack(np.array([[t - 2, t - 1, t], [10 + t - 2, 10 + t - 1, 10 + t]]).clip(0))
    final[:, ..., :3] = self.obs[:, ..., 3:6]  # the shift the frame stack does
    final[:, ..., 3:6] = self.obs[:, ..., 6:9]
    end = t == 1
    obs = self._stack(np.array([[100] * 3, [101] * 3])) if end else final
    step = Step(
      obs=obs,
      reward=np.array([1.0, 2.0], np.float32),
      terminated=np.array([False, end]),
      truncated=np.array([end, False]),
      final_obs=final,
      episode_return=np.full(2, np.nan, np.float32),
      episode_length=np.full(2, np.nan, np.float32),
    )
    self.obs = obs
    return step


def test_replay_bootstraps_from_final_obs_and_discounts_only_terminal_steps():
  # Uniform-random actions throughout and no updates.
  config = tiny_config("cnn4", learning_starts=1000, init_random_env_steps=1000, replay_capacity=8)
  agent = tiny_agent(config)
  actors = Actors(None, 0, "train", agent.devices, make=lambda *a: FakeEnv())
  state = base.to_devices(agent.init(jax.random.PRNGKey(0)), agent.devices)
  for i in range(3):
    state, metrics = agent.iteration(state, actors, jax.random.PRNGKey(i))
    assert metrics == {}  # no update before learning_starts
  assert int(state.host.env_steps) == 6 and state.replay.env_steps == 6
  buffer = jax.tree.map(lambda x: np.asarray(x)[0], state.replay.buffer)
  exp = jax.tree.map(lambda x: x[0], buffer.experience)
  # Step 1: row 0 truncated -> bootstraps (discount 1) from its last frame (value 1), not from
  # the new episode (100); row 1 terminated -> discount 0.
  np.testing.assert_array_equal(exp.discount[:2], [1.0, 0.0])
  np.testing.assert_array_equal(exp.next_frame[0], 1)
  np.testing.assert_array_equal(exp.next_frame[1], 11)
  np.testing.assert_array_equal(exp.reward[:2], [1.0, 2.0])
  # Step 2 starts from the new episodes' first frames and is an ordinary transition.
  np.testing.assert_array_equal(exp.obs[2], 100)
  np.testing.assert_array_equal(exp.discount[2:6], 1.0)
  np.testing.assert_array_equal(exp.next_frame[2, ..., 0], 2)
  # The buffer wraps around (capacity 8).
  state, _ = agent.iteration(state, actors, jax.random.PRNGKey(10))
  assert int(np.asarray(state.replay.buffer.current_index)[0]) == 0
  state, _ = agent.iteration(state, actors, jax.random.PRNGKey(11))
  assert int(np.asarray(state.replay.buffer.current_index)[0]) == 2
  assert bool(np.asarray(state.replay.buffer.is_full)[0])


def test_action_spec_and_replay_checks():
  config = tiny_config("cnn4", replay_capacity=7)
  with pytest.raises(ValueError, match="multiple of env.num_envs"):
    tiny_agent(config)
  from darts_rl.envs.base import DiscreteActions

  with pytest.raises(ValueError, match="continuous"):
    sac.SAC(
      tiny_config("cnn4"),
      make_encoder(tiny_config("cnn4").encoder),
      spec(action_spec=DiscreteActions(3)),
      parallel.Devices(1),
    )


def test_config_variants():
  assert parse_variant(None) == ("search", "full", set())
  assert parse_variant("baseline,smoke") == ("baseline", "smoke", set())
  with pytest.raises(ValueError, match="PHASE"):
    parse_variant("search,huge")
  full = get_config("search")
  assert full.sac.batch_size == 256 and full.sac.replay_capacity == 100_000
  assert (
    full.sac.tau == 0.005
    and full.sac.gamma == 0.99
    and full.loop.eval_splits == ("test", "validation")
  )
  assert full.arch.optimizer.lr == full.sac.critic_optimizer.lr == 3e-4
  enc = full.encoder
  assert (
    enc.kind,
    enc.skeleton,
    tuple(enc.channels),
    enc.stem_channels,
    enc.stem_stride,
    enc.head,
    enc.feature_dim,
  ) == ("supernet", "impala", (32,), 32, 2, "sac", 50)
  base = get_config("baseline").encoder
  assert (base.kind, tuple(base.channels), base.head, base.feature_dim) == (
    "cnn4",
    (32,),
    "sac",
    50,
  )


# ---------------------------------------------------------------------------- end to end


@SMOKE_SEARCHES
def test_search_discretize_evaluate_end_to_end(tmp_path, smoke_searches):
  # The smoke search (4 devices, 4 envs, alternating mode: tests/conftest.py), copied:
  # discretize writes into it.
  search_dir, eval_dir = str(tmp_path / "search"), str(tmp_path / "eval")
  shutil.copytree(os.path.join(smoke_searches.one, "sac"), search_dir)
  with open(os.path.join(search_dir, "eval.json")) as f:
    summary = json.load(f)
  assert summary["test_levels"]["episodes"] == 4  # one per env: 2 episodes over 4 envs
  assert np.isfinite(summary["test_levels"]["mean_return"])
  with open(os.path.join(search_dir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  assert any("loss/critic" in r and "alpha/normal/entropy" in r for r in rows)
  with np.load(os.path.join(search_dir, "alphas.npz")) as d:
    leaves = [d[k] for k in d.files if k.startswith("normal/")]
  assert any(np.abs(x[-1] - x[0]).max() > 0 for x in leaves)  # the critic loss moved them
  phases.discretize(search_dir)
  genotype = os.path.join(search_dir, "genotype.json")
  assert os.path.exists(genotype)
  ev = get_config("evaluate,smoke")
  ev.encoder.genotype = genotype
  summary = loop.run(ev, eval_dir, "evaluate")
  assert summary["encoder"] == "fixed" and summary["env_steps"] == ev.loop.total_env_steps
  assert set(summary) >= {"test_levels"} and "train_levels" not in summary


def test_the_full_size_takes_each_task_s_released_settings():
  """Action repeat, initial random steps and env steps follow the task (the release's table),
  whatever task the command line names; an explicit value wins; smaller sizes keep theirs."""
  from darts_rl import envs

  expected = {
    "cartpole-swingup": (4, 1_000, 200_000),
    "reacher-easy": (4, 1_000, 300_000),
    "ball_in_cup-catch": (4, 1_000, 200_000),
    "finger-spin": (1, 10_000, 200_000),
    "cheetah-run": (4, 10_000, 2_000_000),
    "walker-walk": (2, 10_000, 1_000_000),
  }
  for phase in ("search", "evaluate", "baseline"):
    for task, (repeat, init, steps) in expected.items():
      c = get_config(phase)
      c.env.task = task
      r = envs.with_task_defaults(c)
      assert (envs.DEFAULT_ACTION_REPEAT[task], r.sac.init_random_env_steps) == (repeat, init)
      assert r.loop.total_env_steps == steps
      assert c.sac.init_random_env_steps == -1  # the given config is not changed
  c = get_config("search")
  c.env.task, c.sac.init_random_env_steps, c.loop.total_env_steps = "walker-walk", 5, 7
  r = envs.with_task_defaults(c)
  assert (r.sac.init_random_env_steps, r.loop.total_env_steps) == (5, 7)
  smoke = get_config("search,smoke")
  assert envs.with_task_defaults(smoke) is smoke
