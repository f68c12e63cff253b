"""Encoder forward+backward throughput (samples/s) and the supernet / IMPALA-CNN ratio.

  python benchmarks/encoders.py [--batch=256] [--iters=10] [--chunks=1]
Measures jitted value_and_grad of sum(features**2) w.r.t. params and alphas on uint8
64x64x3 input, on the default JAX backend (CPU here, GPU where present), all in one run.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.common import seconds_per_call  # noqa: E402
from darts_rl.config import encoder_config  # noqa: E402
from darts_rl.networks import make_encoder  # noqa: E402
from darts_rl.search.spaces import MicroSpace  # noqa: E402


def encoders():
  g = MicroSpace().sample(np.random.default_rng(0))
  return {
    "impala": (encoder_config(kind="impala"), None),
    "cnn4": (encoder_config(kind="cnn4", channels=(32,), head="sac", feature_dim=50), None),
    "supernet_base": (encoder_config(kind="supernet", op_set="base"), None),
    "supernet_classic": (encoder_config(kind="supernet", op_set="classic"), None),
    "supernet_base_pc4": (encoder_config(kind="supernet", op_set="base", partial_channels=4), None),
    "fixed": (encoder_config(kind="fixed"), g),
  }


def train_step(cfg, genotype, batch):
  """(jitted forward+backward step, its arguments) for one encoder at batch size `batch`."""
  enc = make_encoder(cfg, genotype=genotype)
  obs = jnp.asarray(np.random.default_rng(0).integers(0, 256, (batch, 64, 64, 3), np.uint8))
  params = jax.jit(enc.module.init)(jax.random.PRNGKey(0), obs, enc.alphas)

  @jax.jit
  def step(params, alphas, obs):
    loss = lambda p, a: jnp.sum(enc.module.apply(p, obs, a) ** 2)
    return jax.value_and_grad(loss, argnums=(0, 1))(params, alphas)

  return step, (params, enc.alphas, obs)


def samples_per_s(cfg, genotype, batch, iters, chunks=1):
  """Forward+backward of `batch` samples per iteration, as `chunks` calls of batch / chunks
  samples each with the gradients summed on the device (gradient accumulation)."""
  step, args = train_step(cfg, genotype, batch // chunks)
  add = jax.jit(lambda a, b: jax.tree.map(jnp.add, a, b))

  def one_batch():
    out = step(*args)
    for _ in range(chunks - 1):
      out = add(out, step(*args))
    return out

  return batch / seconds_per_call(one_batch, (), iters)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=256)
  ap.add_argument("--iters", type=int, default=10)
  ap.add_argument("--only", default="", help="comma-separated subset of encoders")
  ap.add_argument(
    "--chunks",
    type=int,
    default=1,
    help="split each batch into this many calls, gradients accumulated",
  )
  args = ap.parse_args()
  if args.batch % args.chunks:
    ap.error(f"--batch={args.batch} is not a multiple of --chunks={args.chunks}")
  print(
    f"backend={jax.default_backend()} devices={jax.devices()} batch={args.batch} "
    f"chunks={args.chunks}"
  )
  res = {}
  for name, (cfg, g) in encoders().items():
    if args.only and name not in args.only.split(","):
      continue
    res[name] = samples_per_s(cfg, g, args.batch, args.iters, args.chunks)
    print(f"{name:20s} {res[name]:10.1f} samples/s (forward+backward)", flush=True)
  if "impala" in res:
    for name in res:
      if name.startswith("supernet"):
        print(f"ratio {name}/impala = {res[name] / res['impala']:.3f}")


if __name__ == "__main__":
  main()
