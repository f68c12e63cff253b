"""Test setup: a persistent XLA compilation cache shared by tests and launcher subprocesses
(the suite compiles the same small networks many times), compilation and GC settings that
cut the suite's CPU (each with its measurement below), the repo root on sys.path, and the
smoke searches that several test files share (`smoke_searches`)."""

import gc
import importlib.metadata
import os
import signal
import socket
import subprocess
import sys
from typing import NamedTuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A shell's background job starts with SIGINT ignored and passes that on to every process it
# starts (a bash started so cannot even trap it). The tests that press Ctrl-C on a launcher or
# on the demo need it as a terminal delivers it: handled here, so processes started by the
# suite begin with SIGINT at its default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
  signal.signal(signal.SIGINT, signal.default_int_handler)
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(ROOT, ".jax_cache"))
# Every program cached, however quick to compile: the suite's processes (launchers, study
# jobs, both workers) compile the same small acting and evaluation programs again and again
# (a whole suite 385 -> 346 s on 2 cores, cold cache; benchmarks/ARCHIVE.md).
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Lowering attaches each operation's Python traceback to the program as debug locations; the
# suite lowers thousands of programs (every eager op is one), so it keeps one frame: test_fused.py
# and test_macro.py in one process 69.3 -> 62.4 CPU-s (benchmarks/ARCHIVE.md). Debug
# information only: the computation, and whatever a test checks, is the same.
os.environ.setdefault("JAX_INCLUDE_FULL_TRACEBACKS_IN_LOCATIONS", "false")
os.environ.setdefault("JAX_TRACEBACK_IN_LOCATIONS_LIMIT", "0")
# The suite is bound by XLA compilation (hundreds of small programs, a cold cache on CI), so
# tests compile for compilation speed: LLVM's optimization level 0 (about a quarter faster),
# XLA:CPU's older fusion emitters instead of the MLIR ones, and one LLVM module per program
# instead of several compiled on threads (two workers already fill two cores): a PPO smoke
# search 11.4 -> 10.0 -> 8.9 CPU-s (benchmarks/ARCHIVE.md). The same programs, compiled
# differently (the equality tests hold). Tests check results, never speed; benchmarks/ and
# real runs keep XLA's defaults.
TEST_XLA_FLAGS = ("--xla_backend_optimization_level=0",)
# The last two were measured on the default stack's jaxlib (0.7); XLA aborts on a flag it no
# longer knows, so the current stack (Python 3.13) compiles with the level alone.
if importlib.metadata.version("jaxlib").startswith("0.7."):
  TEST_XLA_FLAGS += (
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_cpu_parallel_codegen_split_count=1",
  )
for flag in TEST_XLA_FLAGS:
  if flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
os.environ["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from tests.launch_process import GC_THRESHOLD  # noqa: E402

gc.set_threshold(*GC_THRESHOLD)  # tests/launch_process.py says why


# Tests using `smoke_searches` carry this mark, so pytest-xdist (--dist loadgroup) runs them on
# one worker, which runs the searches once.
SMOKE_SEARCHES = pytest.mark.xdist_group("smoke_searches")
RUN = os.path.join(ROOT, "tests", "multiprocess_run.py")


class SmokeSearches(NamedTuple):
  one: str  # root of 1 process x 4 devices: one/<agent> is a finished search workdir
  two: str  # root of process 0 of 2 processes x 2 devices (the same searches)
  two_p1: str  # the workdir given to process 1 (it must stay absent: process 0 writes)
  outputs: list  # (stdout, stderr) of the three processes


# On the current stack (jaxlib 0.12) two CPU processes that load their programs from the
# persistent cache hang in their first cross-process (gloo) collective: a 2 x 2 PPO smoke
# search finished with an empty cache and hung, with the same command, on the cache it had
# written (docs/stack.md). Their processes compile afresh there; jaxlib 0.7 loads them fine.
CACHE_HANGS_PROCESSES = not importlib.metadata.version("jaxlib").startswith("0.7.")


def start_run(workdir, *flags, stdout=subprocess.PIPE):
  """tests/multiprocess_run.py in a fresh process (its own CPU device count)."""
  env = dict(os.environ)  # the process sets its own device count (--cpu_devices)
  # A process that stops saves its runtime's lines to a temp file (darts_rl/distributed.py):
  # kept beside the test's workdir, not left in the machine's /tmp.
  env["TMPDIR"] = os.path.dirname(os.path.abspath(workdir))
  if CACHE_HANGS_PROCESSES and any(f.startswith("--num_processes") for f in flags):
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
  return subprocess.Popen(
    [sys.executable, RUN, f"--workdir={workdir}", *flags],
    cwd=ROOT,
    env=env,
    stdout=stdout,
    stderr=subprocess.PIPE,
    text=True,
  )


def two_process_flags(rank, port, *flags):
  return (
    "--num_processes=2",
    f"--process_id={rank}",
    f"--coordinator_address=localhost:{port}",
    "--cpu_devices=2",
    *flags,
  )


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


@pytest.fixture(scope="session")
def smoke_searches(tmp_path_factory) -> SmokeSearches:
  """PPO, Rainbow and SAC smoke searches, run once: by 1 process with 4 CPU devices and by 2
  processes with 2 devices each, at the same time."""
  root = tmp_path_factory.mktemp("smoke_searches")
  port = free_port()
  procs = [
    start_run(root / "one", "--cpu_devices=4"),
    start_run(root / "two", *two_process_flags(0, port)),
    start_run(root / "two_p1", *two_process_flags(1, port)),
  ]
  try:
    # A ceiling below pytest-timeout's (pyproject.toml), so that a hang shows the processes'
    # output; not a speed check.
    outs = [p.communicate(timeout=1500) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  for p, (out, err) in zip(procs, outs):
    assert p.returncode == 0, err[-3000:]
  return SmokeSearches(str(root / "one"), str(root / "two"), str(root / "two_p1"), outs)


def pytest_collection_modifyitems(items):
  """Heavy tests (and the shared smoke searches' group) first: the two workers start on the
  long ones and fill the rest in with the quick ones."""
  weight = lambda item: (
    item.get_closest_marker("heavy") is None and item.get_closest_marker("xdist_group") is None
  )
  items.sort(key=weight)  # stable: collection order within each class


def pytest_unconfigure(config):
  """At the end of a worker's session pytest collects garbage five times over to report
  unraisable exceptions (after every test it already hooks them); with jax's caches on the heap
  that is seconds per worker, at the end of the run. Objects alive now are left out of those
  collections."""
  del config
  gc.freeze()
