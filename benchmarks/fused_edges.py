"""Supernet forward+backward: fused edges against one conv per edge, bfloat16 against float32;
and the same for a genotype's fixed network (`fixed_per_edge`, `fixed`).

  taskset -c 1 python benchmarks/fused_edges.py [--batch=128] [--rounds=5] [--iters=2] \
      [--widths=demo,full] [--op_sets=base,classic] [--variants=per_edge,fused,fused_bf16,impala] \
      [--genotype=PATH]
  taskset -c 1 python benchmarks/fused_edges.py --ppo_learner [--iters=2] [--variants=...]

Times the jitted value_and_grad of sum(features^2) w.r.t. params and alphas (the encoder's part
of the PPO learner step) of the exact supernet (impala skeleton, 2 cells of 4 nodes per stage)
on uint8 64x64x3 frames, at the demo widths (8/16/16, 128 features) and the full widths
(16/32/32, 256 features). For one (widths, op set) the variants run interleaved, round after
round, `iters` calls each; each variant's figure is its best round, and the ratios are between
best rounds of this one run (a shared machine slows rounds, not ratios, unless the load moves
between variants). `impala` is the IMPALA-CNN at the same widths, for scale. The first call's
time (compilation included) is printed too. The fixed variants build the network of
--genotype (a search's genotype.json; its own widths and op set) or, without it, of a genotype
sampled from the supernet's space (seed 0) at each widths and op set; their speed is given
against `fixed_per_edge`.

--ppo_learner times instead the whole PPO learner update of the demo size (32 envs x 64 steps,
4 minibatches, 2 epochs, 8/16/16 channels, base op set; benchmarks/ppo_procgen.py's
learner-only path on a synthetic batch), each variant built and timed in turn.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import ppo_procgen  # noqa: E402
from benchmarks.common import ratio, seconds_per_call, table  # noqa: E402
from benchmarks.encoders import train_step  # noqa: E402
from darts_rl import artifacts  # noqa: E402
from darts_rl.config import encoder_config  # noqa: E402
from darts_rl.networks import make_encoder  # noqa: E402

WIDTHS = {"demo": ((8, 16, 16), 128), "full": ((16, 32, 32), 256)}
VARIANTS = {
  "per_edge": dict(kind="supernet", fused_edges=False),
  "fused": dict(kind="supernet"),
  "per_edge_bf16": dict(kind="supernet", fused_edges=False, compute_dtype="bfloat16"),
  "fused_bf16": dict(kind="supernet", compute_dtype="bfloat16"),
  "impala": dict(kind="impala"),
  "impala_bf16": dict(kind="impala", compute_dtype="bfloat16"),
  "fixed_per_edge": dict(kind="fixed", fused_edges=False),
  "fixed": dict(kind="fixed"),
}


def genotype_for(cfg, path):
  """The fixed variants' genotype: the one at `path`, or one sampled from cfg's supernet space."""
  if path:
    return artifacts.load_genotype(path)
  space = make_encoder(ml_collections.ConfigDict(dict(cfg.to_dict(), kind="supernet"))).space
  return space.sample(np.random.default_rng(0))


def compare(variants, widths, op_set, args):
  """{variant: best seconds per call} of variants timed round by round, interleaved."""
  channels, features = WIDTHS[widths]
  steps, best = {}, {}
  for v in variants:
    cfg = encoder_config(channels=channels, feature_dim=features, op_set=op_set, **VARIANTS[v])
    genotype = genotype_for(cfg, args.genotype) if cfg.kind == "fixed" else None
    steps[v] = train_step(cfg, genotype, args.batch)
    first = seconds_per_call(*steps[v], iters=1, warmup=0)
    print(f"  {widths} {op_set} {v}: first call {first:.2f} s (compilation included)", flush=True)
  for r in range(args.rounds):
    times = {v: seconds_per_call(*steps[v], args.iters, warmup=0) for v in variants}
    best = {v: min(best.get(v, t), t) for v, t in times.items()}
    print(
      f"  round {r + 1} (s per call): " + ", ".join(f"{v} {t:.3f}" for v, t in times.items()),
      flush=True,
    )
  return best


def ppo_learner(variants, args):
  """{variant: seconds per PPO update} at the demo size."""
  demo = argparse.Namespace(
    game="starpilot",
    num_envs=32,
    num_steps=64,
    num_minibatches=4,
    num_epochs=2,
    chunks=1,
    devices=1,
    iters=args.iters,
  )
  channels, features = WIDTHS["demo"]
  out = {}
  for v in variants:
    ppo_procgen.ENCODERS[v] = dict(VARIANTS[v], channels=channels, feature_dim=features)
    samples_per_s = ppo_procgen.bench_learner(v, demo)["learner_samples_per_s"]
    out[v] = demo.num_envs * demo.num_steps * demo.num_epochs / samples_per_s
    print(f"  PPO learner {v}: {out[v]:.2f} s per update", flush=True)
  return out


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--batch", type=int, default=128)
  ap.add_argument("--rounds", type=int, default=5)
  ap.add_argument("--iters", type=int, default=2)
  ap.add_argument("--widths", default="demo,full")
  ap.add_argument("--op_sets", default="base,classic")
  ap.add_argument("--variants", default="per_edge,fused,fused_bf16,impala")
  ap.add_argument("--genotype", default="", help="genotype.json of the fixed variants")
  ap.add_argument(
    "--ppo_learner", action="store_true", help="time the demo-size PPO learner update instead"
  )
  args = ap.parse_args()
  variants = args.variants.split(",")
  bad = [v for v in variants if v not in VARIANTS] + [
    w for w in args.widths.split(",") if w not in WIDTHS
  ]
  if args.ppo_learner and any(v.startswith("fixed") for v in variants):
    sys.exit("error: --ppo_learner times the supernet and IMPALA-CNN variants, not fixed ones")
  if bad:
    sys.exit(
      f"error: unknown {', '.join(bad)}; variants: {', '.join(VARIANTS)}; "
      f"widths: {', '.join(WIDTHS)}"
    )
  print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
  if args.ppo_learner:
    rows, unit = [("demo", "base", ppo_learner(variants, args))], "s per PPO update"
  else:
    print(f"batch {args.batch}, best of {args.rounds} rounds of {args.iters} calls")
    rows, unit = [], f"ms per call ({args.batch} frames)"
    op_sets = args.op_sets.split(",")
    for widths in args.widths.split(","):
      for op_set in op_sets:
        # The IMPALA-CNN has no op set: timed once per widths, with the first op set.
        rows.append(
          (
            widths,
            op_set,
            compare(
              [v for v in variants if op_set == op_sets[0] or not v.startswith("impala")],
              widths,
              op_set,
              args,
            ),
          )
        )
  ref = "per_edge" if "per_edge" in variants else variants[0]
  refs = {
    v: "fixed_per_edge" if v.startswith("fixed") and "fixed_per_edge" in variants else ref
    for v in variants
  }
  scale = 1.0 if args.ppo_learner else 1e3
  print()
  print(
    table(
      ["widths", "op set", "variant", unit, "speed vs", "ratio"],
      [
        [
          "/".join(map(str, WIDTHS[widths][0])),
          op_set,
          v,
          f"{scale * sec:.2f}",
          refs[v],
          ratio(best.get(refs[v]), sec),
        ]
        for widths, op_set, best in rows
        for v, sec in best.items()
      ],
    )
  )


if __name__ == "__main__":
  main()
