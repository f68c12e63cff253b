"""PPO learning math against hand-computed numbers."""

import jax.numpy as jnp
import numpy as np

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
