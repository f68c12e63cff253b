"""One accelerator, one command: what a search costs there, in under 10 minutes on one GPU.

  python benchmarks/gpu.py                 # one GPU: the `full` configs' shapes
  python benchmarks/gpu.py --tiny          # the plumbing on 2 forced CPU devices (the tests)

Prints, measured in this one run on one device:
- learner samples/s of the PPO update (samples x epochs / update time, synthetic batch) with
  the IMPALA-CNN and with the supernet;
- end-to-end env steps/s of a PPO, Rainbow and SAC search (supernet encoder; Procgen
  starpilot, DM-Control cartpole-swingup) built as the training loop builds them, actors and
  learner one after the other (loop.overlap off), with the actors' share of the wall time and
  the host <-> device copies per iteration; PPO also with loop.overlap on;
- the projected wall time of a 25M-step PPO search: 25M / the faster PPO rate (compilation,
  evaluation and checkpoints excluded).

--tiny runs the `smoke` configs instead of `full` (seconds per cell, nothing to read in the
figures). Rainbow and SAC learn from their first iteration (benchmarks/common.py).
"""

import argparse
import os
import sys
import tempfile
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from benchmarks import common  # noqa: E402
from darts_rl import parallel  # noqa: E402

PPO_SEARCH_ENV_STEPS = 25_000_000
# (agent, loop.overlap) cells of the end-to-end part, in order.
CELLS = (("ppo", "off"), ("ppo", "on"), ("rainbow", "off"), ("sac", "off"))


def parse_args(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--tiny", action="store_true", help="smoke shapes on 2 forced CPU devices")
  ap.add_argument("--seconds", type=float, default=None, help="timed seconds per cell at least")
  ap.add_argument("--agents", default="ppo,rainbow,sac", help="end-to-end agents to measure")
  args = ap.parse_args(argv)
  bad = set(args.agents.split(",")) - set(common.AGENTS)
  if bad:
    ap.error(f"--agents: unknown {sorted(bad)}; valid: {','.join(common.AGENTS)}")
  if args.seconds is None:
    args.seconds = 0.0 if args.tiny else 20.0
  return args


def learner_rows(size: str, devices: parallel.Devices) -> List[Dict]:
  rows = []
  for encoder in ("baseline", "supernet"):
    c = common.agent_config("ppo", encoder, size)
    sps = common.ppo_learner_samples_per_s(c, devices, iters=2)
    rows.append(dict(encoder=common.encoder_name("ppo", encoder), samples_per_s=sps))
    print(f"[gpu] PPO learner, {rows[-1]['encoder']}: {sps:.0f} samples/s", flush=True)
  return rows


def e2e_rows(size: str, agents: List[str], seconds: float, devices: parallel.Devices):
  rows = []
  for agent, overlap in CELLS:
    if agent not in agents:
      continue
    c = common.agent_config(agent, "supernet", size)
    c.loop.overlap = overlap
    split = overlap == "off"  # the split waits for the devices after every iteration
    with common.built(c, devices) as bench:
      m = common.measure(bench, jax.random.PRNGKey(1), 1, seconds, split=split)
    copies = m.transfers.per_iteration(m.iterations)
    rows.append(
      dict(
        agent=agent,
        overlap=overlap,
        env_steps_per_s=m.env_steps_per_s,
        actor_share=m.rollout_s / m.seconds if split else None,
        compiles=m.compiles,
        **copies,
      )
    )
    print(f"[gpu] {agent} overlap {overlap}: {m.env_steps_per_s:.1f} env steps/s", flush=True)
  return rows


def report(learners: List[Dict], e2e: List[Dict]) -> str:
  lines = [
    common.table(
      ["PPO learner", "samples/s"], [[r["encoder"], f"{r['samples_per_s']:.0f}"] for r in learners]
    ),
    "",
  ]
  share = lambda r: "n/a" if r["actor_share"] is None else f"{r['actor_share']:.0%}"
  lines.append(
    common.table(
      ["search", "overlap", "env steps/s", "actor share", "copies/iter h2d, d2h (MB)"],
      [
        [
          r["agent"],
          r["overlap"],
          f"{r['env_steps_per_s']:.1f}",
          share(r),
          f"{r['h2d']:.0f}, {r['d2h']:.0f} ({r['h2d_MB']:.1f}, {r['d2h_MB']:.2f})",
        ]
        for r in e2e
      ],
    )
  )
  ppo = [r["env_steps_per_s"] for r in e2e if r["agent"] == "ppo"]
  if ppo:
    lines += [
      "",
      f"projected 25M-step PPO search: {common.projection(PPO_SEARCH_ENV_STEPS, max(ppo))}"
      " (25M / the faster PPO rate; no compilation, evaluation or checkpoints)",
    ]
  if any(r["compiles"] for r in e2e):
    lines.append("WARNING: compilations in a timed part (see the compiles column of the JSON)")
  return "\n".join(lines)


def main(argv=None) -> Dict:
  args = parse_args(argv)
  with tempfile.TemporaryDirectory() as tmp:
    # --tiny: every program takes well under a second to compile; cached, each cell compiles
    # only what the cells before it did not.
    common.setup(2 if args.tiny else 0, compilation_cache=tmp, min_compile_s=0 if args.tiny else 1)
    size = "smoke" if args.tiny else "full"
    print(f"[gpu] {common.describe_devices()}; size {size}", flush=True)
    t = time.time()
    devices = parallel.Devices(1)
    learners = learner_rows(size, devices)
    e2e = e2e_rows(size, args.agents.split(","), args.seconds, devices)
  print()
  print(report(learners, e2e))
  print(f"\n(whole run {(time.time() - t) / 60:.1f} min)")
  return {"learners": learners, "e2e": e2e}


if __name__ == "__main__":
  main()
