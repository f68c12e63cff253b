"""RayExecutor: jobs on a Ray cluster, placed by Ray's resource accounting.

    RayExecutor(address="auto", parallel=8, devices_per_trial=1).run(jobs, on_done)

Each job is a Ray task that asks for `num_gpus` = devices_per_trial (when the cluster has
GPUs) and `num_cpus` = cpus_per_trial; Ray decides where it runs and sets its
CUDA_VISIBLE_DEVICES. A trial must fit on one node (else one error line at the start), and
its envs size their threads to its CPU count (processes.CPUS_ENV), not to the node's cores.
The task starts the same worker process as the local pool (`python -m darts_rl.sweep.worker`),
so every trial gets a fresh jax and its log, and dies with the task. Jobs write their workdirs
and logs themselves: on several machines the workdir must be on a filesystem every node mounts
at the same path, and darts_rl must be installed on every node. At most `parallel` jobs are in
flight (0: all of them; Ray queues what does not fit), so a failure stops new starts as in the
local pool. Tasks are not retried by Ray: a failed trial is reported, and the rerun resumes it.
"""

import os
from typing import Callable, Dict, List, Sequence

from darts_rl import processes
from darts_rl.distributed import cpu_device_env
from darts_rl.sweep import jobs as jobs_lib
from darts_rl.sweep import local
from darts_rl.sweep import slots as slots_lib

ADDRESSES_HELP = "auto (a running cluster), local (start one here), or HOST:PORT"


def import_ray():
  try:
    import ray
  except ImportError:
    raise ValueError("--executor=ray needs Ray: pip install -e '.[ray]'") from None
  return ray


def check_fits(nodes: Sequence[Dict[str, float]], num_gpus: float, num_cpus: float):
  """A trial (num_gpus, num_cpus) fits on one of `nodes` (each node's Ray resources), else
  one ValueError: Ray would queue a trial that fits only the cluster's totals forever."""
  if any(n.get("GPU", 0) >= num_gpus and n.get("CPU", 0) >= num_cpus for n in nodes):
    return
  have = ", ".join(f"{n.get('GPU', 0):g} GPU(s) + {n.get('CPU', 0):g} CPU(s)" for n in nodes)
  raise ValueError(
    f"a trial asks for {num_gpus} GPU(s) and {num_cpus} CPU(s) on one node; no node of the "
    f"Ray cluster has that ({have or 'no live node'}): lower --devices_per_trial or "
    "--cpus_per_trial"
  )


def _run_job(job_json: str, extra_env: Dict[str, str]) -> int:
  """Body of the Ray task: the worker process for the job; its exit status."""
  job = jobs_lib.Job.from_json(job_json)
  proc = local.start_worker(job, extra_env)
  try:
    return proc.wait()
  finally:
    if proc.poll() is None:  # the task was cancelled
      proc.kill()
      proc.wait()


class RayExecutor:
  """Runs jobs as Ray tasks; see the module doc."""

  def __init__(
    self,
    address: str = "auto",
    parallel: int = 0,
    devices_per_trial: int = 0,
    cpus_per_trial: int = 0,
  ):
    """address: ADDRESSES_HELP; ignored when this process already called ray.init()."""
    if parallel < 0 or devices_per_trial < 0 or cpus_per_trial < 0:
      raise ValueError("--parallel, --devices_per_trial and --cpus_per_trial must be >= 0")
    ray = self.ray = import_ray()
    if not ray.is_initialized():
      if address == "local":
        # Ray starts its workers at nice 15 (to keep its driver responsive); a trial is the
        # work itself, and at nice 15 on a busy machine it crawls.
        os.environ.setdefault("RAY_worker_niceness", "0")
      try:
        ray.init(
          address=None if address == "local" else address,
          include_dashboard=False,
          log_to_driver=False,
        )
      except ConnectionError as e:
        raise ValueError(
          f"--ray_address={address}: no Ray cluster there ({e}); use {ADDRESSES_HELP}"
        ) from None
    self.parallel = parallel
    resources = ray.cluster_resources()
    self.gpus = float(resources.get("GPU", 0))
    if self.gpus:
      self.num_gpus, self.env = devices_per_trial or 1, dict(slots_lib.GPU_ENV)
    else:  # CPU only: devices_per_trial > 1 means forced host devices, as locally
      self.num_gpus = 0
      self.env = cpu_device_env(devices_per_trial) if devices_per_trial > 1 else {}
    self.num_cpus = cpus_per_trial or 1
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    check_fits(nodes, self.num_gpus, self.num_cpus)
    # Ray accounts for CPUs without pinning: the trial sizes its thread pools to its count.
    self.env[processes.CPUS_ENV] = str(self.num_cpus)
    self._task = ray.remote(_run_job).options(
      num_gpus=self.num_gpus, num_cpus=self.num_cpus, max_retries=0
    )
    self._running: Dict = {}  # Ray object ref -> job

  def describe(self) -> str:
    limit = f"{self.parallel} at a time" if self.parallel else "as many as fit"
    return (
      f"on Ray ({limit}; {self.num_gpus} GPU(s) and {self.num_cpus} CPU(s) per trial, "
      f"cluster: {self.gpus:g} GPU(s))"
    )

  def run(self, jobs: Sequence[jobs_lib.Job], on_done: Callable[[jobs_lib.Job], None]):
    jobs_lib.run_all(self, jobs, on_done)

  def room(self) -> bool:
    return not self.parallel or len(self._running) < self.parallel

  def running(self) -> bool:
    return bool(self._running)

  def start(self, job: jobs_lib.Job):
    self._running[self._task.remote(job.to_json(), self.env)] = job
    print(f"[sweep] {job.name}: submitted to Ray (log: {job.log})", flush=True)

  def poll(self) -> List[jobs_lib.Ended]:
    """The jobs that ended since the last call (waits up to a second while none did)."""
    ray, ended = self.ray, []
    if not self._running:
      return ended
    done, _ = ray.wait(list(self._running), num_returns=len(self._running), timeout=1.0)
    for ref in done:
      job = self._running.pop(ref)
      try:
        status = f"exit {ray.get(ref)}"
      except ray.exceptions.RayError as e:  # the task itself died (node lost, OOM kill)
        status = f"Ray: {type(e).__name__}"
      ended.append((job, None if status == "exit 0" else local.failed_line(job, status)))
    return ended

  def stop(self):
    for ref in self._running:
      self.ray.cancel(ref, force=True)
    self._running = {}
