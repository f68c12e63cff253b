"""What every launcher shares: device / multi-process flags and one-line errors.

Several processes (hosts) train one model when every process runs the same command with
`--coordinator_address=HOST:PORT --num_processes=N --process_id=I` (see README, "Several GPUs
and hosts"); `--cpu_devices=K` gives a process K CPU devices, so one CPU machine can play
several hosts with several devices.
"""
import logging as std_logging
import os
import sys

from absl import flags

from darts_rl import distributed

flags.DEFINE_string("coordinator_address", "",
                    "Several processes: HOST:PORT where process 0 listens.")
flags.DEFINE_integer("num_processes", 1, "Several processes: how many take part.")
flags.DEFINE_integer("process_id", 0, "Several processes: this one's index (0 writes files).")
flags.DEFINE_integer("local_devices", 0,
                     "Devices this process uses (0: all it sees; the same on every process). "
                     "Pick GPUs with CUDA_VISIBLE_DEVICES.")
flags.DEFINE_integer("cpu_devices", 0,
                     "Make this process show this many CPU devices (0: as jax finds them); "
                     "for trying multi-device and multi-process runs on one CPU machine.")
flags.DEFINE_integer("peer_timeout_s", 60,
                     "Several processes: a process that sends no heartbeat for this long is "
                     "taken for dead, and the others stop with an error.")

# Errors a user can cause (bad config, bad files, a workdir of another phase, a NaN loss):
# reported as one line, exit status 1, nothing written past the last good state.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, FloatingPointError)


def setup():
  f = flags.FLAGS
  # jax's backend-probing INFO lines ("Unable to initialize backend 'tpu'") are noise here.
  std_logging.getLogger("jax").setLevel(std_logging.WARNING)
  distributed.initialize(f.coordinator_address, f.num_processes, f.process_id, f.cpu_devices,
                         f.peer_timeout_s)


def devices():
  """The run's device layout (darts_rl.parallel.Devices) from --local_devices."""
  from darts_rl import parallel
  return parallel.Devices(flags.FLAGS.local_devices)


def guarded(fn):
  """Wraps an absl main: user errors print `error: ...` and exit 1. With several processes
  the launcher supervises a child running the same command, so a dead peer also ends in one
  line (darts_rl/distributed.py)."""
  def main(argv):
    if len(argv) > 1:
      print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
      sys.exit(2)
    f = flags.FLAGS
    multi = f.num_processes > 1
    if multi and not distributed.is_supervised_child():
      sys.exit(distributed.supervise(sys.argv, f.process_id))
    try:
      setup()
      fn()
    except USER_ERRORS as e:
      msg = e.args[0] if isinstance(e, KeyError) and e.args else e
      print(f"error: {msg}", file=sys.stderr, flush=True)
      if multi:
        # Skip jax's exit barrier, which would wait for peers that may never reach it.
        sys.stdout.flush()
        os._exit(1)
      sys.exit(1)
  return main
