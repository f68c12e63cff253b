"""Which devices and cores each local worker gets.

A slot is what one worker process sees: environment variables (its GPUs, XLA flags) and,
when the machine has enough cores, a disjoint set of cores it is pinned to. The pool hands
a free slot to each job it starts, so two running trials never share a GPU.

GPUs are counted without starting jax in the launcher (which would preallocate memory on
every GPU): CUDA_VISIBLE_DEVICES when set, else `nvidia-smi`; JAX_PLATFORMS without a GPU
platform means none.
"""

import os
import subprocess
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from darts_rl.distributed import cpu_device_env

# Each worker allocates GPU memory as it needs it: XLA's default (75% of every visible GPU at
# start) would also be wrong with several workers sharing one machine's host memory.
GPU_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
# The cores a worker process pins itself to (comma-separated), set by the local pool.
CORES_ENV = "DARTS_RL_WORKER_CORES"


class Slot(NamedTuple):
  env: Dict[str, str]  # set in the worker's environment
  cores: Optional[Tuple[int, ...]]  # cores the worker is pinned to (None: shares all)
  label: str  # for messages: "GPUs 0,1", "cores 0-3"


def visible_gpus() -> List[str]:
  """The GPU ids a worker may be given (CUDA_VISIBLE_DEVICES' entries, or nvidia-smi's)."""
  platforms = os.environ.get("JAX_PLATFORMS", "").lower()
  if platforms and not any(p in platforms for p in ("cuda", "gpu", "rocm")):
    return []
  env = os.environ.get("CUDA_VISIBLE_DEVICES")
  if env is not None:
    return [d.strip() for d in env.split(",") if d.strip() and d.strip() != "-1"]
  try:
    out = subprocess.run(
      ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
      capture_output=True,
      text=True,
      timeout=30,
    )
  except (OSError, subprocess.SubprocessError):
    return []
  return (
    [line.strip() for line in out.stdout.splitlines() if line.strip()]
    if out.returncode == 0
    else []
  )


def usable_cores() -> List[int]:
  try:
    return sorted(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    return list(range(os.cpu_count() or 1))


def plan(
  parallel: int, devices_per_trial: int, gpus: Sequence[str], cores: Sequence[int]
) -> List[Slot]:
  """`parallel` slots over the machine's `gpus` and `cores`.

  GPUs: each slot gets devices_per_trial of them (0: an equal share, len(gpus) // parallel),
  disjoint; ValueError when there are not enough. No GPUs: each slot shows devices_per_trial
  CPU devices (0 or 1: jax's one CPU device). Cores: each slot gets len(cores) // parallel
  disjoint cores when that is at least 1, else every slot shares all of them.
  """
  if parallel < 1 or devices_per_trial < 0:
    raise ValueError(
      f"--parallel must be >= 1 and --devices_per_trial >= 0, got {parallel} "
      f"and {devices_per_trial}"
    )
  gpus, cores = list(gpus), list(cores)
  per_core = len(cores) // parallel
  slot_cores = [
    tuple(cores[i * per_core : (i + 1) * per_core]) if per_core else None for i in range(parallel)
  ]
  slots = []
  if gpus:
    k = devices_per_trial or len(gpus) // parallel
    if k == 0 or k * parallel > len(gpus):
      raise ValueError(
        f"--parallel={parallel} trials x {max(k, 1)} GPU(s) each need "
        f"{parallel * max(k, 1)} GPUs; this machine shows {len(gpus)} "
        f"({','.join(gpus)}): lower --parallel or --devices_per_trial"
      )
    for i in range(parallel):
      ids = gpus[i * k : (i + 1) * k]
      slots.append(
        Slot(
          dict(GPU_ENV, CUDA_VISIBLE_DEVICES=",".join(ids)),
          slot_cores[i],
          f"GPU{'s' if k > 1 else ''} {','.join(ids)}",
        )
      )
    return slots
  k = max(devices_per_trial, 1)
  env = cpu_device_env(k) if k > 1 else {}
  for i in range(parallel):
    where = f"cores {_span(slot_cores[i])}" if slot_cores[i] else "all cores (shared)"
    slots.append(Slot(dict(env), slot_cores[i], where + (f", {k} CPU devices" if k > 1 else "")))
  return slots


def _span(cores: Sequence[int]) -> str:
  cores = list(cores)
  if cores == list(range(cores[0], cores[-1] + 1)) and len(cores) > 1:
    return f"{cores[0]}-{cores[-1]}"
  return ",".join(map(str, cores))
