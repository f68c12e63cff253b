"""Every device acts: 4 forced CPU devices produce the same rollout and the same PPO update as
1 device playing the same envs (also with gradient accumulation), in both arch modes, and the
same evaluation whatever the rows per acting call."""

import textwrap

import numpy as np
import pytest

from darts_rl import parallel
from tests.forced_devices import assert_script_ok

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    assert jax.local_device_count() == 4, jax.local_device_count()
    from darts_rl import parallel
    from darts_rl.agents import base, make_agent
    from darts_rl.envs.base import DiscreteActions, Step
    from darts_rl.networks import make_encoder
    from darts_rl.train.actors import Actors
    from experiments.ppo_procgen import get_config

    N, OBS = 8, (16, 16, 3)

    class RowEnv:
      '''Row r of the run (global index) sees pixels (r, t, last action); episodes end every
      r % 3 + 3 steps with reward 1 when the last action was r % 15: what a row plays depends
      on its global index and its own actions only.'''
      action_spec, observation_shape = DiscreteActions(15), OBS
      game_names, reward_scale = ('rows',), np.ones(1, np.float32)

      def __init__(self, first, n):
        self.rows = first + np.arange(n)
        self.num_envs, self.game_ids = n, np.zeros(n, np.int32)

      def _obs(self):
        o = np.zeros((self.num_envs,) + OBS, np.uint8)
        o[:, :, :, 0] = self.rows[:, None, None] * 20
        o[:, :, :, 1] = (self.t * 7)[:, None, None] % 256
        o[:, :, :, 2] = self.a[:, None, None] * 16
        return o

      def reset(self):
        self.t = np.zeros(self.num_envs, int)
        self.a = np.zeros(self.num_envs, int)
        self.ret = np.zeros(self.num_envs)
        return self._obs()

      def step_async(self, actions):
        self.a = np.asarray(actions)

      def step_wait(self):
        self.t += 1
        r = (self.a == self.rows % 15).astype(np.float32)
        self.ret += r
        done = self.t % (self.rows % 3 + 3) == 0
        ep = np.where(done, self.ret, np.nan).astype(np.float32)
        self.ret[done] = 0
        return Step(self._obs(), r, done, np.zeros_like(done), None, ep, ep)

      def close(self):
        pass

    make = lambda cfg, seed, split, g, groups, local: RowEnv(g * (N // groups), N // groups)


    def check(mode):
      c = get_config('search,smoke')
      c.arch.mode = mode
      c.env.num_envs = N
      enc = make_encoder(c.encoder)
      outs = []
      # Joint: 4 devices, then 4 devices with gradient accumulation; alternating: both at once.
      for count, chunks in ((1, 1), (4, 1), (4, 4)) if mode == 'joint' else ((1, 1), (4, 4)):
        c.ppo.grad_chunks = chunks
        d = parallel.Devices(count)
        actors = Actors(c.env, 0, 'train', d, make=make)
        agent = make_agent(c, enc, actors.spec, d)
        state = base.to_devices(agent.init(jax.random.PRNGKey(0)), d)
        ro = actors.rollout(agent.act, state.learner, c.ppo.num_steps, jax.random.PRNGKey(1))
        rollout = {k: parallel.merge(np.asarray(v), axis=1)
                   for k, v in (('obs', ro.obs), ('actions', ro.actions),
                                ('logp', ro.extras['logp']), ('value', ro.extras['value']))}
        rollout['rewards'] = parallel.merge(ro.rewards, axis=1)
        state, metrics = agent.iteration(state, actors, jax.random.PRNGKey(2))
        metrics = jax.device_get(metrics)
        outs.append((rollout, d.unreplicate(state.learner), state.host,
                     {k: float(np.asarray(v)[0]) for k, v in metrics.items()}))
      r1, l1, h1, m1 = outs[0]
      for r4, l4, h4, m4 in outs[1:]:
        for k in ('obs', 'actions', 'rewards'):
          np.testing.assert_array_equal(r1[k], r4[k], err_msg=k)
        for k in ('logp', 'value'):
          np.testing.assert_allclose(r1[k], r4[k], rtol=1e-5, atol=1e-6, err_msg=k)
        for a, b in zip(jax.tree.leaves(l1), jax.tree.leaves(l4)):
          np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
        np.testing.assert_array_equal(h1.ret_acc, h4.ret_acc)
        assert sorted(m1) == sorted(m4)
        for k in m1:
          np.testing.assert_allclose(m1[k], m4[k], rtol=1e-3, atol=1e-5, err_msg=k)
        # The update moved the alphas (search is on) by the same amount on every path.
        assert max(float(np.abs(a).max()) for a in jax.tree.leaves(l4.alphas)) > 0
      assert r1['rewards'].sum() > 0          # the rollouts did something


    def check_eval():
      # An evaluation plays the same actions on 1 or 4 devices and whatever rows one acting
      # call computes (loop.eval_batch): all 8 in env order, 3 (not a divisor: a call pads
      # with rows computed twice), 1 per device of 2 (rows that owe episodes first).
      c = get_config('baseline,smoke')
      c.env.num_envs = N
      enc = make_encoder(c.encoder)
      outs = []
      for count, rows in ((1, 0), (1, 3), (4, 1)):
        d = parallel.Devices(count)
        actors = Actors(c.env, 0, 'test', d, make=make)
        agent = make_agent(c, enc, actors.spec, d)
        learner = base.to_devices(agent.init(jax.random.PRNGKey(0)), d).learner
        res = actors.run_episodes(
            agent.eval_act, learner, 2 * N, jax.random.PRNGKey(3), 10**6, rows)
        outs.append(res['returns'])
      assert outs[0] == outs[1] == outs[2], outs
      assert all(len(r) == 2 for r in outs[0])
      assert sum(map(sum, outs[0])) > 0, outs[0]  # the actions earned rewards


    for mode in ('joint', 'alternating'):
      check(mode)
    check_eval()
    print('OK')
""")


@pytest.mark.heavy
def test_every_device_acts_and_the_update_equals_one_device():
  # Both arch modes in one process: the acting programs are compiled once.
  assert_script_ok(SCRIPT, devices=4)


def test_split_and_merge_are_inverse():
  x = np.arange(2 * 12 * 3).reshape(2, 12, 3)
  parts = parallel.split(x, 4, axis=1)
  assert parts.shape == (4, 2, 3, 3)
  np.testing.assert_array_equal(parts[1], x[:, 3:6])
  np.testing.assert_array_equal(parallel.merge(parts, axis=1), x)
  with pytest.raises(ValueError, match="does not split over 5 devices"):
    parallel.split(x, 5, axis=1)


def test_a_compiled_step_that_retraces_is_an_error():
  import jax.numpy as jnp

  d = parallel.Devices(1)
  step = d.compile(lambda x: x * 2)
  np.testing.assert_array_equal(step(d.broadcast(jnp.ones(3))), [[2.0, 2.0, 2.0]])
  step(d.broadcast(jnp.zeros(3)))  # same shapes: no new trace
  with pytest.raises(parallel.RetraceError, match="traced 2 times"):
    step(d.broadcast(jnp.ones(4)))  # a new shape: a silent recompile, refused
