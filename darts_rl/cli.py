"""What every launcher shares: distributed flags and one-line errors with a non-zero exit."""
import logging as std_logging
import sys

from absl import flags

from darts_rl import parallel

flags.DEFINE_string("coordinator_address", "", "Multi-host: host:port of process 0.")
flags.DEFINE_integer("num_processes", 1, "Multi-host: number of processes.")
flags.DEFINE_integer("process_id", 0, "Multi-host: this process's index.")

# Errors a user can cause (bad config, bad files, a workdir of another phase, a NaN loss):
# reported as one line, exit status 1, nothing written past the last good state.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, FloatingPointError)


def setup():
  f = flags.FLAGS
  # jax's backend-probing INFO lines ("Unable to initialize backend 'tpu'") are noise here.
  std_logging.getLogger("jax").setLevel(std_logging.WARNING)
  parallel.initialize_distributed(f.coordinator_address, f.num_processes, f.process_id)


def guarded(fn):
  """Wraps an absl main so user errors print `error: ...` and exit 1."""
  def main(argv):
    if len(argv) > 1:
      print(f"error: unexpected arguments {argv[1:]}", file=sys.stderr)
      sys.exit(2)
    try:
      setup()
      fn()
    except USER_ERRORS as e:
      msg = e.args[0] if isinstance(e, KeyError) and e.args else e
      print(f"error: {msg}", file=sys.stderr)
      sys.exit(1)
  return main
