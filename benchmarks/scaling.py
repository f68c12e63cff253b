"""Scaling out: end-to-end env steps/s of one agent on 1, 2 and 4 devices in one process and on
2 processes x 2 devices, with the run's env count the same in every layout.

  python benchmarks/scaling.py                          # CPU: forced devices; GPUs where present
  python benchmarks/scaling.py --size=smoke --iters=2   # the plumbing
  python benchmarks/scaling.py --agent=rainbow --encoder=supernet --layouts=1,2

On 2 CPU cores shared with other work the first took 6 minutes, the second 2.

Each layout runs in a fresh worker process (this script with --worker), so layouts share no
memory or compiled code: `N` = one process showing N devices (forced CPU devices on a CPU
machine, the first N GPUs on a GPU machine); `PxD` = P processes on localhost with D devices
each, joined by jax.distributed (gloo collectives on CPU), as darts_rl/distributed.py sets
them up. The worker builds the agent and its actors as the training loop does and times
`agent.iteration` after a warm-up (benchmarks/common.py); env.num_envs counts the whole run's
envs, split into one group per device. A layout needing more GPUs than the machine has is
skipped. On one CPU machine every layout shares the same cores: the figures show the cost of
the device split and of the collectives, not a speed-up.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402


def parse_args(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--agent", default="ppo", choices=common.AGENTS)
  ap.add_argument("--encoder", default="baseline", choices=common.ENCODERS)
  ap.add_argument("--size", default="demo", choices=common.SIZES)
  ap.add_argument(
    "--layouts",
    default="1,2,4,2x2",
    help="comma-separated: N (one process, N devices) or PxD (P processes x D devices each)",
  )
  ap.add_argument(
    "--iters", type=int, default=3, help="timed iterations per layout (the same on every process)"
  )
  ap.add_argument("--timeout", type=int, default=1800, help="seconds per layout at most")
  ap.add_argument("--json", default="", help="also write the figures to this file")
  # A worker's own flags (set by the parent).
  ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  ap.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
  ap.add_argument("--cpu", action="store_true", help=argparse.SUPPRESS)
  ap.add_argument("--num_processes", type=int, default=1, help=argparse.SUPPRESS)
  ap.add_argument("--process_id", type=int, default=0, help=argparse.SUPPRESS)
  ap.add_argument("--coordinator_address", default="", help=argparse.SUPPRESS)
  ap.add_argument("--out", default="", help=argparse.SUPPRESS)
  return ap.parse_args(argv)


def parse_layout(token: str) -> Tuple[int, int]:
  """'4' -> (1 process, 4 devices); '2x2' -> (2 processes, 2 devices each)."""
  p, _, d = token.partition("x")
  processes, devices = (int(p), int(d)) if d else (1, int(p))
  if processes < 1 or devices < 1:
    raise ValueError(f"bad layout '{token}': use N or PxD")
  return processes, devices


# ---------------------------------------------------------------------------- worker


def worker(args):
  """One process of a layout: measures, and process 0 writes the figures to --out."""
  import jax

  from darts_rl import parallel

  common.setup(
    args.devices if args.cpu else 0, args.coordinator_address, args.num_processes, args.process_id
  )
  config = common.agent_config(args.agent, args.encoder, args.size)
  with common.built(config, parallel.Devices(args.devices)) as bench:
    m = common.measure(bench, jax.random.PRNGKey(1), args.iters)
    per_iter = bench.agent.env_steps_per_iteration
  if args.process_id == 0:
    with open(args.out, "w") as f:
      json.dump(
        dict(
          m._asdict(),
          env_steps_per_iteration=per_iter,
          machine=common.describe_devices(),
          **common.config_summary(config),
        ),
        f,
        default=str,
      )


# ---------------------------------------------------------------------------- parent


def gpu_count() -> int:
  """GPUs jax sees here (0 on a CPU machine), without holding their memory."""
  os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"  # the workers need the memory
  import jax

  return jax.local_device_count() if jax.default_backend() == "gpu" else 0


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def run_layout(args, processes: int, devices: int, gpus: int, tmp: str) -> Optional[Dict]:
  """Figures of process 0 of one layout, or None when the machine lacks the GPUs."""
  if gpus and processes * devices > gpus:
    return None
  out = os.path.join(tmp, f"{processes}x{devices}.json")
  base = [
    sys.executable,
    os.path.abspath(__file__),
    "--worker",
    f"--agent={args.agent}",
    f"--encoder={args.encoder}",
    f"--size={args.size}",
    f"--iters={args.iters}",
    f"--devices={devices}",
    f"--out={out}",
  ] + ([] if gpus else ["--cpu"])
  if processes > 1:
    base += [f"--num_processes={processes}", f"--coordinator_address=127.0.0.1:{free_port()}"]
  env = {k: v for k, v in os.environ.items() if k != "XLA_PYTHON_CLIENT_PREALLOCATE"}
  procs = []
  try:
    for i in range(processes):
      if gpus:
        env = dict(
          env, CUDA_VISIBLE_DEVICES=",".join(str(g) for g in range(i * devices, (i + 1) * devices))
        )
      procs.append(subprocess.Popen(base + [f"--process_id={i}"], env=env))
    deadline = time.time() + args.timeout
    for p in procs:
      rc = p.wait(timeout=max(1.0, deadline - time.time()))
      if rc:
        raise RuntimeError(f"layout {processes}x{devices}: a worker exited with status {rc}")
  finally:
    for p in procs:  # a failed or timed-out layout leaves no worker behind
      if p.poll() is None:
        p.kill()
        p.wait()
  with open(out) as f:
    return json.load(f)


def report(rows: List[Dict]) -> str:
  one = next(
    (r["env_steps_per_s"] for r in rows if r.get("devices") == 1 and r.get("processes") == 1), None
  )
  lines = [
    [
      r["layout"],
      r["processes"],
      r["devices"],
      "skipped (not enough GPUs)"
      if r.get("env_steps_per_s") is None
      else f"{r['env_steps_per_s']:.1f}",
      common.ratio(r.get("env_steps_per_s"), one),
      ""
      if r.get("env_steps_per_s") is None
      else f"{r['iterations']} x {r['env_steps_per_iteration']} in {r['seconds']:.1f} s",
    ]
    for r in rows
  ]
  return common.table(
    ["layout", "processes", "devices (all)", "env steps/s", "/ 1 device", "timed"], lines
  )


def main(argv=None):
  args = parse_args(argv)
  if args.worker:
    return worker(args)
  layouts = [(t, *parse_layout(t)) for t in args.layouts.split(",")]
  gpus = gpu_count()
  config = common.agent_config(args.agent, args.encoder, args.size)
  print(
    f"[scaling] {args.agent} {common.encoder_name(args.agent, args.encoder)} at "
    f"{args.size}: {common.config_summary(config)}; "
    f"{'GPUs: %d' % gpus if gpus else 'forced CPU devices'}",
    flush=True,
  )
  rows = []
  t = time.time()
  with tempfile.TemporaryDirectory() as tmp:
    for token, processes, devices in layouts:
      print(f"[scaling] layout {token} ...", flush=True)
      res = run_layout(args, processes, devices, gpus, tmp)
      row = dict(layout=token, processes=processes, devices=processes * devices, **(res or {}))
      if res:
        print(
          f"[scaling] layout {token}: {res['env_steps_per_s']:.1f} env steps/s "
          f"(warm-up {res['warmup_s']:.1f} s)",
          flush=True,
        )
      rows.append(row)
  print()
  print(report(rows))
  print(f"\n(whole run {(time.time() - t) / 60:.1f} min; command: {' '.join(sys.argv)})")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(
        {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows},
        f,
        indent=1,
        default=str,
      )


if __name__ == "__main__":
  main()
