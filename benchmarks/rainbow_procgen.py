"""Rainbow on Procgen: learner updates/s and end-to-end env steps/s, supernet vs IMPALA-CNN.

  python benchmarks/rainbow_procgen.py                      # small, a minute or two on 2 CPUs
  python benchmarks/rainbow_procgen.py --size=full          # the released sizes (a GPU)
  python benchmarks/rainbow_procgen.py --channels=16,32,32 --batch_size=128 --num_envs=32

learner: prioritized sample + C51 update (+ alphas for the supernet) + priority write-back, on
a replay filled with random frames. acting: the epsilon-greedy forward pass on num_envs
observations. end-to-end (skipped by --learner_only, which needs no Procgen): `agent.iteration`
on real Procgen envs (acting, env steps, replay insertion, updates). Both encoders are measured
in the same run, and the ratio supernet / IMPALA is printed.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from darts_rl.agents.rainbow import Rainbow  # noqa: E402
from darts_rl.envs import DiscreteActions, MAX_REWARD, make_env  # noqa: E402
from darts_rl.envs.procgen import OBSERVATION_SHAPE  # noqa: E402
from darts_rl.networks import make_encoder  # noqa: E402
from darts_rl.rollout import EnvRunner  # noqa: E402
from experiments.rainbow_procgen import get_config  # noqa: E402


def build_config(kind: str, args):
  c = get_config(f"{'search' if kind == 'supernet' else 'baseline'},{args.size}")
  if args.channels:
    c.encoder.channels = tuple(int(x) for x in args.channels.split(","))
  for name in ("cells_per_stage", "num_nodes", "partial_channels"):
    if getattr(args, name) is not None:
      c.encoder[name] = getattr(args, name)
  r = c.rainbow
  for name in ("batch_size", "rollout_steps", "updates_per_iteration", "hidden"):
    if getattr(args, name) is not None:
      r[name] = getattr(args, name)
  if args.num_envs is not None:
    c.env.num_envs = args.num_envs
  c.env.games = tuple(args.games.split(","))
  # The replay at its configured size by default: writing into it is part of an iteration's
  # cost (a flashbax scatter over the whole buffer cost 800 ms per add at the demo size, before
  # darts_rl/agents/replay.py). Learn from the start.
  r.replay_capacity = max(int(r.replay_capacity * args.replay_fraction),
                          (r.n_step + 2) * c.env.num_envs * 4)
  r.learning_starts = 0
  return c


def timed(fn, n: int, warmup: int) -> float:
  """Calls per second of fn() after `warmup` untimed calls (fn blocks until done)."""
  for _ in range(warmup):
    fn()
  t = time.perf_counter()
  for _ in range(n):
    fn()
  return n / (time.perf_counter() - t)


class EnvSpec:
  """What Rainbow reads from an env, for --learner_only runs without Procgen."""

  def __init__(self, env_config):
    games = tuple(env_config.games)
    self.num_envs = env_config.num_envs
    self.observation_shape = OBSERVATION_SHAPE
    self.action_spec = DiscreteActions(15)
    self.game_ids = np.repeat(np.arange(len(games), dtype=np.int32), self.num_envs // len(games))
    self.game_names = games
    self.reward_scale = np.asarray([MAX_REWARD[g] for g in games], np.float32)

  def close(self):
    pass


def bench(kind: str, args):
  c = build_config(kind, args)
  env = EnvSpec(c.env) if args.learner_only else make_env(c.env, 0, "train")
  try:
    agent = Rainbow(c, make_encoder(c.encoder), env)
    state = agent.init(jax.random.PRNGKey(0))
    # Learner: a replay of random frames, full enough to sample.
    rng = np.random.default_rng(0)
    N, T = env.num_envs, agent.config.rainbow.n_step + 8
    agent.add_records(rng.integers(0, 256, (N, T) + agent.obs_shape, dtype=np.uint8),
                      rng.integers(0, agent.num_actions, (N, T)).astype(np.int32),
                      rng.uniform(0, 1, (N, T)).astype(np.float32), rng.uniform(size=(N, T)) < .01)
    box = {"state": state, "key": jax.random.PRNGKey(1)}

    def learner_update():
      box["key"], ks, ku = jax.random.split(box["key"], 3)
      batch, indices = agent.sample(ks)
      box["state"], m = agent.update_step(box["state"], batch, ku)
      agent.set_priorities(indices, m.pop("priorities"))
      jax.block_until_ready(agent.buffer_state)

    ups = timed(learner_update, args.updates, warmup=2)
    obs = rng.integers(0, 256, (N,) + agent.obs_shape, dtype=np.uint8)
    acts = timed(lambda: agent.act(box["state"], obs, box["key"]), args.updates, warmup=2)
    if args.learner_only:
      return ups, acts * N, float("nan"), agent
    # End to end: real envs; learning is on (the replay already holds enough steps).
    runner = EnvRunner(env)

    def iteration():
      box["key"], k = jax.random.split(box["key"])
      box["state"], _ = agent.iteration(box["state"], runner, k)

    sps = timed(iteration, args.iterations, warmup=2) * agent.env_steps_per_iteration
    return ups, acts * N, sps, agent
  finally:
    env.close()


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--size", default="demo", choices=("smoke", "demo", "full"),
                 help="base sizes from experiments/rainbow_procgen.py (default demo: small)")
  p.add_argument("--channels", default="", help="encoder channels per stage, e.g. 16,32,32")
  p.add_argument("--cells_per_stage", type=int, default=None)
  p.add_argument("--num_nodes", type=int, default=None, help="supernet nodes per cell")
  p.add_argument("--partial_channels", type=int, default=None,
                 help="supernet PC-DARTS partial channels P (1 = exact DARTS)")
  p.add_argument("--batch_size", type=int, default=None)
  p.add_argument("--num_envs", type=int, default=None)
  p.add_argument("--rollout_steps", type=int, default=None)
  p.add_argument("--updates_per_iteration", type=int, default=None)
  p.add_argument("--hidden", type=int, default=None)
  p.add_argument("--games", default="bigfish", help="comma-separated Procgen games")
  p.add_argument("--replay_fraction", type=float, default=1.0,
                 help="replay capacity as a fraction of the config's (memory)")
  p.add_argument("--only", default="impala,supernet", help="encoders to measure")
  p.add_argument("--updates", type=int, default=20, help="timed learner updates")
  p.add_argument("--iterations", type=int, default=20, help="timed agent iterations")
  p.add_argument("--learner_only", action="store_true",
                 help="skip the Procgen end-to-end part (learner and acting only)")
  args = p.parse_args()
  print(f"device: {jax.devices()[0].device_kind} x {jax.local_device_count()} "
        f"({jax.default_backend()})", flush=True)
  res = {}
  for kind in args.only.split(","):
    ups, aps, sps, agent = bench(kind, args)
    c = agent.config
    res[kind] = (ups, aps, sps)
    print(f"{kind:9s} channels={tuple(c.encoder.channels)} cells={c.encoder.cells_per_stage} "
          f"nodes={c.encoder.num_nodes} P={c.encoder.partial_channels} "
          f"batch={c.rainbow.batch_size} envs={agent.num_envs} "
          f"env_steps/iter={agent.env_steps_per_iteration} "
          f"updates/iter={c.rainbow.updates_per_iteration}: "
          f"{ups:8.2f} learner updates/s  {aps:9.1f} acting obs/s  {sps:8.1f} env steps/s",
          flush=True)
  names = ("learner updates/s", "acting obs/s", "env steps/s")
  if len(res) == 2:
    ratios = [f"{n} {s / i:.3f} ({i / s:.1f}x slower)"
              for n, i, s in zip(names, res["impala"], res["supernet"]) if i == i]
    print("ratio supernet/impala: " + ", ".join(ratios))


if __name__ == "__main__":
  main()
