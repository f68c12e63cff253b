"""Runs a Python script in a fresh process with n forced CPU devices (XLA reads the device
count once, at start-up, so multi-device tests need their own process)."""

import os
import subprocess
import sys

from darts_rl.distributed import cpu_device_env
from tests.launch_process import GC_THRESHOLD, LAUNCH_S

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_script_ok(script: str, devices: int, timeout: int = LAUNCH_S):
  """Runs `script` with `devices` CPU devices; fails the test unless it exits 0 printing OK."""
  env = dict(os.environ, **cpu_device_env(devices))  # keeps the other XLA flags
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  out = subprocess.run(
    [sys.executable, "-c", f"import gc; gc.set_threshold{GC_THRESHOLD}\n{script}"],
    env=env,
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  assert out.returncode == 0, out.stderr[-3000:]
  assert "OK" in out.stdout
