"""End to end in one run: env steps/s of PPO, Rainbow and SAC with the baseline encoder, the
exact supernet and PC-DARTS, actor/learner overlap on and off, on 1 and N devices; the ratios;
and the projected wall time of the paper's budgets.

  python benchmarks/e2e.py                              # GPU machine: full sizes
  python benchmarks/e2e.py --size=demo --cpu_devices=2  # CPU: demo sizes, 1 and 2 devices
  python benchmarks/e2e.py --size=smoke --cpu_devices=2 --encoders=baseline   # the plumbing

Cells: 3 agents x 3 encoders x the device counts x overlap on / off. On 2 CPU cores
shared with other work, the demo run (18 cells) took 25 minutes, the smoke run of all 18 cells
11 (compilation, mostly), the last command 1. The full run is sized for < 10 minutes on one
GPU (not yet run there); --agents=... splits it.

One cell = one agent, encoder, overlap setting and device count: the agent and its actors are
built as the training loop builds them (benchmarks/common.py), then `agent.iteration` runs on
real envs (Procgen; DM-Control cartpole-swingup for SAC) untimed until the learner has run
twice (compilation), then timed for at least --seconds and --iters iterations. Env steps/s =
env steps of the timed iterations / their wall time (acting, env steps, replay writes and
learning together; no evaluation, logging or checkpoints).

Sizes (--size): the experiments' variant of that name (experiments/ppo_procgen.py,
rainbow_procgen.py, sac_dmc.py), with two changes: Rainbow and SAC learn from their first
iteration (learning_starts 0), and env.num_envs is rounded up to a multiple of N devices
(SAC, one env in the paper, then makes one update per env and iteration: still one update per
env step). `full` is the paper's settings (PPO 64 envs x 1024 steps; Rainbow 64 envs, batch 256,
five 64-channel stages; SAC batch 256 on 84x84x9); `demo` the CPU demo runs' small networks
and batches; `smoke` seconds per iteration, for checking the plumbing.

Overlap: the config key `loop.overlap` (on / off), through darts_rl/train/stepping.py as the
loop runs it. Where the config has no such key, one cell is measured and the overlap columns
read n/a.

Projections: budget / measured env steps/s (PPO and Rainbow 25M env steps per game, SAC the
task's budget; compilation, evaluation and checkpoints excluded), at the measured size.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from benchmarks import common  # noqa: E402
from darts_rl import envs, parallel  # noqa: E402

# SAC budgets in env steps per task (docs/paper.md; cartpole-swingup is experiments/sac_dmc.py's
# full budget). Other tasks are projected at the measured task's rate (one render per env step
# whatever the action repeat; the physics per env step differs).
DEFAULT_SECONDS = {"full": 5.0, "demo": 20.0, "smoke": 1.0}


def parse_args(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--size", default="full", choices=common.SIZES)
  ap.add_argument("--agents", default=",".join(common.AGENTS))
  ap.add_argument(
    "--encoders",
    default=",".join(common.ENCODERS),
    help="baseline (IMPALA-CNN / 4-layer CNN), supernet (exact), pc4 (PC-DARTS)",
  )
  ap.add_argument(
    "--devices", default="1,all", help="device counts to measure; 'all' = every local device"
  )
  ap.add_argument(
    "--cpu_devices",
    type=int,
    default=0,
    help="show this many CPU devices (CPU machines: the N of '1 and N')",
  )
  ap.add_argument(
    "--seconds",
    type=float,
    default=None,
    help="timed seconds per cell at least (default: full 5, demo 20, smoke 1)",
  )
  ap.add_argument("--iters", type=int, default=1, help="timed iterations per cell at least")
  ap.add_argument(
    "--game",
    default="",
    help="Procgen game for PPO and Rainbow (default: the "
    "size's config: starpilot at full, bigfish at demo)",
  )
  ap.add_argument("--task", default="", help="DM-Control task for SAC (default cartpole-swingup)")
  ap.add_argument(
    "--compilation_cache",
    default="",
    help="XLA persistent cache directory (default: a temporary one for this run)",
  )
  ap.add_argument("--json", default="", help="also write the figures to this file")
  args = ap.parse_args(argv)
  if args.seconds is None:
    args.seconds = DEFAULT_SECONDS[args.size]
  for name, valid in (("agents", common.AGENTS), ("encoders", common.ENCODERS)):
    bad = set(getattr(args, name).split(",")) - set(valid)
    if bad:
      ap.error(f"--{name}: unknown {sorted(bad)}; valid: {','.join(valid)}")
  return args


def device_counts(spec: str, available: int) -> List[int]:
  """'1,all' -> [1, available] without repeats; a count above `available` is an error."""
  counts = []
  for token in spec.split(","):
    n = available if token == "all" else int(token)
    if not 1 <= n <= available:
      raise ValueError(
        f"--devices: {n} devices asked for, {available} visible (CPU: --cpu_devices=N)"
      )
    if n not in counts:
      counts.append(n)
  return counts


def fit_to_devices(config, count: int):
  """env.num_envs rounded up to a multiple of `count` devices; SAC then updates once per env
  and iteration (one update per env step, as the paper) and keeps its replay a multiple."""
  n = config.env.num_envs
  m = -(-n // count) * count
  if m != n:
    config.env.num_envs = m
    if "sac" in config:
      config.sac.updates_per_iteration = config.sac.updates_per_iteration * m // n
      config.sac.replay_capacity = config.sac.replay_capacity // m * m


def cell_config(agent: str, encoder: str, args, max_devices: int):
  c = common.agent_config(agent, encoder, args.size)
  if args.game and c.env.kind == "procgen":
    c.env.games = (args.game,)
  if args.task and c.env.kind == "dmc":
    c.env.task = args.task
  fit_to_devices(c, max_devices)
  return c


def overlaps(config) -> List[Optional[bool]]:
  """[False, True] where the config has loop.overlap, else [None] (not implemented: n/a)."""
  return [None] if config.loop.get("overlap") is None else [False, True]


def budget(agent: str, config) -> int:
  """The paper's env steps for this run: the full config's (per game), SAC's per task."""
  if agent == "sac":
    return envs.RELEASED.get(config.env.task, envs.FALLBACK).total_env_steps
  return common.agent_config(agent, "baseline", "full").loop.total_env_steps


def run_cells(args) -> Dict:
  """Measures every cell; returns {'machine', 'size', 'rows': [...]} (rows as in the JSON)."""
  counts = device_counts(args.devices, jax.local_device_count())
  rows = []
  for agent in args.agents.split(","):
    for encoder in args.encoders.split(","):
      config = cell_config(agent, encoder, args, max(counts))
      for overlap in overlaps(config):
        if overlap is not None:
          config.loop.overlap = "on" if overlap else "off"
        for count in counts:
          label = (
            f"{agent} {common.encoder_name(agent, encoder)} devices={count} overlap="
            f"{_on_off(overlap)}"
          )
          print(f"[e2e] {label}: building ...", flush=True)
          with common.built(config, parallel.Devices(count)) as bench:
            m = common.measure(bench, jax.random.PRNGKey(1), args.iters, args.seconds)
            per_iter = bench.agent.env_steps_per_iteration
          del bench  # its replay (GBs at full size) before the next cell allocates one
          print(
            f"[e2e] {label}: {m.env_steps_per_s:.1f} env steps/s ({m.iterations} "
            f"iterations of {per_iter} env steps in {m.seconds:.1f} s; warm-up "
            f"{m.warmup_iterations} iterations in {m.warmup_s:.1f} s)"
            + (f"; WARNING: {m.compiles} compilations in the timed part" if m.compiles else ""),
            flush=True,
          )
          rows.append(
            dict(
              agent=agent,
              encoder=encoder,
              encoder_name=common.encoder_name(agent, encoder),
              devices=count,
              overlap=overlap,
              env_steps_per_s=m.env_steps_per_s,
              iterations=m.iterations,
              seconds=m.seconds,
              warmup_iterations=m.warmup_iterations,
              warmup_s=m.warmup_s,
              compiles_timed=m.compiles,
              env_steps_per_iteration=per_iter,
              budget_env_steps=budget(agent, config),
              env=config.env.task if agent == "sac" else ",".join(config.env.games),
              **common.config_summary(config),
            )
          )
  return {"machine": common.describe_devices(), "size": args.size, "rows": rows}


def _on_off(overlap: Optional[bool]) -> str:
  return "n/a" if overlap is None else ("on" if overlap else "off")


def _find(rows, **keys) -> Optional[float]:
  for r in rows:
    if all(r[k] == v for k, v in keys.items()):
      return r["env_steps_per_s"]
  return None


def results_table(rows: List[Dict]) -> str:
  """The main table: env steps/s and its ratios, and the projected time of the budget."""
  out = []
  for r in rows:
    same = dict(agent=r["agent"], devices=r["devices"], overlap=r["overlap"])
    sps = r["env_steps_per_s"]
    base = _find(rows, encoder="baseline", **same)
    one = _find(rows, agent=r["agent"], encoder=r["encoder"], overlap=r["overlap"], devices=1)
    off = (
      _find(rows, agent=r["agent"], encoder=r["encoder"], devices=r["devices"], overlap=False)
      if r["overlap"]
      else None
    )
    out.append(
      [
        r["agent"],
        r["encoder_name"],
        r["devices"],
        _on_off(r["overlap"]),
        f"{sps:.1f}",
        common.ratio(sps, base),
        common.ratio(sps, off),
        common.ratio(sps, one),
        f"{common.projection(r['budget_env_steps'], sps)} "
        f"({r['budget_env_steps'] / 1e6:g}M, {r['env']})",
      ]
    )
  return common.table(
    [
      "agent",
      "encoder",
      "devices",
      "overlap",
      "env steps/s",
      "/ baseline",
      "overlap on / off",
      "/ 1 device",
      "projected wall time* (budget)",
    ],
    out,
  )


def sac_tasks_table(rows: List[Dict]) -> str:
  """SAC's other tasks projected at the measured rate (most devices, overlap off or n/a)."""
  sac = [r for r in rows if r["agent"] == "sac" and not r["overlap"]]
  if not sac:
    return ""
  most = max(r["devices"] for r in sac)
  sac = [r for r in sac if r["devices"] == most]
  out = [
    [task, f"{steps / 1e6:g}M"] + [common.projection(steps, r["env_steps_per_s"]) for r in sac]
    for task, steps in ((t, r.total_env_steps) for t, r in envs.RELEASED.items())
  ]
  return common.table(["SAC task", "budget"] + [f"{r['encoder_name']}*" for r in sac], out)


def report(result: Dict) -> str:
  rows = result["rows"]
  lines = [f"machine: {result['machine']}; size: {result['size']}", ""]
  for agent in dict.fromkeys(r["agent"] for r in rows):
    r = next(r for r in rows if r["agent"] == agent)
    sizes = {
      k: v
      for k, v in r.items()
      if k in ("envs", "num_steps", "minibatches", "epochs", "batch", "updates_per_iteration")
    }
    lines.append(
      f"{agent}: {r['env']}, {', '.join(f'{k} {v}' for k, v in sizes.items())}, "
      f"{r['env_steps_per_iteration']} env steps per iteration"
    )
  lines += ["", results_table(rows), ""]
  sac = sac_tasks_table(rows)
  if sac:
    lines += [
      sac,
      "(other tasks at the measured task's rate: one render per env step whatever "
      "the action repeat; physics per env step differs)",
      "",
    ]
  lines.append(
    "* projections, not measurements: budget / measured env steps/s, without "
    "compilation, evaluation or checkpoints"
    + (
      ""
      if result["size"] == "full"
      else f"; measured at size {result['size']}, not the paper's settings"
    )
  )
  return "\n".join(lines)


def main(argv=None):
  args = parse_args(argv)
  with tempfile.TemporaryDirectory() as tmp:
    common.setup(args.cpu_devices, compilation_cache=args.compilation_cache or tmp)
    print(f"[e2e] {common.describe_devices()}", flush=True)
    t = time.time()
    result = run_cells(args)
  result.update(
    command=" ".join(sys.argv), date=time.strftime("%Y-%m-%d %H:%M"), wall_s=time.time() - t
  )
  print()
  print(report(result))
  print(f"\n(whole run {result['wall_s'] / 60:.1f} min)")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
  main()
