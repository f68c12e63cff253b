"""The progress line of a training run: one terminal line per log step."""

import math
import sys
import time
from typing import Dict

from darts_rl.formatting import format_count, format_duration


class Progress:
  """One terminal line per log step: steps, rate, returns, ETA."""

  def __init__(self, phase: str, total: int, start: int):
    self.phase, self.total, self.start = phase, total, start
    self.t0 = time.time()

  def line(self, env_steps: int, scalars: Dict[str, float]) -> str:
    elapsed = time.time() - self.t0
    rate = (env_steps - self.start) / max(elapsed, 1e-9)
    eta = (self.total - env_steps) / rate if rate > 0 else float("nan")
    parts = [
      f"[{self.phase}] {format_count(env_steps)}/{format_count(self.total)} env steps "
      f"({100 * env_steps / self.total:.0f}%)",
      f"{rate:.0f} steps/s",
    ]
    for key, label in (
      ("train/return", "return"),
      ("eval/test_levels/return", "test"),
      ("loss/loss", "loss"),
    ):
      v = scalars.get(key)
      if v is not None and not (isinstance(v, float) and math.isnan(v)):
        parts.append(f"{label} {v:.3g}")
    if eta == eta:
      parts.append(f"ETA {format_duration(eta)}")
    return " | ".join(parts)

  def print(self, env_steps, scalars):
    print(self.line(env_steps, scalars), file=sys.stdout, flush=True)
