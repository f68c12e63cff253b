"""Worker logs (WORKDIR/logs/*.log): a sweep's worker output, appended across reruns."""

import os
from typing import IO


def open_log(path: str) -> IO:
  """`path` opened for appending (its folder made): a resumed job keeps its earlier output."""
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  return open(path, "a")


def last_line(path: str, limit: int = 300) -> str:
  """The last non-empty line of a log (at most `limit` characters), or 'no output'."""
  try:
    with open(path, errors="replace") as f:
      lines = [line.strip() for line in f.read().splitlines() if line.strip()]
  except OSError:
    return "no log"
  return lines[-1][:limit] if lines else "no output"
