"""Runs a launcher (launch/<script>.py) in a fresh process from the repo root: its real
command line, output captured."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A ceiling for a launcher's subprocess, not a speed check: a cold XLA cache on a loaded
# 2-core machine can take minutes (pytest-timeout, pyproject.toml, stops a hung test anyway).
LAUNCH_S = 1200
# Python's cyclic-GC thresholds for the suite's processes (tests/conftest.py, and the scripts it
# starts that trace the most: tests/multiprocess_run.py, tests/kill_after_checkpoint.py,
# tests/forced_devices.py). Tracing allocates millions of short-lived objects while jax's
# caches keep a large heap alive, which the collector walks over and over at its default
# thresholds (700, 10, 10): test_macro.py, test_robust.py and test_optim.py in one process
# 56.3 -> 51.5 CPU-s (benchmarks/ARCHIVE.md). Launchers and benchmarks keep Python's defaults.
GC_THRESHOLD = (100_000, 50, 1000)


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
