"""Rainbow on Procgen: learner updates/s and end-to-end env steps/s, supernet vs IMPALA-CNN.

  python benchmarks/rainbow_procgen.py                      # small, a minute or two on 2 CPUs
  python benchmarks/rainbow_procgen.py --size=full          # the released sizes (a GPU)
  python benchmarks/rainbow_procgen.py --channels=16,32,32 --batch_size=128 --num_envs=32

learner: prioritized sample + C51 update (+ alphas for the supernet) + priority write-back, on
a replay filled with random frames. acting: the epsilon-greedy forward pass on one device's env
group. end-to-end (skipped by --learner_only, which needs no Procgen): `agent.iteration` on real
Procgen envs (acting, env steps, replay insertion, updates), built as the training loop builds
it (benchmarks/common.py), timed after the learner has run twice (compilation). Both encoders
are measured in the same run, and the ratio supernet / IMPALA is printed.
"""

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import agent_config, built, measure, seconds_per_call, synthetic_spec  # noqa: E402
from darts_rl import parallel  # noqa: E402
from darts_rl.agents import base, make_agent  # noqa: E402
from darts_rl.envs import MAX_REWARD, DiscreteActions  # noqa: E402
from darts_rl.envs.procgen import OBSERVATION_SHAPE  # noqa: E402
from darts_rl.networks import make_encoder  # noqa: E402


def build_config(kind: str, args):
  c = agent_config("rainbow", "baseline" if kind == "impala" else "supernet", args.size)
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
  # darts_rl/agents/replay.py).
  r.replay_capacity = max(
    int(r.replay_capacity * args.replay_fraction), (r.n_step + 2) * c.env.num_envs * 4
  )
  return c


def learner_and_acting(agent, devices: parallel.Devices, args):
  """(learner updates/s, acting observations/s) on a replay of random frames."""
  rng = np.random.default_rng(0)
  L, n, T = devices.local_count, agent.spec.envs_per_group, agent.config.rainbow.n_step + 8
  shape = agent.spec.observation_shape
  state = base.to_devices(agent.init(jax.random.PRNGKey(0)), devices)
  state = agent.add(
    state,
    devices.put(rng.integers(0, 256, (L, T, n) + shape, dtype=np.uint8)),
    devices.put(rng.integers(0, agent.num_actions, (L, T, n)).astype(np.int32)),
    rng.uniform(0, 1, (L, T, n)).astype(np.float32),
    rng.uniform(size=(L, T, n)) < 0.01,
  )
  box = {"learner": state.learner, "buffer": state.replay.buffer, "i": 0}

  def update():
    # The agent's compiled learner step (sample, C51 update, priority write-back) has no
    # public name: it is what `iteration` calls updates_per_iteration times.
    # Its first argument is the arch updates so far (when the collapse monitor probes).
    key = devices.broadcast(jax.random.PRNGKey(box["i"]))
    box["learner"], box["buffer"], _ = agent._learn(box["i"], box["learner"], box["buffer"], key)
    box["i"] += 1
    return box["buffer"]

  ups = 1.0 / seconds_per_call(update, (), args.updates, warmup=2)
  # Acting: the epsilon-greedy forward pass of one device's env group.
  learner = jax.tree.map(lambda x: x[0], box["learner"])
  obs = jnp.asarray(rng.integers(0, 256, (n,) + shape, dtype=np.uint8))
  keys = jax.random.split(jax.random.PRNGKey(2), n)
  act = jax.jit(agent.act)
  aps = n / seconds_per_call(
    act, (learner, obs, keys, jnp.full((n,), 0.01)), args.updates, warmup=2
  )
  return ups, aps


def bench(kind: str, args):
  c = build_config(kind, args)
  devices = parallel.Devices(args.devices)
  if args.learner_only:
    games = tuple(c.env.games)
    spec = synthetic_spec(
      OBSERVATION_SHAPE,
      DiscreteActions(15),
      c.env.num_envs,
      devices,
      games,
      [MAX_REWARD[g] for g in games],
    )
    agent = make_agent(c, make_encoder(c.encoder), spec, devices)
    return (*learner_and_acting(agent, devices, args), math.nan, agent)
  # End to end: real envs, built as the training loop builds them; learning from the start.
  with built(c, devices) as b:
    ups, aps = learner_and_acting(b.agent, devices, args)
    m = measure(b, jax.random.PRNGKey(1), args.iterations)
  return ups, aps, m.env_steps_per_s, b.agent


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument(
    "--size",
    default="demo",
    choices=("smoke", "demo", "full"),
    help="base sizes from experiments/rainbow_procgen.py (default demo: small)",
  )
  p.add_argument("--channels", default="", help="encoder channels per stage, e.g. 16,32,32")
  p.add_argument("--cells_per_stage", type=int, default=None)
  p.add_argument("--num_nodes", type=int, default=None, help="supernet nodes per cell")
  p.add_argument(
    "--partial_channels",
    type=int,
    default=None,
    help="supernet PC-DARTS partial channels P (1 = exact DARTS)",
  )
  p.add_argument("--batch_size", type=int, default=None)
  p.add_argument("--num_envs", type=int, default=None)
  p.add_argument("--rollout_steps", type=int, default=None)
  p.add_argument("--updates_per_iteration", type=int, default=None)
  p.add_argument("--hidden", type=int, default=None)
  p.add_argument("--games", default="bigfish", help="comma-separated Procgen games")
  p.add_argument(
    "--replay_fraction",
    type=float,
    default=1.0,
    help="replay capacity as a fraction of the config's (memory)",
  )
  p.add_argument("--only", default="impala,supernet", help="encoders to measure")
  p.add_argument("--updates", type=int, default=20, help="timed learner updates")
  p.add_argument("--iterations", type=int, default=20, help="timed agent iterations")
  p.add_argument(
    "--devices",
    type=int,
    default=1,
    help="JAX devices the envs and the learner are split over (0: all local)",
  )
  p.add_argument(
    "--learner_only",
    action="store_true",
    help="skip the Procgen end-to-end part (learner and acting only)",
  )
  args = p.parse_args()
  print(
    f"device: {jax.devices()[0].device_kind} x {jax.local_device_count()} "
    f"({jax.default_backend()})",
    flush=True,
  )
  res = {}
  for kind in args.only.split(","):
    ups, aps, sps, agent = bench(kind, args)
    c = agent.config
    res[kind] = (ups, aps, sps)
    print(
      f"{kind:9s} channels={tuple(c.encoder.channels)} cells={c.encoder.cells_per_stage} "
      f"nodes={c.encoder.num_nodes} P={c.encoder.partial_channels} "
      f"batch={c.rainbow.batch_size} envs={agent.spec.num_envs} "
      f"env_steps/iter={agent.env_steps_per_iteration} "
      f"updates/iter={c.rainbow.updates_per_iteration}: "
      f"{ups:8.2f} learner updates/s  {aps:9.1f} acting obs/s  {sps:8.1f} env steps/s",
      flush=True,
    )
  names = ("learner updates/s", "acting obs/s", "env steps/s")
  if len(res) == 2:
    ratios = [
      f"{n} {s / i:.3f} ({i / s:.1f}x slower)"
      for n, i, s in zip(names, res["impala"], res["supernet"])
      if i == i
    ]
    print("ratio supernet/impala: " + ", ".join(ratios))


if __name__ == "__main__":
  main()
