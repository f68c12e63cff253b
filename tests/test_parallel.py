"""The pmapped PPO update on 4 forced CPU devices equals the single-device update, and so does
the update with gradient accumulation (ppo.grad_chunks) on top of the pmap."""
import textwrap

import pytest

from tests.forced_devices import assert_script_ok

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    assert jax.local_device_count() == 4, jax.local_device_count()
    from experiments.ppo_procgen import get_config
    from darts_rl.agents.ppo import PPO, Batch
    from darts_rl.envs.base import DiscreteActions
    from darts_rl.networks import make_encoder

    c = get_config('search,smoke')
    c.arch.mode = '{mode}'
    T, N = c.ppo.num_steps, 8
    enc = make_encoder(c.encoder)
    rng = np.random.default_rng(0)
    batch = Batch(obs=rng.integers(0, 256, (T, N, 64, 64, 3), dtype=np.uint8),
                  actions=rng.integers(0, 15, (T, N)).astype(np.int32),
                  logp=np.log(rng.uniform(0.02, 0.2, (T, N))).astype(np.float32),
                  values=rng.normal(size=(T, N)).astype(np.float32),
                  rewards=rng.normal(size=(T, N)).astype(np.float32),
                  dones=rng.uniform(size=(T, N)) < 0.1,
                  last_value=rng.normal(size=(N,)).astype(np.float32))
    outs = []
    for devices, chunks in ((1, 1), (4, 1), (4, 4)):
      c.ppo.grad_chunks = chunks
      agent = PPO(c, enc, (64, 64, 3), DiscreteActions(15), N, devices=devices)
      state = agent.init(jax.random.PRNGKey(0))
      state, metrics = agent.update_step(state, batch, jax.random.PRNGKey(1))
      outs.append((state, metrics))
    s1, m1 = outs[0]
    for s4, m4 in outs[1:]:
      for a, b in zip(jax.tree.leaves((s1.params, s1.alphas, s1.opt_state)),
                      jax.tree.leaves((s4.params, s4.alphas, s4.opt_state))):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
      assert sorted(m1) == sorted(m4)
      for k in m1:
        np.testing.assert_allclose(m1[k], m4[k], rtol=1e-3, atol=1e-5, err_msg=k)
      # The update moved the alphas (search is on) by the same amount on every path.
      assert max(float(np.abs(a).max()) for a in jax.tree.leaves(s4.alphas)) > 0
    print('OK')
""")


@pytest.mark.parametrize("mode", ["joint", "alternating"])
def test_pmapped_update_equals_single_device(mode):
  assert_script_ok(SCRIPT.format(mode=mode), devices=4)
