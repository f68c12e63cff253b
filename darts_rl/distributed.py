"""Several processes (hosts) training one model: start-up, CPU devices, and dead peers.

    initialize(coordinator_address, num_processes, process_id, cpu_devices, peer_timeout_s)

connects this process to the others with `jax.distributed.initialize` (on CPU with gloo
collectives), before any jax computation. `cpu_devices=N` makes this process show N CPU
devices (XLA's forced host device count): with it, one CPU machine can act as several hosts
with several devices each, which is how the multi-process paths are tested.

Processes that disagree. `check_same_run(config)` (every process, at the start of a run)
compares the processes' resolved configs and the digests of their darts_rl sources; a
difference is one ValueError, the same on every process, naming the first process that
differs from process 0 and what differs (config keys with both values, or source files).

Dead peers. When a process dies, the others would block in their next collective. jax's
coordination service notices a peer that stopped sending heartbeats after `peer_timeout_s`
(and a lost coordinator at once) and aborts the surviving processes from a C++ thread, with a
page of runtime log lines and a core-dump exit status. `supervise` turns that into one line:
a multi-process launcher re-runs itself as a child process, forwards the child's output, keeps
the runtime's lines out of the terminal (in a log file under the temp directory), and when the
child is aborted prints `error: process I: <what happened>` and exits 1.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from typing import Any, Dict, List, Optional

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


def source_digests() -> Dict[str, str]:
  """{path under darts_rl/: SHA-256 of its bytes (16 hex digits)} of every .py source."""
  root = os.path.dirname(os.path.abspath(__file__))
  out = {}
  for folder, dirs, files in os.walk(root):
    dirs[:] = sorted(d for d in dirs if d != "__pycache__")
    for name in sorted(files):
      if name.endswith(".py"):
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
          out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()[:16]
  return out


def _flat(tree: Any, prefix: str = "") -> Dict[str, Any]:
  if isinstance(tree, dict):
    return {k: v for key, sub in tree.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
  return {prefix[:-1]: tree}


def run_difference(mine: Dict, theirs: Dict) -> Optional[str]:
  """What differs between two processes' {'config': ..., 'code': ...} (theirs: process 0's),
  as a clause, or None. Config keys come with both values; at most 3 of each are named."""
  a, b = _flat(mine["config"]), _flat(theirs["config"])
  keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
  if keys:
    shown = ", ".join(
      f"{k}={json.dumps(a.get(k))} (process 0: {json.dumps(b.get(k))})" for k in keys[:3]
    )
    return "another config: " + shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
  files = sorted(
    f
    for f in set(mine["code"]) | set(theirs["code"])
    if mine["code"].get(f) != theirs["code"].get(f)
  )
  if files:
    more = f" and {len(files) - 3} more" if len(files) > 3 else ""
    return "other darts_rl sources: " + ", ".join(files[:3]) + more + " differ"
  return None


def check_same_run(config) -> None:
  """Every process runs the same config and darts_rl sources, else one ValueError on every
  process: 'process P runs <difference> than process 0 ...'. A collective: all call it."""
  import jax

  from darts_rl import artifacts, parallel

  if jax.process_count() == 1:
    return
  mine = {"config": artifacts.config_to_dict(config), "code": source_digests()}
  rows = [
    json.loads(b) for b in parallel.allgather_bytes(json.dumps(mine, sort_keys=True).encode())
  ]
  for p, row in enumerate(rows[1:], start=1):
    diff = run_difference(row, rows[0])
    if diff:
      raise ValueError(
        f"process {p} runs {diff}; every process must run the same command on the same code"
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
