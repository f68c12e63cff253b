"""How numbers read, in progress lines, logs, reports and plots alike: one format per kind; and
the progress line of a training run."""

import math
import sys
import time
from typing import Dict, Optional


def is_num(v) -> bool:
  """A finite int or float (not a bool): a value a file or table can show as a number."""
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def format_duration(seconds: Optional[float]) -> str:
  """12.34 -> '12.3 s'; 95.0 -> '1m 35s'; 7384 -> '2h 03m'; None or NaN -> '-'."""
  if not is_num(seconds):
    return "-"
  if seconds < 60:
    return f"{seconds:.1f} s"
  s = int(round(seconds))
  if s < 3600:
    return f"{s // 60}m {s % 60:02d}s"
  return f"{s // 3600}h {s % 3600 // 60:02d}m"


def format_count(n: float) -> str:
  """A count in three or four digits: 950 -> '950', 74_240 -> '74.2k', 2.5e7 -> '25.0M'."""
  for unit, scale in (("M", 1e6), ("k", 1e3)):
    if n >= scale:
      return f"{n / scale:.1f}{unit}"
  return str(int(n))


def format_tick(value: float) -> str:
  """An axis tick label, short so neighbours never run together: 12500 -> '12.5k', 10000 ->
  '10k', 2.5e6 -> '2.5M', 0.25 -> '0.25', 3.0 -> '3'."""
  for unit, scale in (("M", 1e6), ("k", 1e3)):
    if abs(value) >= scale:
      return f"{value / scale:.4g}{unit}"
  return f"{value:.4g}" if value else "0"


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
