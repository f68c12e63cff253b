"""Several processes (hosts) training one model: start-up, CPU devices, and dead peers.

    initialize(coordinator_address, num_processes, process_id, cpu_devices, peer_timeout_s)

connects this process to the others with `jax.distributed.initialize` (on CPU with gloo
collectives), before any jax computation. `cpu_devices=N` makes this process show N CPU
devices (XLA's forced host device count): with it, one CPU machine can act as several hosts
with several devices each, which is how the multi-process paths are tested.

Dead peers. When a process dies, the others would block in their next collective. jax's
coordination service notices a peer that stopped sending heartbeats after `peer_timeout_s`
(and a lost coordinator at once) and aborts the surviving processes from a C++ thread, with a
page of runtime log lines and a core-dump exit status. `supervise` turns that into one line:
a multi-process launcher re-runs itself as a child process, forwards the child's output, keeps
the runtime's lines out of the terminal (in a log file under the temp directory), and when the
child is aborted prints `error: process I: <what happened>` and exits 1.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

from darts_rl.processes import die_with_parent

_CHILD_ENV = "DARTS_RL_SUPERVISED_CHILD"
# Lines of XLA / TSL's own logger: "2026-11-30 13:36:32.735027: E external/xla/..." or
# "E1130 13:36:32.735027 1234 file.cc:12] ...".
_RUNTIME_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} \d\d:)")
# The runtime names a peer that stopped sending heartbeats as /job:jax_worker/replica:0/task:1
# (jax 0.7), or lists its task ids one per line after the reason (jax 0.12).
_DEAD_TASK = re.compile(r"/job:jax_worker/replica:\d+/task:(\d+)")
_DEAD_TASK_LIST = re.compile(r"\(stopped sending heartbeats\):\n((?:\d+\n)+)")


def initialize(
  coordinator_address: str = "",
  num_processes: int = 1,
  process_id: int = 0,
  cpu_devices: int = 0,
  peer_timeout_s: int = 60,
):
  """Sets up devices and, with num_processes > 1, joins the other processes."""
  if cpu_devices < 0 or num_processes < 1 or not 0 <= process_id < num_processes:
    raise ValueError(
      f"need cpu_devices >= 0, num_processes >= 1 and 0 <= process_id < "
      f"num_processes; got {cpu_devices}, {num_processes}, {process_id}"
    )
  if cpu_devices:
    force_cpu_devices(cpu_devices)
  import jax  # after XLA_FLAGS: the backend reads them when it starts

  if num_processes == 1:
    return
  if not coordinator_address:
    raise ValueError("--num_processes > 1 needs --coordinator_address=HOST:PORT (process 0's)")
  # Cross-process collectives on CPU devices (GPUs use NCCL); harmless elsewhere.
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(
    coordinator_address=coordinator_address,
    num_processes=num_processes,
    process_id=process_id,
    heartbeat_timeout_seconds=int(peer_timeout_s),
  )
  print(
    f"[process {process_id} of {num_processes}] connected to {coordinator_address}: "
    f"{jax.local_device_count()} local devices, {jax.device_count()} in all",
    file=sys.stderr,
    flush=True,
  )


def cpu_device_env(n: int) -> Dict[str, str]:
  """The environment variables that make jax show n CPU devices: this process's XLA_FLAGS with
  the forced host device count set to n, and JAX_PLATFORMS=cpu."""
  flags = [
    f
    for f in os.environ.get("XLA_FLAGS", "").split()
    if not f.startswith("--xla_force_host_platform_device_count")
  ]
  return {
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": " ".join(flags + [f"--xla_force_host_platform_device_count={n}"]),
  }


def force_cpu_devices(n: int):
  """Makes this process's jax show n CPU devices (only before the backend starts)."""
  os.environ.update(cpu_device_env(n))


def is_supervised_child() -> bool:
  """True in the child a multi-process launcher's supervisor started."""
  return os.environ.get(_CHILD_ENV) == "1"


def supervise(argv: List[str], process_id: int) -> int:
  """Runs `python argv...` as a child and returns the exit status this process should have.

  The child's stdout passes through; its stderr too, except the runtime's log lines (they go
  to a file). A child aborted by the runtime (a peer died, the coordinator went away) or
  killed by a signal becomes one `error:` line and status 1.
  """
  env = dict(os.environ, **{_CHILD_ENV: "1"})
  proc = subprocess.Popen(
    [sys.executable] + list(argv),
    env=env,
    stderr=subprocess.PIPE,
    text=True,
    errors="replace",
    preexec_fn=die_with_parent,
  )
  forward = lambda sig, _: proc.send_signal(sig)
  old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
  held: List[str] = []
  try:
    for line in proc.stderr:
      if held or _RUNTIME_LINE.match(line):
        held.append(line)  # the runtime's lines and whatever follows them (its continuation)
      else:
        sys.stderr.write(line)
        sys.stderr.flush()
    rc = proc.wait()
  finally:
    for s, h in old.items():
      signal.signal(s, h)
  if rc in (0, 1, 2) and not _aborted(held):
    sys.stderr.writelines(held)  # a normal exit: nothing to hide
    return rc
  log = _save(held, process_id)
  print(
    f"error: process {process_id}: {diagnose(held, rc)}"
    + (f" (runtime messages: {log})" if log else ""),
    file=sys.stderr,
    flush=True,
  )
  return 1


def _aborted(lines: List[str]) -> bool:
  return any(re.match(r"^\d{4}-\d\d-\d\d [\d:.]+: F |^F\d{4} ", line) for line in lines)


def diagnose(lines: List[str], rc: int) -> str:
  """One clause saying why the child stopped, from the runtime's lines and its exit status."""
  text = "".join(lines)
  listed = [t for block in _DEAD_TASK_LIST.findall(text) for t in block.split()]
  dead = sorted({int(t) for t in _DEAD_TASK.findall(text) + listed})
  if dead and "heartbeat" in text:
    who = ", ".join(f"process {t}" for t in dead)
    return (
      f"{who} stopped responding (no heartbeat within --peer_timeout_s): it died or "
      "hung; stopping too"
    )
  if re.search(r"Socket closed|Connection reset|Connection refused|UNAVAILABLE", text):
    return "lost the coordinator (process 0 stopped); stopping too"
  if rc < 0:
    return f"killed by signal {-rc} ({signal.Signals(-rc).name})"
  if text:
    return "the distributed runtime stopped this process (a peer failed); stopping too"
  return f"exited with status {rc}"


def _save(lines: List[str], process_id: int) -> Optional[str]:
  if not lines:
    return None
  fd, path = tempfile.mkstemp(prefix=f"darts_rl_process{process_id}_", suffix=".log")
  with os.fdopen(fd, "w") as f:
    f.writelines(lines)
  return path
