"""PPO learning math against hand-computed numbers; gradient accumulation (ppo.grad_chunks)."""

import jax.numpy as jnp
import numpy as np
import pytest

from darts_rl.agents import ppo


def test_gae_hand_computed_with_episode_end():
  # T=3, one env; the episode ends after t=1 (discount 0 there).
  r = jnp.array([[1.0], [0.0], [2.0]])
  discount = jnp.array([[0.9], [0.0], [0.9]])
  v = jnp.array([[0.5], [1.0], [0.2]])
  v_last = jnp.array([0.4])
  adv = ppo.gae(r, discount, v, v_last, 0.8)
  # delta2 = 2 + .9*.4 - .2 = 2.16; A2 = 2.16
  # delta1 = 0 + 0 - 1 = -1;          A1 = -1 (no bootstrap past the end)
  # delta0 = 1 + .9*1 - .5 = 1.4;     A0 = 1.4 + .9*.8*(-1) = 0.68
  np.testing.assert_allclose(adv[:, 0], [0.68, -1.0, 2.16], rtol=1e-6)


def test_gae_columns_are_independent_envs():
  r = jnp.array([[1.0, 0.0], [1.0, 0.0]])
  discount = jnp.full((2, 2), 0.5)
  v = jnp.zeros((2, 2))
  adv = ppo.gae(r, discount, v, jnp.array([0.0, 4.0]), 1.0)
  np.testing.assert_allclose(adv[:, 0], [1.5, 1.0], rtol=1e-6)  # 1 + .5*1
  np.testing.assert_allclose(adv[:, 1], [1.0, 2.0], rtol=1e-6)  # .5*.5*4, .5*4


def test_ppo_loss_hand_computed():
  logits = jnp.zeros((2, 2))  # pi = [.5, .5]
  actions = jnp.array([0, 1])
  old_logp = jnp.log(jnp.array([0.25, 1.0]))  # ratios 2.0 and 0.5
  adv = jnp.array([1.0, -1.0])
  values = jnp.array([1.0, 0.0])
  old_values = jnp.array([0.5, 0.5])
  returns = jnp.array([2.0, 0.0])
  total, aux = ppo.ppo_loss(
    logits,
    values,
    actions,
    old_logp,
    old_values,
    adv,
    returns,
    clip_eps=0.2,
    value_clip_eps=0.2,
    entropy_coef=0.01,
    value_coef=0.5,
  )
  # surrogate: min(2*1, 1.2*1) = 1.2; min(.5*-1, .8*-1) = -.8; policy loss = -mean = -0.2
  np.testing.assert_allclose(aux["policy_loss"], -0.2, rtol=1e-6)
  # clipped values .7 and .3: max(1, 1.69) = 1.69, max(0, .09) = .09 -> mean = 0.89 (the
  # released loss: no extra 1/2)
  np.testing.assert_allclose(aux["value_loss"], 0.89, rtol=1e-6)
  np.testing.assert_allclose(aux["entropy"], np.log(2), rtol=1e-6)
  np.testing.assert_allclose(aux["clip_frac"], 1.0)
  np.testing.assert_allclose(total, -0.2 + 0.5 * 0.89 - 0.01 * np.log(2), rtol=1e-5)


def test_running_stats_equal_batch_statistics():
  rng = np.random.default_rng(0)
  xs = [rng.normal(3.0, 2.0, size=n) for n in (5, 17, 1, 40)]
  s = ppo.RunningStats.create()
  for x in xs:
    s = s.update(x)
  allx = np.concatenate(xs)
  # The prior (mean 0, var 1, count 1e-4) shifts the result by O(1e-4 / n).
  np.testing.assert_allclose(s.mean, allx.mean(), rtol=1e-4)
  np.testing.assert_allclose(s.var, allx.var(), rtol=1e-4)


def test_normalize_rewards_scales_by_return_std_and_resets_on_done():
  rewards = np.array([[1.0], [1.0], [1.0]], np.float32)
  dones = np.array([[False], [True], [False]])
  stats = ppo.RunningStats.create()
  scaled, stats2, acc = ppo.normalize_rewards(stats, np.zeros(1), rewards, dones, 0.5, 100.0)
  # returns seen: 1, 1.5, then reset -> 1. The last reward is scaled by the std of all three.
  ref = ppo.RunningStats.create().update([1.0]).update([1.5]).update([1.0])
  np.testing.assert_allclose(stats2.var, ref.var)
  np.testing.assert_allclose(scaled[2, 0], 1.0 / np.sqrt(ref.var + 1e-8), rtol=1e-5)
  np.testing.assert_allclose(acc, [1.0])
  clipped, _, _ = ppo.normalize_rewards(stats, np.zeros(1), rewards, dones, 0.5, 10.0)
  assert clipped.max() == 10.0  # the first step's tiny variance gives a huge ratio: clipped


def test_grad_chunks_auto_resolves_by_backend_and_minibatch():
  # Given values are kept; 0 (auto) is 1 off CPU and where the whole minibatch is needed.
  assert ppo.grad_chunks(4, 32, 64, backend="cpu") == 4
  assert ppo.grad_chunks(0, 32, 64, backend="gpu") == 1
  assert ppo.grad_chunks(0, 32, 64, whole_minibatch=True, backend="cpu") == 1
  # On CPU: the fewest chunks (dividing the time steps) with <= 64 samples per call.
  assert ppo.grad_chunks(0, 32, 64, backend="cpu") == 32  # CleanRL: one step of 64 envs
  assert ppo.grad_chunks(0, 16, 32, backend="cpu") == 8  # the demo: 2 steps of 32 envs
  assert ppo.grad_chunks(0, 12, 24, backend="cpu") == 6  # 4 and 5 do not divide 12
  assert ppo.grad_chunks(0, 8, 4, backend="cpu") == 1  # 32 samples: one call already
  assert ppo.grad_chunks(0, 8, 128, backend="cpu") == 8  # > 64 per step: one step per call
  for bad in (-1, 3):
    with pytest.raises(ValueError, match=f"ppo.grad_chunks={bad} must be 0 .auto. or a divisor"):
      ppo.grad_chunks(bad, 8, 4, backend="cpu")


def test_accumulated_update_and_its_monitor_equal_one_call():
  """grad_chunks splits each minibatch's gradient into calls: the same update (params, alphas,
  optimizer states) and the same collapse-monitor probe as one call, up to float order."""
  import jax

  from benchmarks.common import synthetic_ppo_batch, synthetic_spec
  from darts_rl import parallel
  from darts_rl.agents import make_agent
  from darts_rl.envs.base import DiscreteActions
  from darts_rl.networks import make_encoder
  from experiments.ppo_procgen import get_config

  c = get_config("search,smoke")
  c.arch.eigen_every_updates = 1  # a probe at every minibatch,
  c.arch.eigen_iterations = 2  # of 2 Hessian-vector products (less to compile)
  c.arch.smoothing_eps = 0.3  # SDARTS: every chunk of a minibatch sees the same noise
  spec = synthetic_spec((16, 16, 3), DiscreteActions(15), 4, parallel.Devices(1))
  batch = synthetic_ppo_batch(c.ppo.num_steps, 4, (16, 16, 3), 15)
  out = []
  for chunks in (1, 4):
    c.ppo.grad_chunks = chunks
    d = parallel.Devices(1)
    agent = make_agent(c, make_encoder(c.encoder), spec, d)
    assert agent.grad_chunks == chunks and agent.resolved_options() == {}
    learner = d.replicate(agent.init(jax.random.PRNGKey(0)).learner)
    learner, metrics = agent.update(learner, agent.place_batch(batch), jax.random.PRNGKey(1))
    out.append((d.unreplicate(learner), jax.device_get(metrics)))
  (one, m1), (acc, m4) = out
  # Auto on CPU: 32 steps x 4 envs per minibatch -> 2 calls of 64 samples; second-order DARTS
  # needs both minibatches in one call -> 1.
  c.ppo.grad_chunks, c.ppo.num_steps = 0, 64
  assert make_agent(c, make_encoder(c.encoder), spec, d).grad_chunks == 2
  c.arch.mode = "second_order"
  assert make_agent(c, make_encoder(c.encoder), spec, d).grad_chunks == 1
  c.ppo.grad_chunks = 2
  with pytest.raises(ValueError, match="second_order needs both minibatches in one call"):
    make_agent(c, make_encoder(c.encoder), spec, d)
  assert int(acc.arch_opt_state.monitor.probes) == c.ppo.num_epochs * c.ppo.num_minibatches
  for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(acc)):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
  assert max(float(np.abs(a).max()) for a in jax.tree.leaves(acc.alphas)) > 0  # they moved
  for k in m1:
    np.testing.assert_allclose(np.asarray(m1[k]), np.asarray(m4[k]), rtol=1e-3, atol=1e-5)
