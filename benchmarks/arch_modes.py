"""Cost of one DualOptimizer update per arch.mode, and of one collapse-monitor probe.

  python benchmarks/arch_modes.py [--batch=64] [--iters=3] [--rounds=3] [--channels=8,16,16] \
      [--eigen_iterations=10]
Times the jitted `DualOptimizer.update` of a micro supernet (64x64x3 uint8 input, toy loss
mean((features - 0.5)^2)) in joint, alternating and second_order mode, and joint mode with
the monitor probing at every update (`eigen_every_updates=1`): the probe's cost is that
update's time minus the joint update's, per Hessian-vector product divided by
`eigen_iterations`. All in one run, ratios against the joint update; the variants are timed
in `--rounds` interleaved rounds and each keeps its fastest round (the machine is shared).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from benchmarks.encoders import seconds_per_call  # noqa: E402
from darts_rl.agents.optim import DualOptimizer  # noqa: E402
from darts_rl.config import adam_config, arch_config, encoder_config  # noqa: E402
from darts_rl.networks import make_encoder  # noqa: E402


def update_call(enc, arch, obs):
  """(jitted update of both pytrees on two minibatches of `obs`, its arguments)."""
  params = jax.jit(enc.module.init)(jax.random.PRNGKey(0), obs[0], enc.alphas)["params"]

  def loss_fn(p, a, batch):
    return jnp.mean((enc.module.apply({"params": p}, batch, a) - 0.5) ** 2), {}

  opt = DualOptimizer(optax.adam(5e-4), arch)
  step = jax.jit(lambda state, k: opt.update(loss_fn, state, obs[0], obs[1], None, k))
  return step, (opt.init(params, enc.alphas), jax.random.PRNGKey(1))


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=64)
  ap.add_argument("--iters", type=int, default=3)
  ap.add_argument("--rounds", type=int, default=3)
  ap.add_argument("--channels", default="8,16,16")
  ap.add_argument("--eigen_iterations", type=int, default=10)
  args = ap.parse_args()
  enc = make_encoder(
    encoder_config(kind="supernet", channels=tuple(int(c) for c in args.channels.split(",")))
  )
  obs = jnp.asarray(np.random.default_rng(0).integers(0, 256, (2, args.batch, 64, 64, 3), np.uint8))
  runs = {
    "joint": dict(mode="joint"),
    "alternating": dict(mode="alternating"),
    "second_order": dict(mode="second_order"),
    "joint + probe": dict(
      mode="joint", eigen_every_updates=1, eigen_iterations=args.eigen_iterations
    ),
  }
  print(
    f"backend {jax.default_backend()}, supernet channels {args.channels}, "
    f"batch {args.batch}, best of {args.rounds} rounds of {args.iters} updates each"
  )
  calls = {}
  for name, options in runs.items():
    arch = arch_config(adam_config(5e-4))
    arch.update(options)
    calls[name] = update_call(enc, arch, obs)
  times = {name: float("inf") for name in runs}
  for _ in range(args.rounds):
    for name, (step, step_args) in calls.items():
      times[name] = min(times[name], seconds_per_call(step, step_args, args.iters))
  print("| update | ms | / joint |\n|---|---|---|")
  for name, t in times.items():
    print(f"| {name} | {1e3 * t:.1f} | {t / times['joint']:.2f} |")
  probe = times["joint + probe"] - times["joint"]
  print(
    f"probe ({args.eigen_iterations} Hessian-vector products): {1e3 * probe:.1f} ms = "
    f"{probe / times['joint']:.2f} joint updates; one HVP "
    f"{probe / args.eigen_iterations / times['joint']:.2f} joint updates"
  )


if __name__ == "__main__":
  main()
