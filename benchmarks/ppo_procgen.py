"""PPO on Procgen, end to end: env steps/s for IMPALA-CNN, the supernet, and PyTorch.

  python benchmarks/ppo_procgen.py                       # quick: 16 envs x 64 steps
  python benchmarks/ppo_procgen.py --cleanrl   # CleanRL ppo_procgen: 64 x 256, 8 mb, 3 epochs
  python benchmarks/ppo_procgen.py --encoders=impala,supernet,supernet_pc4 --iters=2
  python benchmarks/ppo_procgen.py --demo --iters=2      # the demo's shapes (make demo)
  python benchmarks/ppo_procgen.py --demo --acting --encoders=supernet --iters=5

Each encoder runs the real loop body (darts_rl/train/actors.py's rollout on every device's env
group + the PPO update, built as the training loop builds them: benchmarks/common.py): two
untimed warm-up iterations (compilation), then `--iters` timed ones. Prints env steps/s end to
end, the learner's samples/s (samples x epochs / update time: the iteration less its rollout),
the rollout's env steps/s, the actor's share of the iteration's wall time (actor_share), the
host <-> device copies per iteration (h2d / d2h calls and megabytes: all of them, since the
loop runs under jax.transfer_guard("disallow"); benchmarks/common.py:Transfers), and ratios
measured in this one run. --acting times the rollout alone per env step, with the acting step
given params and alphas (what the loop passes) against the whole learner (what it was given
before), in interleaved rounds. The PyTorch figure
(benchmarks/torch_ppo.py, CleanRL's implementation of the same step) is added when torch is
installed (`pip install -e .[bench]`).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import (  # noqa: E402
  block,
  built,
  measure,
  ppo_learner_samples_per_s,
  seconds_per_call,
)
from darts_rl import parallel  # noqa: E402
from experiments.ppo_procgen import get_config  # noqa: E402

ENCODERS = {
  "impala": dict(kind="impala"),
  "supernet": dict(kind="supernet"),
  "supernet_pc4": dict(kind="supernet", partial_channels=4),
  "supernet_pc2": dict(kind="supernet", partial_channels=2),
  # Search at half width (a proxy, as DARTS searches narrower networks than it retrains):
  # the width of the CPU evidence searches; impala stays at 16/32/32.
  "supernet_half": dict(kind="supernet", channels=(8, 16, 16)),
  "supernet_half_pc4": dict(kind="supernet", channels=(8, 16, 16), partial_channels=4),
}


def config_for(name, args):
  phase = "baseline" if name == "impala" else "search"
  c = get_config(f"{phase},demo" if args.demo else phase)
  c.encoder.update(ENCODERS[name])
  if args.demo:  # the demo's own shapes, game and grad_chunks
    return c
  c.env.games = (args.game,)
  c.env.num_envs = args.num_envs
  c.ppo.num_steps, c.ppo.num_minibatches, c.ppo.num_epochs = (
    args.num_steps,
    args.num_minibatches,
    args.num_epochs,
  )
  c.ppo.grad_chunks = args.chunks
  return c


def bench_learner(name, args):
  """Learner only, on a synthetic batch (no env libraries needed: runs on a bare GPU box)."""
  c = config_for(name, args)
  devices = parallel.Devices(args.devices)
  return {"learner_samples_per_s": ppo_learner_samples_per_s(c, devices, args.iters)}


def bench_jax(name, args):
  """The real loop body on Procgen: Actors + agent.iteration; the rollout timed apart, and the
  host <-> device copies of an iteration counted."""
  c = config_for(name, args)
  with built(c, parallel.Devices(args.devices)) as bench:
    m = measure(bench, jax.random.PRNGKey(1), args.iters, split=True)
  steps = c.env.num_envs * c.ppo.num_steps
  learner_s = m.seconds - m.rollout_s
  copies = m.transfers.per_iteration(m.iterations)
  return {
    "env_steps_per_s": m.env_steps_per_s,
    "learner_samples_per_s": steps * c.ppo.num_epochs * m.iterations / learner_s,
    "rollout_env_steps_per_s": steps * m.iterations / m.rollout_s,
    "actor_share": m.rollout_s / m.seconds,
    **{f"{k}_per_iter": v for k, v in copies.items()},
  }


def bench_acting(name, args):
  """Per-env-step time of the actors' rollout (an iteration's acting: the compiled acting
  step, the uploads and the env steps) with what the loop passes it, `agent.acting(learner)`
  (params and alphas: `lean`), against the whole learner, optimizer states included (`whole`,
  the acting step's argument before), in interleaved rounds of this one run (each form with
  its own compiled step), and the env steps alone. -> {form: best ms per env step, ...},
  ratio whole / lean."""
  c = config_for(name, args)
  with built(c, parallel.Devices(args.devices)) as bench:
    agent, actors, learner = bench.agent, bench.actors, bench.state.learner
    forms = {"lean": agent.acting(learner), "whole": learner}
    T = c.ppo.num_steps
    times = {f: [] for f in forms}
    for r in range(args.iters + 1):  # round 0 compiles
      for form, tree in forms.items():
        t = time.perf_counter()
        rollout = actors.rollout(agent.act, tree, T, jax.random.PRNGKey(r))
        block(rollout.obs)
        if r:
          times[form].append((time.perf_counter() - t) / (T * c.env.num_envs) * 1e3)
    # The env steps alone (no acting), for the share an overlap of acting and env steps
    # (Sebulba's alternating groups) could hide at most.
    zeros = np.zeros((actors.devices.local_count, actors.n), np.int32)
    t = time.perf_counter()
    for _ in range(T):
      actors._step_envs(zeros)
    env_ms = (time.perf_counter() - t) / (T * c.env.num_envs) * 1e3
  out = {f"{form}_ms_per_env_step": min(ts) for form, ts in times.items()}
  out["envs_alone_ms_per_env_step"] = env_ms
  out["ratio_whole_over_lean"] = out["whole_ms_per_env_step"] / out["lean_ms_per_env_step"]
  return out


def bench_torch(args):
  import torch

  from benchmarks.torch_ppo import TorchPPO, iteration
  from darts_rl.envs import make_env

  torch.set_num_threads(os.cpu_count())
  c = config_for("impala", args)
  env = make_env(c.env, 0, "train")
  agent = TorchPPO(
    env.action_spec.num_actions,
    args.num_envs,
    args.num_steps,
    args.num_minibatches,
    args.num_epochs,
  )
  box = {"obs": env.reset(), "split": []}

  def one():
    box["obs"], rollout_s, update_s = iteration(agent, env, box["obs"])
    box["split"].append((rollout_s, update_s))

  seconds = seconds_per_call(one, (), args.iters)
  env.close()
  rollout_s, update_s = np.mean(box["split"][1:], axis=0)  # the first is the warm-up
  steps = args.num_envs * args.num_steps
  return {
    "env_steps_per_s": steps / seconds,
    "learner_samples_per_s": steps * args.num_epochs / update_s,
    "rollout_env_steps_per_s": steps / rollout_s,
  }


def _num(v: float) -> str:
  return f"{v:9.1f}" if abs(v) >= 100 else f"{v:9.3f}"


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--encoders", default="impala,supernet")
  ap.add_argument("--game", default="starpilot")
  ap.add_argument("--num_envs", type=int, default=16)
  ap.add_argument("--num_steps", type=int, default=64)
  ap.add_argument("--num_minibatches", type=int, default=4)
  ap.add_argument("--num_epochs", type=int, default=2)
  ap.add_argument("--iters", type=int, default=1)
  ap.add_argument(
    "--devices",
    type=int,
    default=1,
    help="JAX devices the envs and the learner are split over (0: all local)",
  )
  ap.add_argument(
    "--grad_chunks",
    default="1",
    help="comma-separated ppo.grad_chunks values; each JAX encoder runs with each",
  )
  ap.add_argument(
    "--cleanrl", action="store_true", help="64 envs x 256 steps, 8 minibatches, 3 epochs"
  )
  ap.add_argument(
    "--demo",
    action="store_true",
    help="the demo's shapes (experiments/ppo_procgen.py:search,demo / baseline,demo)",
  )
  ap.add_argument(
    "--acting",
    action="store_true",
    help="rollout time per env step: params and alphas (lean) vs the whole learner",
  )
  ap.add_argument("--no_torch", action="store_true")
  ap.add_argument(
    "--learner_only",
    action="store_true",
    help="PPO update on a synthetic batch only (no envs, no torch)",
  )
  args = ap.parse_args()
  if args.cleanrl:
    args.num_envs, args.num_steps, args.num_minibatches, args.num_epochs = 64, 256, 8, 3
  print(
    f"backend={jax.default_backend()} envs={args.num_envs} steps={args.num_steps} "
    f"minibatches={args.num_minibatches} epochs={args.num_epochs} iters={args.iters} "
    f"grad_chunks={args.grad_chunks} (the first is each encoder's row, others /kN)",
    flush=True,
  )
  if args.demo:
    c = get_config("search,demo")
    print(
      f"--demo: {c.env.games[0]}, envs={c.env.num_envs} steps={c.ppo.num_steps} "
      f"minibatches={c.ppo.num_minibatches} epochs={c.ppo.num_epochs} "
      f"channels={tuple(c.encoder.channels)} (the flags above do not apply)",
      flush=True,
    )
  res = {}
  chunk_list = [int(k) for k in args.grad_chunks.split(",")]
  for name in args.encoders.split(","):
    for i, args.chunks in enumerate(chunk_list):
      label = name if i == 0 else f"{name}/k{args.chunks}"
      fn = bench_learner if args.learner_only else bench_acting if args.acting else bench_jax
      res[label] = fn(name, args)
      print(
        f"{label:18s} " + "  ".join(f"{k} {_num(v)}" for k, v in res[label].items()), flush=True
      )
  if not (args.no_torch or args.learner_only or args.acting or args.demo):
    try:
      res["torch_impala"] = bench_torch(args)
      print(
        "torch_impala       " + "  ".join(f"{k} {v:9.1f}" for k, v in res["torch_impala"].items()),
        flush=True,
      )
    except ImportError:
      print("torch not installed: pip install -e '.[bench]' for the PyTorch figure")
  base = res.get("impala")
  if base:
    for name, r in res.items():
      if name != "impala":
        print(
          f"ratio {name}/impala: " + ", ".join(f"{k} {r[k] / base[k]:.3f}" for k in r if k in base)
        )


if __name__ == "__main__":
  main()
