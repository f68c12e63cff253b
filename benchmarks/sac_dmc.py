"""SAC on DM-Control: env frames/s (physics vs rendering) and learner updates/s, 4-layer CNN vs
DARTS supernet, measured in one run, with the ratios.

  python benchmarks/sac_dmc.py [--task=cartpole-swingup] [--batch=256] [--updates=3]
                               [--groups=2] [--skip_env] [--skip_learner] [--size=cpu]
                               [--probe_every=2]

Env: one dm_control env, 84x84 renders. `physics` = control steps without rendering; `render`
= physics.render alone; `env step` = darts_rl's DMCVecEnv.step (action repeat R, one render per
agent step); `render every repeat` = what rendering after every control step would cost;
`groups` = G envs as one batch vs as G groups stepping on their own threads (a run's env
groups, one per device).
Learner: the SAC update of darts_rl.agents.sac (replay sample, shift augmentation, critic +
alphas, actor, temperature, target update) at the full config of experiments/sac_dmc.py
(or `--size`'s; baseline = cnn4, search = supernet), on the default JAX backend.
`--probe_every=N` also times the supernet step with the collapse monitor probing every N
updates (arch.eigen_every_updates; N=2: every other step) and prints what one probe costs.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import block, seconds_per_call, synthetic_spec  # noqa: E402
from darts_rl import parallel  # noqa: E402
from darts_rl.agents import base, make_agent  # noqa: E402
from darts_rl.envs.base import BoxActions  # noqa: E402
from darts_rl.networks import make_encoder  # noqa: E402
from darts_rl.train.actors import Rollout  # noqa: E402
from experiments.sac_dmc import get_config  # noqa: E402

ACTION_DIMS = {
  "cartpole-swingup": 1,
  "reacher-easy": 2,
  "ball_in_cup-catch": 2,
  "finger-spin": 2,
  "cheetah-run": 6,
  "walker-walk": 6,
}


def _rate(fn, n):
  """Calls per second of fn() (host work: the first call is as fast as the others)."""
  return 1.0 / seconds_per_call(fn, (), n, warmup=0)


def env_rates(task: str, n: int):
  from dm_control import suite

  from darts_rl import envs

  repeat = envs.DEFAULT_ACTION_REPEAT.get(task, envs.FALLBACK_ACTION_REPEAT)
  domain, name = envs.dmc.parse_task(task)
  raw = suite.load(domain, name, task_kwargs={"random": 0})
  spec = raw.action_spec()
  rng = np.random.default_rng(0)
  raw.reset()

  def physics():
    if raw.step(rng.uniform(spec.minimum, spec.maximum)).last():
      raw.reset()

  render = lambda: raw.physics.render(84, 84, camera_id=0)
  render()  # creates the GL context
  vec = envs.make_dmc(task, 1, seed=0, action_repeat=repeat)
  vec.reset()
  step = lambda: vec.step(rng.uniform(-1, 1, (1,) + vec.action_spec.shape))
  step()
  out = {
    "repeat": repeat,
    "physics": _rate(physics, n * repeat),
    "render": _rate(render, n),
    "env_step": _rate(step, n),
  }
  vec.close()
  return out


def group_rates(task: str, n: int, groups: int):
  """Agent steps/s of `groups` envs as one batch (stepped in turn on its thread) and as
  `groups` batches of one env started together, as a run's env groups are (one per device):
  each batch steps on its own thread."""
  from darts_rl import envs

  repeat = envs.DEFAULT_ACTION_REPEAT.get(task, envs.FALLBACK_ACTION_REPEAT)
  rng = np.random.default_rng(0)

  def rate(batches):
    for b in batches:
      b.reset()

    def step():
      for b in batches:
        b.step_async(rng.uniform(-1, 1, (b.num_envs,) + b.action_spec.shape))
      for b in batches:
        b.step_wait()

    step()
    r = _rate(step, n) * sum(b.num_envs for b in batches)
    for b in batches:
      b.close()
    return r

  one = rate([envs.make_dmc(task, groups, seed=0, action_repeat=repeat)])
  split = rate(
    [envs.make_dmc(task, 1, seed=0, action_repeat=repeat, first_row=g) for g in range(groups)]
  )
  return one, split


def learner_rates(task: str, phase: str, batch: int, updates: int, probe_every: int = 0):
  c = get_config(phase)
  if probe_every:
    c.arch.eigen_every_updates = probe_every
  c.sac.batch_size = batch
  # The replay content does not change the cost of a step: two adds of `batch` envs fill it.
  c.sac.replay_capacity = 2 * batch
  devices = parallel.Devices(1)
  obs_shape = (c.env.image_size, c.env.image_size, 3 * c.env.frame_stack)
  spec = synthetic_spec(
    obs_shape, BoxActions((ACTION_DIMS.get(task, 1),), -1.0, 1.0), batch, devices, (task,)
  )
  agent = make_agent(c, make_encoder(c.encoder), spec, devices)
  state = base.to_devices(agent.init(jax.random.PRNGKey(0)), devices)
  rng = np.random.default_rng(0)
  frames = lambda: rng.integers(0, 256, (1, 1, batch) + obs_shape, dtype=np.uint8)
  actions = lambda: rng.uniform(-1, 1, (1, 1, batch) + spec.action_spec.shape).astype(np.float32)
  ends = np.zeros((1, 1, batch), bool)
  for _ in range(2):  # one-step rollouts of `batch` envs, as Actors.rollout returns them
    state = agent.add(
      state,
      Rollout(
        devices.put(frames()),
        devices.put(actions()),
        {},
        None,
        rng.normal(size=(1, 1, batch)).astype(np.float32),
        ends,
        ends,
        frames(),
      ),
    )
  box = {"learner": state.learner, "i": 0}

  def update():
    # The agent's compiled learner step (sample, critic + alphas, actor, temperature, target
    # update) has no public name: it is what `iteration` calls updates_per_iteration times.
    # Its first argument is the arch updates so far (when the collapse monitor probes).
    key = devices.broadcast(jax.random.PRNGKey(box["i"]))
    box["learner"], _ = agent._learn(box["i"], box["learner"], state.replay.buffer, key)
    box["i"] += 1
    return box["learner"]

  t = time.perf_counter()
  block(update())
  compile_s = time.perf_counter() - t
  learner = jax.tree.map(lambda x: x[0], box["learner"])
  act = jax.jit(agent.act)
  act_args = (
    learner,
    jnp.asarray(frames()[0, 0, :1]),
    jax.random.split(jax.random.PRNGKey(1), 1),
    jnp.asarray(False),
  )
  return {
    # Two calls first (with the monitor, the step without the probe compiles at the second).
    "updates_per_s": 1.0 / seconds_per_call(update, (), updates, warmup=2),
    "act_per_s": 1.0 / seconds_per_call(act, act_args, 20),
    "compile_s": compile_s,
  }


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--task", default="cartpole-swingup")
  ap.add_argument("--batch", type=int, default=256)
  ap.add_argument("--updates", type=int, default=3)
  ap.add_argument("--env_steps", type=int, default=100)
  ap.add_argument("--groups", type=int, default=2, help="env groups compared with one batch")
  ap.add_argument("--skip_env", action="store_true")
  ap.add_argument("--skip_learner", action="store_true")
  ap.add_argument("--size", default="", help="config size (e.g. cpu; default: the full one)")
  ap.add_argument("--probe_every", type=int, default=0, help="also the monitor's probe cost")
  args = ap.parse_args()
  print(f"backend={jax.default_backend()} devices={jax.devices()} task={args.task}", flush=True)
  env = None
  if not args.skip_env:
    env = env_rates(args.task, args.env_steps)
    print(f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}")
    r = env["repeat"]
    step_ms = 1e3 / env["env_step"]
    render_ms, physics_ms = 1e3 / env["render"], 1e3 / env["physics"]
    print(f"physics only        {env['physics']:9.1f} control steps/s ({physics_ms:.2f} ms)")
    print(f"render only 84x84   {env['render']:9.1f} renders/s ({render_ms:.2f} ms)")
    print(
      f"env step (repeat {r}) {env['env_step']:9.1f} agent steps/s = "
      f"{env['env_step'] * r:.1f} frames/s ({step_ms:.2f} ms; render "
      f"{100 * render_ms / step_ms:.0f}% of it)"
    )
    naive = 1e3 / (r * (physics_ms + render_ms))
    print(
      f"render every repeat {naive:9.1f} agent steps/s (estimated: {r} x (physics + "
      f"render)); rendering once per agent step is {env['env_step'] / naive:.2f}x faster"
    )
    if args.groups > 1:
      one, split = group_rates(args.task, args.env_steps, args.groups)
      print(
        f"{args.groups} envs: one batch {one:.1f} agent steps/s, {args.groups} groups on "
        f"their own threads {split:.1f} agent steps/s ({split / one:.2f}x)"
      )
  if not args.skip_learner:
    res = {}
    size = f",{args.size}" if args.size else ""
    runs = [("baseline", "cnn4", 0), ("search", "supernet", 0)]
    if args.probe_every:
      runs.append(("search", "probing", args.probe_every))
    for phase, name, every in runs:
      res[name] = learner_rates(args.task, phase + size, args.batch, args.updates, every)
      m = res[name]
      print(
        f"learner {name:9s} {m['updates_per_s']:8.3f} updates/s at batch {args.batch} "
        f"(first call incl. compile {m['compile_s']:.1f} s); act {m['act_per_s']:.1f}/s",
        flush=True,
      )
    ratio = res["supernet"]["updates_per_s"] / res["cnn4"]["updates_per_s"]
    print(f"ratio supernet/cnn4 updates/s = {ratio:.3f} (supernet step costs {1 / ratio:.2f}x)")
    if args.probe_every:
      step = 1 / res["supernet"]["updates_per_s"]
      probe = args.probe_every * (1 / res["probing"]["updates_per_s"] - step)
      print(
        f"collapse monitor: a probe costs {probe:.3f} s ({probe / step:.2f} supernet steps; "
        f"probing every {args.probe_every} updates)"
      )
    res.pop("probing", None)
    if env is not None:
      for name, m in res.items():
        it_ms = 1e3 / env["env_step"] + 1e3 / m["act_per_s"] + 1e3 / m["updates_per_s"]
        print(
          f"end-to-end {name:9s} ~{1e3 / it_ms:.2f} env steps/s at 1 update per env step "
          f"(env {100e3 / env['env_step'] / it_ms:.0f}%, update "
          f"{100e3 / m['updates_per_s'] / it_ms:.0f}% of an iteration)"
        )


if __name__ == "__main__":
  main()
