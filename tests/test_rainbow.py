"""Rainbow: C51 double-Q target, n-step windows through the replay, priorities, multi-game
batches, the Ape-X ladder, noisy layers, and search -> discretize -> evaluate end to end."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from darts_rl import parallel, phases
from darts_rl.agents import rainbow
from darts_rl.agents.base import EnvSpec
from darts_rl.config import encoder_config
from darts_rl.envs.base import DiscreteActions
from darts_rl.networks import make_encoder
from darts_rl.train import loop
from experiments.rainbow_procgen import get_config, parse_arg
from tests.conftest import SMOKE_SEARCHES

OBS = (16, 16, 3)


def fake_spec(envs_per_game=2, reward_scale=(1.0,), num_actions=3):
  """The run's envs as Rainbow sees them: rows grouped by game, per-game max rewards."""
  g = len(reward_scale)
  return EnvSpec(
    OBS,
    DiscreteActions(num_actions),
    envs_per_game * g,
    envs_per_game * g,
    np.repeat(np.arange(g, dtype=np.int32), envs_per_game),
    tuple(f"game{i}" for i in range(g)),
    np.asarray(reward_scale, np.float32),
  )


def tiny_agent(spec, devices=None, **rainbow_overrides):
  c = get_config("baseline,smoke")
  c.encoder = encoder_config(kind="impala", channels=(2,), cells_per_stage=1, feature_dim=8)
  c.rainbow.hidden = 8
  c.rainbow.update(rainbow_overrides)
  return rainbow.Rainbow(c, make_encoder(c.encoder), spec, devices or parallel.Devices(1))


def encoded_obs(num_rows, T):
  """obs[i, t] has pixel (0, 0) = (row i, time t, 0), so a sampled frame says where it is from."""
  obs = np.zeros((num_rows, T) + OBS, np.uint8)
  obs[:, :, 0, 0, 0] = np.arange(num_rows)[:, None]
  obs[:, :, 0, 0, 1] = np.arange(T)[None, :]
  return obs


def add(agent, state, obs, actions, raw, terminated):
  """Appends [rows, T] records (rows = envs) through the agent's device path (one device)."""
  d = agent.devices
  tm = lambda x: np.swapaxes(np.asarray(x), 0, 1)[None]  # -> [1, T, rows, ...]
  return agent.add(state, d.put(tm(obs)), d.put(tm(actions)), tm(raw), tm(terminated))


def sample(agent, state, key):
  """(Batches, indices) of one device's share, on the host."""
  d = agent.devices
  batches, indices = d.compile(agent.sample)(state.replay.buffer, d.broadcast(key))
  return jax.tree.map(lambda x: np.asarray(x)[0], (batches, indices))


# ---------------------------------------------------------------------------- learning math


def test_categorical_double_q_hand_computed():
  atoms = jnp.array([0.0, 0.5, 1.0])
  # Target net at s_t: action 0 looks best to it, but the online selector picks action 1
  # (double Q): the bootstrap distribution is the target net's for action 1, [.2, .3, .5].
  logits_t = jnp.log(jnp.array([[[0.0001, 0.0001, 0.9998], [0.2, 0.3, 0.5]]] * 3))
  selector = jnp.array([[0.0, 1.0]] * 3)
  # Predicted distribution of the taken action (a_tm1 = 0): [.5, .25, .25].
  logits_tm1 = jnp.log(jnp.array([[[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]]] * 3))
  a_tm1 = jnp.array([0, 0, 0])
  r_t = jnp.array([0.25, 0.6, 1.7])
  discount_t = jnp.array([0.5, 0.0, 0.0])
  ce = rainbow.categorical_double_q_loss(
    logits_tm1, a_tm1, r_t, discount_t, logits_t, selector, atoms
  )
  # 1) z = .25 + .5 * [0, .5, 1] = [.25, .5, .75] with p = [.2, .3, .5]; projecting on
  #    [0, .5, 1]: .25 splits .1/.1 onto atoms 0/1, .5 -> atom 1, .75 splits .25/.25 onto 1/2
  #    -> target [.1, .65, .25].
  # 2) terminal (discount 0): all mass at .6 -> .8 on atom 1, .2 on atom 2.
  # 3) terminal with r beyond v_max: clipped to 1 -> all mass on atom 2.
  log_pred = np.log([0.5, 0.25, 0.25])
  targets = np.array([[0.1, 0.65, 0.25], [0.0, 0.8, 0.2], [0.0, 0.0, 1.0]])
  np.testing.assert_allclose(ce, -(targets * log_pred).sum(-1), rtol=1e-5)


def test_n_step_transition_hand_computed_with_episode_ends():
  rewards = jnp.array([[1.0, 2.0, 4.0]] * 4)
  terminated = jnp.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]], bool)
  r_t, discount_t = rainbow.n_step_transition(rewards, terminated, gamma=0.5)
  # no end: 1 + .5*2 + .25*4 = 3, bootstrap .5^3; end after step 1: 1 + .5*2 (the 4 belongs
  # to the next episode), no bootstrap; end after step 0: 1; end after the last step: 3, 0.
  np.testing.assert_allclose(r_t, [3.0, 2.0, 1.0, 3.0])
  np.testing.assert_allclose(discount_t, [0.125, 0.0, 0.0, 0.0])


def test_importance_weights_normalized_by_batch_max():
  w = rainbow.importance_weights(jnp.array([0.1, 0.4, 0.2]), exponent=0.5)
  np.testing.assert_allclose(w, [1.0, 0.5, np.sqrt(0.5)], rtol=1e-6)


def test_apex_epsilon_ladder_and_schedule():
  np.testing.assert_allclose(
    rainbow.apex_epsilons(4, 0.4, 7.0),
    [0.4, 0.4 ** (1 + 7 / 3), 0.4 ** (1 + 14 / 3), 0.4**8],
    rtol=1e-6,
  )
  np.testing.assert_allclose(0.4**8, 0.00065536)
  np.testing.assert_allclose(rainbow.apex_epsilons(1), [0.4])
  # Multi-game: every game's rows get the whole ladder.
  eps = rainbow.actor_epsilons(np.array([0, 0, 0, 1, 1, 1]), 0.4, 7.0)
  np.testing.assert_allclose(eps, np.tile(rainbow.apex_epsilons(3), 2), rtol=1e-6)
  np.testing.assert_allclose(eps[[0, 2]], [0.4, 0.4**8], rtol=1e-6)
  ladder = rainbow.apex_epsilons(2, 0.4, 7.0)
  lin = lambda t: rainbow.scheduled_epsilons(ladder, t, "linear", 1.0, 100)
  np.testing.assert_allclose(lin(0), [1.0, 1.0])
  np.testing.assert_allclose(lin(50), (1.0 + ladder) / 2, rtol=1e-6)
  np.testing.assert_allclose(lin(1000), ladder, rtol=1e-6)
  np.testing.assert_allclose(rainbow.scheduled_epsilons(ladder, 0, "constant", 1.0, 100), ladder)
  # The release's schedule: eps_i ** (1 + 7 min(t / T, 1)), at 0, T / 2, T and past T.
  power = lambda t: rainbow.scheduled_epsilons(np.array([0.4, 0.1]), t, "power", 1.0, 1000)
  np.testing.assert_allclose(power(0), [0.4, 0.1], rtol=1e-6)
  np.testing.assert_allclose(power(500), [0.4**4.5, 0.1**4.5], rtol=1e-5)
  np.testing.assert_allclose(power(1000), [0.4**8, 1e-8], rtol=1e-5)
  np.testing.assert_allclose(power(5000), power(1000))


def test_noisy_dense_mean_and_noise():
  layer = rainbow.NoisyDense(3, sigma0=0.5)
  x = jnp.ones((2, 4))
  params = layer.init(jax.random.PRNGKey(0), x)["params"]
  p = params
  np.testing.assert_allclose(
    layer.apply({"params": params}, x), x @ p["mu_kernel"] + p["mu_bias"], rtol=1e-6
  )
  np.testing.assert_allclose(p["sigma_kernel"], 0.25)  # sigma0 / sqrt(fan_in)
  noisy = lambda k: layer.apply({"params": params}, x, deterministic=False, rngs={"noise": k})
  a, b = noisy(jax.random.PRNGKey(1)), noisy(jax.random.PRNGKey(2))
  assert not np.allclose(a, b)
  np.testing.assert_allclose(a[0], a[1])  # one noise sample for the whole batch


# ---------------------------------------------------------------------------- replay


def test_n_step_windows_through_replay_with_episode_end_and_multi_game():
  # Two games (max rewards 10 and 40), two rows each. Row i gets raw reward (i + 1) * scale
  # at every step, so its normalized reward is i + 1; row 1 ends an episode after t = 2.
  spec = fake_spec(envs_per_game=2, reward_scale=(10.0, 40.0))
  agent = tiny_agent(spec, n_step=3, gamma=0.5, batch_size=64, replay_capacity=4 * 32)
  T = 12
  norm = np.arange(1, 5, dtype=np.float32)[:, None] * np.ones((1, T), np.float32)
  raw = norm * spec.reward_scale[spec.game_ids][:, None]
  terminated = np.zeros((4, T), bool)
  terminated[1, 2] = True
  # Added in two chunks: windows that straddle two `add` calls must be assembled too.
  obs = encoded_obs(4, T)
  actions = np.tile(np.arange(T, dtype=np.int32) % 3, (4, 1))
  state = agent.init(jax.random.PRNGKey(0))
  for sl in (slice(0, 6), slice(6, T)):
    state = add(agent, state, obs[:, sl], actions[:, sl], raw[:, sl], terminated[:, sl])
  assert state.replay.env_steps == 4 * T
  (batch, arch_batch), indices = sample(agent, state, jax.random.PRNGKey(0))
  assert arch_batch is None
  row = np.asarray(batch.obs_tm1[:, 0, 0, 0]).astype(int)
  t = np.asarray(batch.obs_tm1[:, 0, 0, 1]).astype(int)
  assert len(set(zip(row, t))) > 10  # many different windows sampled
  # Windows never run past what was written.
  assert (t + 3 < T).all()
  np.testing.assert_array_equal(batch.obs_t[:, 0, 0, 0], row)
  np.testing.assert_array_equal(batch.obs_t[:, 0, 0, 1], t + 3)
  np.testing.assert_array_equal(batch.a_tm1, t % 3)
  # Game ids and max-reward normalizers: rows 0, 1 play game 0, rows 2, 3 game 1.
  np.testing.assert_array_equal(batch.game_id, row // 2)
  for b in range(len(row)):
    i, s = row[b], t[b]
    if i == 1 and s <= 2:  # the episode ends after step 2: cut there, no bootstrap
      want_r = sum(2.0 * 0.5**j for j in range(3 - s))
      want_d = 0.0
    else:
      want_r = (i + 1) * (1 + 0.5 + 0.25)
      want_d = 0.125
    np.testing.assert_allclose(batch.r_t[b], want_r, rtol=1e-6, err_msg=f"row {i} t {s}")
    np.testing.assert_allclose(batch.discount_t[b], want_d, err_msg=f"row {i} t {s}")
  # Fresh items all carry the initial priority, so the IS weights are all 1.
  np.testing.assert_allclose(batch.weight, 1.0)


def test_in_place_add_equals_flashbax_add_across_wrap_around():
  # rows of 10 steps; adds of 3 steps wrap around the end of the rows on the 4th add.
  spec = fake_spec(envs_per_game=2)
  agent = tiny_agent(spec, n_step=3, replay_capacity=2 * 10, learning_starts=0)
  rng = np.random.default_rng(0)
  state = agent.init(jax.random.PRNGKey(0))
  ref = jax.jit(agent.replay.buffer.init)(agent._empty_record())
  for i in range(6):
    rec = {
      "obs": rng.integers(0, 256, (2, 3) + OBS, dtype=np.uint8),
      "action": rng.integers(0, 3, (2, 3)).astype(np.int32),
      "reward": rng.normal(size=(2, 3)).astype(np.float32),
      "terminated": rng.uniform(size=(2, 3)) < 0.3,
      "game_id": np.zeros((2, 3), np.int32),
    }
    state = add(agent, state, rec["obs"], rec["action"], rec["reward"], rec["terminated"])
    ref = agent.replay.buffer.add(ref, rec)
    mine = jax.tree.map(lambda x: np.asarray(x)[0], state.replay.buffer)
    for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(ref)):
      np.testing.assert_array_equal(a, b)
  assert int(np.asarray(state.replay.buffer.current_index)[0]) == 18 % 10  # wrapped


def test_priorities_updated_from_td_errors():
  spec = fake_spec(envs_per_game=2)
  agent = tiny_agent(spec, n_step=2, batch_size=16, replay_capacity=2 * 32, priority_exponent=0.8)
  d = agent.devices
  rng = np.random.default_rng(0)
  T = 20
  state = agent.init(jax.random.PRNGKey(0))
  host_learner = state.learner
  state = add(
    agent,
    state._replace(learner=d.replicate(state.learner)),
    rng.integers(0, 256, (2, T) + OBS, dtype=np.uint8),
    rng.integers(0, 3, (2, T)).astype(np.int32),
    rng.uniform(0, 1, (2, T)).astype(np.float32),
    rng.uniform(size=(2, T)) < 0.1,
  )
  buffer = jax.tree.map(lambda x: np.asarray(x)[0], state.replay.buffer)
  # The learner step samples with (fold of) this key: draw the same batch here.
  key = jax.random.PRNGKey(2)
  k_sample, _ = jax.random.split(key)
  (batch, _), indices = sample(agent, state, jax.random.fold_in(k_sample, 0))
  before = np.asarray(agent.replay.priorities(buffer, indices))
  np.testing.assert_allclose(before, 1.0)  # new items: the max priority, 1

  # The TD error (C51 loss) of each sampled transition under the pre-update networks.
  @jax.jit
  def td_errors(params, target_params, b):
    logits = lambda p, o: agent.net.apply({"params": p}, o, {})
    sel = rainbow.q_values(logits(params, b.obs_t), agent.atoms)
    return rainbow.categorical_double_q_loss(
      logits(params, b.obs_tm1),
      b.a_tm1,
      b.r_t,
      b.discount_t,
      logits(target_params, b.obs_t),
      sel,
      agent.atoms,
    )

  ce = np.asarray(td_errors(host_learner.params, host_learner.target_params, batch))
  learner, new_buffer, metrics = agent._learn(
    0, state.learner, state.replay.buffer, d.broadcast(key)
  )
  new_buffer = jax.tree.map(lambda x: np.asarray(x)[0], new_buffer)
  np.testing.assert_allclose(np.asarray(metrics["loss/ce"])[0], np.mean(ce), rtol=1e-5)
  after = np.asarray(agent.replay.priorities(new_buffer, indices))
  np.testing.assert_allclose(after, (ce + 1e-6) ** 0.8, rtol=1e-5)
  assert not np.allclose(after, before)
  # An item that was not sampled keeps its priority.
  # (item index = row * steps_per_row + start time; starts 0..T-3 are valid windows).
  valid = np.concatenate([r * agent.row_length + np.arange(T - 3) for r in range(2)])
  others = np.setdiff1d(valid, indices)
  np.testing.assert_allclose(agent.replay.priorities(new_buffer, others[:3]), 1.0)
  # The target network moves only every target_update_period (4 in smoke) updates.
  learner = d.unreplicate(learner)
  assert int(learner.updates) == 1
  same = jax.tree.map(np.array_equal, learner.target_params, host_learner.params)
  assert all(jax.tree.leaves(same))


def test_checkpoint_holds_state_but_not_replay(tmp_path):
  from darts_rl.agents import base
  from darts_rl.train.checkpoint import Checkpointer

  spec = fake_spec(envs_per_game=2)
  agent = tiny_agent(spec, n_step=2, replay_capacity=2 * 32, learning_starts=40)
  d = agent.devices
  state = agent.init(jax.random.PRNGKey(0))
  state = base.to_devices(state._replace(host=rainbow.RainbowHost(np.int64(123))), d)
  state = add(
    agent,
    state,
    np.zeros((2, 20) + OBS, np.uint8),
    np.zeros((2, 20), np.int32),
    np.zeros((2, 20), np.float32),
    np.zeros((2, 20), bool),
  )
  ckpt = Checkpointer(str(tmp_path / "ckpt"))
  ckpt.save(123, {"agent": base.to_host(state, d)})
  fresh = tiny_agent(spec, n_step=2, replay_capacity=2 * 32, learning_starts=40)
  init = fresh.init(jax.random.PRNGKey(1))
  step, restored = ckpt.restore({"agent": {"learner": init.learner, "host": init.host}})
  restored = base.from_host(restored["agent"], d)
  assert step == 123 and int(restored.host.env_steps) == 123
  for a, b in zip(
    jax.tree.leaves(d.unreplicate(restored.learner)), jax.tree.leaves(d.unreplicate(state.learner))
  ):
    np.testing.assert_array_equal(a, b)
  # The replay is explicit state, never checkpointed: a resumed run starts without one and
  # waits for learning_starts new env steps.
  assert restored.replay is None and state.replay.env_steps == 40
  assert fresh.learning_starts == 40


def test_config_variants_and_bad_inputs(tmp_path):
  assert parse_arg("evaluate,demo,multi") == ("evaluate", "demo", True)
  assert parse_arg(None) == ("search", "full", False)
  with pytest.raises(ValueError, match="bad config variant"):
    parse_arg("search,multi,huge")
  full = get_config("search,multi")
  assert len(full.env.games) == 16 and full.env.num_envs % 16 == 0
  assert full.rainbow.n_step == 7 and full.rainbow.num_atoms == 51
  c = get_config("search,smoke")
  c.env.games = ("bigfish", "notagame")
  with pytest.raises(ValueError, match="unknown Procgen game 'notagame'"):
    loop.run(c, str(tmp_path / "bad"), "search")
  c = get_config("search,smoke,multi")
  c.env.num_envs = 3
  with pytest.raises(ValueError, match="multiple of the number of games"):
    loop.run(c, str(tmp_path / "bad2"), "search")
  with pytest.raises(ValueError, match="replay_capacity"):
    tiny_agent(fake_spec(envs_per_game=2), replay_capacity=8)


# ---------------------------------------------------------------------------- end to end


@SMOKE_SEARCHES
def test_search_discretize_evaluate(tmp_path, smoke_searches):
  # The smoke search (4 devices, tests/conftest.py), copied: discretize writes into it.
  s, e = tmp_path / "s", tmp_path / "e"
  shutil.copytree(os.path.join(smoke_searches.one, "rainbow"), s)
  rows = [json.loads(line) for line in (s / "metrics.jsonl").read_text().splitlines()]
  last = [r for r in rows if "learner/updates" in r][-1]
  # 24 iterations of 4 env steps; one update per iteration once the replay holds 32 env
  # steps (iterations 8..24): 17 updates.
  assert last["env_steps"] == 96 and last["learner/updates"] == 17
  assert np.isfinite(last["loss/loss"]) and last["loss/arch_grad_norm"] > 0
  assert "alpha/normal/entropy" in last and "explore/epsilon_mean" in last
  with np.load(s / "alphas.npz") as d:
    moved = [np.abs(d[k][-1] - d[k][0]).max() for k in d.files if k.startswith("normal")]
  assert max(moved) > 0  # the C51 loss trains the alphas
  genotype = phases.discretize(str(s))
  assert (s / "genotype.json").exists() and genotype is not None
  c = get_config("evaluate,smoke")
  c.encoder.genotype = str(s / "genotype.json")
  summary = loop.run(c, str(e), "evaluate")
  assert summary["encoder"] == "fixed" and summary["train_levels"]["episodes"] >= 4
  assert os.path.exists(e / "eval.json") and not os.path.exists(e / "alphas.npz")
