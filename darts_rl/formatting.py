"""How numbers read, in progress lines, logs and reports alike: one format per kind."""

import math
from typing import Optional


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
