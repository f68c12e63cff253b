"""The command line of every launcher: experiment configs, device and host flags, one-line errors.

A config is named `FILE[:VARIANT]` (`--config=experiments/ppo_procgen.py:search,smoke`) and
changed by `--config.KEY=VALUE` overrides: `load` runs the file's get_config once, with
one-line errors for a missing file or a variant get_config refuses; `check_override` explains
a key the config lacks (the fields at that level and the closest key anywhere); `leaves` walks
a config's fields as dotted keys.

Several processes (hosts) train one model when every process runs the same command with
`--coordinator_address=HOST:PORT --num_processes=N --process_id=I` (docs/gpus.md);
`--cpu_devices=K` gives a process K CPU devices, so one CPU machine can play several hosts
with several devices.
"""

import difflib
import importlib.util
import logging as std_logging
import os
import re
import signal
import sys
from typing import Iterator, List, Optional, Tuple

import ml_collections
from absl import app, flags
from ml_collections import config_flags

from darts_rl import distributed

# --- Experiment configs as named on a command line. ---


class ConfigArgError(ValueError):
  """A config file, variant or override key on the command line that cannot be used."""


def package_root(directory: str) -> str:
  # A config inside a package (experiments/ has __init__.py) may import its siblings as
  # `experiments.x`: the directory above the outermost package must be importable.
  while os.path.exists(os.path.join(directory, "__init__.py")):
    directory = os.path.dirname(directory)
  return directory


def _missing_file_message(path: str) -> str:
  directory = os.path.dirname(path) or "."
  msg = f"config file {path} not found"
  if os.path.isdir(directory):
    files = [f for f in sorted(os.listdir(directory)) if f.endswith(".py") and f != "__init__.py"]
    match = difflib.get_close_matches(os.path.basename(path), files, 1, 0.6)
    if match:
      msg += f"; did you mean {os.path.join(os.path.dirname(path), match[0])}?"
  return msg


def load(spec: str) -> ml_collections.ConfigDict:
  """'FILE[:VARIANT]' -> FILE's get_config(VARIANT) (get_config() without ':'), unlocked."""
  path, sep, variant = spec.partition(":")
  if not os.path.isfile(path):
    raise ConfigArgError(_missing_file_message(path))
  root = package_root(os.path.dirname(os.path.abspath(path)))
  if root not in sys.path:
    sys.path.insert(0, root)
  name = "config_" + os.path.splitext(os.path.basename(path))[0]
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  try:
    module_spec.loader.exec_module(module)
  except SyntaxError as e:
    raise ConfigArgError(f"{path}:{e.lineno}: {e.msg}") from None
  if not callable(getattr(module, "get_config", None)):
    raise ConfigArgError(f"{path} has no get_config(arg) function")
  try:
    return module.get_config(*([variant] if sep else []))
  except ValueError as e:  # get_config's own check of the variant (config.parse_variant)
    raise ConfigArgError(str(e)) from None


def leaves(config, prefix: str = "") -> Iterator[Tuple[str, ml_collections.ConfigDict, str]]:
  """Every non-group field, in key order: (dotted key, the ConfigDict holding it, its name)."""
  for name in config.keys():
    value = config[name]
    if isinstance(value, ml_collections.ConfigDict):
      yield from leaves(value, f"{prefix}{name}.")
    else:
      yield f"{prefix}{name}", config, name


def keys(config, prefix: str = "") -> List[str]:
  """Every dotted key, groups included ('ppo', 'ppo.optimizer', 'ppo.optimizer.lr', ...)."""
  out = []
  for name in config.keys():
    out.append(f"{prefix}{name}")
    if isinstance(config[name], ml_collections.ConfigDict):
      out += keys(config[name], f"{prefix}{name}.")
  return out


def closest_key(config, key: str) -> Optional[str]:
  """The dotted key most like `key`: the same last name first ('ppo.lr' -> 'ppo.optimizer.lr'),
  else the most similar whole key."""
  candidates = keys(config)
  leaf = key.rsplit(".", 1)[-1]

  def leaf_ratio(k):
    return difflib.SequenceMatcher(None, leaf, k.rsplit(".", 1)[-1]).ratio()

  same_leaf = [k for k in candidates if leaf_ratio(k) >= 0.75]
  if same_leaf:
    return max(
      same_leaf, key=lambda k: (leaf_ratio(k), difflib.SequenceMatcher(None, key, k).ratio())
    )
  match = difflib.get_close_matches(key, candidates, 1, 0.6)
  return match[0] if match else None


def check_override(config, key: str):
  """Raises ConfigArgError naming the valid fields and the closest key if `key` is not in
  `config` (`a.b.c`), and for an index suffix (`a.b[i]`) on a tuple field, which cannot be set
  one item at a time (the whole tuple can: `a.b=x,y`)."""
  node, path = config, []
  for part in key.split("."):
    name = part.split("[", 1)[0]
    if not isinstance(node, ml_collections.ConfigDict):
      raise ConfigArgError(
        f"unknown config key '{key}': {'.'.join(path)} is a field "
        f"({type(node).__name__}), not a group of fields"
      )
    if name not in node:
      where = ".".join(path) or "the config's top level"
      msg = f"unknown config key '{key}': no '{name}' in {where} (valid: {', '.join(node.keys())})"
      match = closest_key(config, key)
      raise ConfigArgError(msg + (f"; did you mean {match}?" if match else ""))
    node = node[name]
    path.append(name)
  if "[" in key and isinstance(node, tuple):
    field = key.split("[", 1)[0]
    raise ConfigArgError(
      f"cannot set one item of tuple field '{field}' ({key}); give the whole tuple, "
      f"comma-separated: --config.{field}=..."
    )


def split_joined_strings(config, keys):
  """A tuple-of-strings override written comma-separated (`--config.loop.eval_splits=train,test`)
  reaches the config as one string, ('train,test',): split it into the tuple's items. `keys`:
  the override keys of the command line (indexed keys `a.b[i]` are refused by check_override)."""
  for key in keys:
    if "[" in key:
      continue
    *groups, name = key.split(".")
    node = config
    for group in groups:
      node = node[group]
    value = node[name]
    if isinstance(value, tuple) and len(value) == 1 and isinstance(value[0], str):
      if "," in value[0]:
        node[name] = tuple(v.strip() for v in value[0].split(",") if v.strip())


# --- Device and host flags, and how a launcher's main runs. ---

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
# ml_collections applies --config.KEY overrides inside absl's FLAGS(argv), where an unknown key,
# a missing file or a refused variant would escape as tracebacks. parse_flags loads the config
# and checks every override key first, hands that config to the flag (the file runs once), then
# turns absl's own errors into one line.

CONFIG_FLAG = "config"
# Flags of this module a device-using launcher's --help lists beside its own (absl's own flags
# stay under --helpfull).
DEVICE_FLAGS = (
  "local_devices",
  "cpu_devices",
  "coordinator_address",
  "num_processes",
  "process_id",
  "peer_timeout_s",
)


class _LoadedConfig(flags.ArgumentParser):
  """--config's parser: the config parse_flags loaded for this spec, else load(spec); locked."""

  def __init__(self):
    self.loaded = {}

  def parse(self, argument):
    config = self.loaded.pop(argument, None)
    config = load(argument) if config is None else config
    config.lock()
    return config

  def flag_type(self):
    return "config object"


def define_config_flag(flag_values=flags.FLAGS):
  """Defines --config=FILE[:VARIANT] and its --config.KEY=VALUE overrides, locked."""
  holder = config_flags.DEFINE_config_file(
    CONFIG_FLAG,
    None,
    "Experiment config file[:variant].",
    flag_values=flag_values,
    lock_config=True,
  )
  flag_values[CONFIG_FLAG].parser = _LoadedConfig()
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
  """Loads --config's file and variant and checks every override key, before absl does; the
  flag then takes this config instead of loading the file again.

  Returns (the config, the override keys); (None, []) without --config; raises ConfigArgError."""
  if CONFIG_FLAG not in flag_values:
    return None, []
  spec, overrides = _config_args(flag_values.read_flags_from_files(argv, force_gnu=False))
  if spec is None:
    return None, []
  config = load(spec)
  for key in overrides:
    check_override(config, key)
  flag_values[CONFIG_FLAG].parser.loaded = {spec: config}
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
      split_joined_strings(flag_values[CONFIG_FLAG].value, overrides)
  except ConfigArgError as e:
    _fail(str(e))
  except flags.Error as e:
    _fail(flag_error_message(e, config))
  if len(rest) > 1:
    _fail(f"unexpected arguments {' '.join(rest[1:])}")
  return rest


def _fail(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(1)


def run(main, shown=()):
  """app.run(main) with parse_flags: what every launcher's `__main__` calls. `shown`: names of
  library flags (DEVICE_FLAGS, sweep.options.FLAGS) that the launcher's --help lists beside its
  own flags and --config."""
  f = flags.FLAGS
  for name in (CONFIG_FLAG, *shown):
    if name in f:  # absl's --help lists the key flags of the main module, named by argv[0]
      f.register_key_flag_for_module(sys.argv[0], f[name])
  app.run(main, flags_parser=parse_flags)
