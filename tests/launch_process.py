"""Runs a launcher (launch/<script>.py) in a fresh process from the repo root: its real
command line, output captured."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A ceiling for a launcher's subprocess, not a speed check: a cold XLA cache on a loaded
# 2-core machine can take minutes (pytest-timeout, pyproject.toml, stops a hung test anyway).
LAUNCH_S = 1200


def run_launcher(script, *args, env=None, timeout=LAUNCH_S):
  """-> subprocess.CompletedProcess of `python launch/<script>.py ARGS` (text stdout/stderr)."""
  return subprocess.run(
    [sys.executable, f"launch/{script}.py", *args],
    cwd=ROOT,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
