"""Experiment configs as named on a command line: `FILE[:VARIANT]` and `--config.KEY` overrides.

`load` runs a config file's get_config the way `--config=` does, with one-line errors for a
missing file or a variant get_config refuses; `check_override` explains an override key the
config lacks (the fields at that level and the closest key anywhere). `leaves` walks a config's
fields as dotted keys, for printing it and for the config reference.
"""

import difflib
import importlib.util
import os
import sys
from typing import Iterator, List, Optional, Tuple

import ml_collections


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
