"""Logging sinks of the loop: metrics.jsonl + TensorBoard, alpha history, progress line."""
import json
import math
import os
import sys
import time
from typing import Dict, Optional

import jax
import numpy as np

from darts_rl import workdir as workdir_lib


def _clean(v):
  v = float(v)
  return None if math.isnan(v) or math.isinf(v) else v


class MetricsWriter:
  """Appends one JSON line per log step; on resume drops lines past the checkpoint."""

  def __init__(self, workdir: str, resume_env_steps: Optional[int], tensorboard: bool = True):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self.history = []
    if os.path.exists(self.path):
      with open(self.path) as f:
        for line in f:
          try:
            row = json.loads(line)
          except json.JSONDecodeError:
            continue  # a line cut by a kill
          if resume_env_steps is not None and row.get("env_steps", 0) <= resume_env_steps:
            self.history.append(row)
      # Rewrite atomically without the rows the resumed run will produce again.
      workdir_lib.atomic_write(self.path, "".join(json.dumps(r) + "\n" for r in self.history))
    self.tb = None
    if tensorboard and jax.process_index() == 0:
      from tensorboardX import SummaryWriter
      self.tb = SummaryWriter(os.path.join(workdir, "tb"))

  def write(self, env_steps: int, scalars: Dict[str, float]):
    row = {"env_steps": int(env_steps)}
    row.update({k: _clean(v) for k, v in sorted(scalars.items())})
    self.history.append(row)
    if jax.process_index() != 0:
      return
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")
    if self.tb is not None:
      for k, v in row.items():
        if k != "env_steps" and v is not None:
          self.tb.add_scalar(k, v, env_steps)
      self.tb.flush()

  def close(self):
    if self.tb is not None:
      self.tb.close()


class AlphasHistory:
  """alphas.npz: 'env_steps' [S], 'op_names' [K], 'temperature', '<key>' [S, ...] per leaf."""

  def __init__(self, workdir: str, op_names, temperature: float,
               resume_env_steps: Optional[int]):
    self.path = os.path.join(workdir, "alphas.npz")
    self.op_names = np.asarray(list(op_names) if op_names is not None else [])
    self.temperature = temperature
    self.steps, self.snaps = [], []
    if resume_env_steps is not None and os.path.exists(self.path):
      with np.load(self.path) as d:
        keep = d["env_steps"] <= resume_env_steps
        keys = [k for k in d.files if k not in ("env_steps", "op_names", "temperature")]
        self.steps = list(d["env_steps"][keep])
        self.snaps = [{k: d[k][i] for k in keys} for i in np.flatnonzero(keep)]

  @staticmethod
  def flatten(alphas) -> Dict[str, np.ndarray]:
    """{'normal/node0': [1, K], ...} for micro alphas; '/'-joined paths for any pytree."""
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(jax.device_get(alphas))[0]:
      parts = []
      for p in path:
        if isinstance(p, jax.tree_util.SequenceKey):
          parts.append(f"node{p.idx}")
        else:
          parts.append(str(getattr(p, "key", getattr(p, "name", p))))
      flat["/".join(parts)] = np.asarray(leaf)
    return flat

  def add(self, env_steps: int, alphas):
    flat = self.flatten(alphas)
    if not flat:
      return
    self.steps.append(int(env_steps))
    self.snaps.append(flat)
    if jax.process_index() != 0:
      return
    arrays = {k: np.stack([s[k] for s in self.snaps]) for k in self.snaps[0]}
    import io
    buf = io.BytesIO()
    np.savez(buf, env_steps=np.asarray(self.steps, np.int64), op_names=self.op_names,
             temperature=np.float32(self.temperature), **arrays)
    workdir_lib.atomic_write(self.path, buf.getvalue(), "wb")


def _fmt_time(s: float) -> str:
  s = int(s)
  if s >= 3600:
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
  return f"{s // 60}m{s % 60:02d}s"


def _fmt_num(n: float) -> str:
  for unit, scale in (("M", 1e6), ("k", 1e3)):
    if n >= scale:
      return f"{n / scale:.1f}{unit}"
  return str(int(n))


class Progress:
  """One terminal line per log step: steps, rate, returns, ETA."""

  def __init__(self, phase: str, total: int, start: int):
    self.phase, self.total, self.start = phase, total, start
    self.t0 = time.time()

  def line(self, env_steps: int, scalars: Dict[str, float]) -> str:
    elapsed = time.time() - self.t0
    rate = (env_steps - self.start) / max(elapsed, 1e-9)
    eta = (self.total - env_steps) / rate if rate > 0 else float("nan")
    parts = [f"[{self.phase}] {_fmt_num(env_steps)}/{_fmt_num(self.total)} env steps "
             f"({100 * env_steps / self.total:.0f}%)", f"{rate:.0f} steps/s"]
    for key, label in (("train/return", "return"), ("eval/test_levels/return", "test"),
                       ("loss/loss", "loss")):
      v = scalars.get(key)
      if v is not None and not (isinstance(v, float) and math.isnan(v)):
        parts.append(f"{label} {v:.3g}")
    if eta == eta:
      parts.append(f"ETA {_fmt_time(eta)}")
    return " | ".join(parts)

  def print(self, env_steps, scalars):
    print(self.line(env_steps, scalars), file=sys.stdout, flush=True)
