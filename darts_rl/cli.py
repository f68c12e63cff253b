"""What every launcher shares: device / multi-process flags and one-line errors.

Several processes (hosts) train one model when every process runs the same command with
`--coordinator_address=HOST:PORT --num_processes=N --process_id=I` (docs/gpus.md);
`--cpu_devices=K` gives a process K CPU devices, so one CPU machine can play several hosts
with several devices.
"""

import logging as std_logging
import os
import re
import signal
import sys

from absl import app, flags
from ml_collections import config_flags

from darts_rl import config_args, distributed

flags.DEFINE_string(
  "coordinator_address", "", "Several processes: HOST:PORT where process 0 listens."
)
flags.DEFINE_integer("num_processes", 1, "Several processes: how many take part.")
flags.DEFINE_integer("process_id", 0, "Several processes: this one's index (0 writes files).")
flags.DEFINE_integer(
  "local_devices",
  0,
  "Devices this process uses (0: all it sees; the same on every process). "
  "Pick GPUs with CUDA_VISIBLE_DEVICES.",
)
flags.DEFINE_integer(
  "cpu_devices",
  0,
  "Make this process show this many CPU devices (0: as jax finds them); "
  "for trying multi-device and multi-process runs on one CPU machine.",
)
flags.DEFINE_integer(
  "peer_timeout_s",
  60,
  "Several processes: a process that sends no heartbeat for this long is "
  "taken for dead, and the others stop with an error.",
)

# Errors a user can cause (bad config, bad files, a workdir of another phase, a NaN loss):
# reported as one line, exit status 1, nothing written past the last good state.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, FloatingPointError)
# Ctrl-C: this line instead of a traceback. Files are written atomically, so nothing is lost.
INTERRUPTED = (
  "interrupted: rerun the same command to continue (training resumes from its latest checkpoint)"
)


def setup():
  f = flags.FLAGS
  # jax's backend-probing INFO lines ("Unable to initialize backend 'tpu'") are noise here.
  std_logging.getLogger("jax").setLevel(std_logging.WARNING)
  distributed.initialize(
    f.coordinator_address, f.num_processes, f.process_id, f.cpu_devices, f.peer_timeout_s
  )


def devices():
  """The run's device layout (darts_rl.parallel.Devices) from --local_devices."""
  from darts_rl import parallel

  return parallel.Devices(flags.FLAGS.local_devices)


def guarded(fn):
  """Wraps an absl main: user errors print `error: ...` and exit 1. With several processes
  the launcher supervises a child running the same command, so a dead peer also ends in one
  line (darts_rl/distributed.py)."""

  def main(argv):
    del argv  # parse_flags refused positional arguments
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
    except KeyboardInterrupt:
      print(INTERRUPTED, file=sys.stderr, flush=True)
      sys.stdout.flush()
      if multi:
        os._exit(1)  # the supervisor passes status 1 on without a second line
      # End by SIGINT, as Python does on an uncaught Ctrl-C, so a calling shell stops too;
      # at once: an actor thread would hold up a normal exit.
      signal.signal(signal.SIGINT, signal.SIG_DFL)
      os.kill(os.getpid(), signal.SIGINT)

  return main


# --- The config flag and flag parsing: a bad command line is one `error:` line and exit 1. ---
# ml_collections parses --config (loads the file, applies --config.KEY overrides) inside absl's
# FLAGS(argv): an unknown key, a missing file or a refused variant escape from there as
# tracebacks. parse_flags checks those first, then turns absl's own errors into one line.

CONFIG_FLAG = "config"


def define_config_flag(flag_values=flags.FLAGS):
  """Defines --config=FILE[:VARIANT] and its --config.KEY=VALUE overrides, locked."""
  holder = config_flags.DEFINE_config_file(
    CONFIG_FLAG,
    None,
    "Experiment config file[:variant].",
    flag_values=flag_values,
    lock_config=True,
  )
  # A key flag of the launcher, not of this module, so that the launcher's --help lists it.
  module = sys._getframe(1).f_globals.get("__name__")
  flag_values.register_key_flag_for_module(
    sys.argv[0] if module == "__main__" else module, flag_values[CONFIG_FLAG]
  )
  return holder


def _config_args(argv):
  """(spec of the last --config=SPEC or None, keys of the --config.KEY overrides)."""
  spec, overrides = None, []
  for i, arg in enumerate(argv[1:], 1):
    if arg == "--":
      break
    name, eq, value = arg.lstrip("-").partition("=")
    if name == CONFIG_FLAG and arg.startswith("-"):
      spec = value if eq else (argv[i + 1] if i + 1 < len(argv) else None)
    elif re.match(rf"-{{1,2}}(no)?{CONFIG_FLAG}\.", arg):
      overrides.append(re.sub(rf"^(no)?{CONFIG_FLAG}\.", "", name))
  return spec, overrides


def check_config_args(argv, flag_values=flags.FLAGS):
  """Loads --config's file and variant and checks every override key, before absl does.

  Returns (the config, the override keys); (None, []) without --config; raises
  config_args.ConfigArgError."""
  if CONFIG_FLAG not in flag_values:
    return None, []
  spec, overrides = _config_args(flag_values.read_flags_from_files(argv, force_gnu=False))
  if spec is None:
    return None, []
  config = config_args.load(spec)
  for key in overrides:
    config_args.check_override(config, key)
  return config, overrides


def flag_error_message(error: Exception, config=None) -> str:
  """One line for a flag-parsing error; `config` (the loaded one) names an override's type."""
  msg = " ".join(str(error).split())
  required = re.fullmatch(r"flag --(\S+)=None: Flag --\S+ must have a value other than None\.", msg)
  if required:
    return f"missing required flag --{required.group(1)}"
  msg = re.sub(r"^flag --", "--", msg)
  override = re.match(rf"--{CONFIG_FLAG}\.([\w.]+)=", msg)
  if override and config is not None:
    *groups, name = override.group(1).split(".")
    node = config
    for group in groups:
      node = node[group]
    msg += f" (expected {node.get_type(name).__name__})"
  return msg


def parse_flags(argv, flag_values=flags.FLAGS):
  """absl's flags_parser for every launcher: the remaining argv, or one error line and exit 1."""
  config = None
  try:
    config, overrides = check_config_args(argv, flag_values)
    rest = flag_values(argv)
    if config is not None:
      config_args.split_joined_strings(flag_values[CONFIG_FLAG].value, overrides)
  except config_args.ConfigArgError as e:
    _fail(str(e))
  except flags.Error as e:
    _fail(flag_error_message(e, config))
  if len(rest) > 1:
    _fail(f"unexpected arguments {' '.join(rest[1:])}")
  return rest


def _fail(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(1)


def run(main):
  """app.run(main) with parse_flags: what every launcher's `__main__` calls."""
  app.run(main, flags_parser=parse_flags)
