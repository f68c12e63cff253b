"""The sweep launchers' executor flags, and the executor they describe.

--parallel=N           trials at once (local: worker processes; ray: tasks in flight)
--executor=local|ray   this machine (default) or a Ray cluster (pip install -e '.[ray]')
--ray_address=ADDR     auto | local | HOST:PORT
--devices_per_trial=K  GPUs per trial (0: local, an equal share; ray, 1); on CPU, K > 1
                       gives each trial K forced CPU devices
--cpus_per_trial=C     ray: num_cpus per task (0: 1); local: cores are shared out evenly
"""

from absl import flags

EXECUTORS = ("local", "ray")
# The flags define_flags defines: a sweep launcher's --help lists them (cli.run's `shown`).
FLAGS = ("parallel", "executor", "ray_address", "devices_per_trial", "cpus_per_trial")


def define_flags(flag_values=flags.FLAGS):
  fv = dict(flag_values=flag_values)
  flags.DEFINE_integer(
    "parallel",
    1,
    "Trials run at once (1 with the local executor: in this process, one after another).",
    **fv,
  )
  flags.DEFINE_enum(
    "executor",
    "local",
    EXECUTORS,
    "Where trials run: this machine's pool or a Ray cluster (pip install -e '.[ray]').",
    **fv,
  )
  flags.DEFINE_string(
    "ray_address",
    "auto",
    "--executor=ray: auto (a running cluster), local (start one here), or HOST:PORT.",
    **fv,
  )
  flags.DEFINE_integer(
    "devices_per_trial",
    0,
    "GPUs per trial (0: local, an equal share of "
    "this machine's; ray, 1). On CPU, K > 1 gives a trial K CPU devices.",
    **fv,
  )
  flags.DEFINE_integer(
    "cpus_per_trial",
    0,
    "--executor=ray: CPUs Ray reserves per trial "
    "(0: 1). The local pool shares this machine's cores out evenly.",
    **fv,
  )


def make_executor(
  parallel: int = 1,
  executor: str = "local",
  ray_address: str = "auto",
  devices_per_trial: int = 0,
  cpus_per_trial: int = 0,
):
  """A LocalPool or RayExecutor (ValueError, one line, for a bad choice)."""
  if executor not in EXECUTORS:
    raise ValueError(f"unknown executor '{executor}'; valid: {', '.join(EXECUTORS)}")
  if parallel < 1:
    raise ValueError(f"--parallel must be >= 1, got {parallel}")
  if executor == "ray":
    from darts_rl.sweep.ray_run import RayExecutor

    return RayExecutor(ray_address, parallel, devices_per_trial, cpus_per_trial)
  from darts_rl.sweep.local import LocalPool

  return LocalPool(parallel, devices_per_trial)


def from_flags():
  f = flags.FLAGS
  return make_executor(f.parallel, f.executor, f.ray_address, f.devices_per_trial, f.cpus_per_trial)
