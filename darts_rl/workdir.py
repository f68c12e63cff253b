"""The workdir contract (WORKSPACE.md): atomic writes and which phase owns a directory.

Every file is written to a temp file in the same directory and renamed into place, so a kill
never leaves a half-written artifact. `claim` records the phase and resolved config in
config.json; a workdir of another phase, or of the same phase with another config, is refused.
"""
import json
import os
import tempfile
from typing import Optional

import ml_collections

DONE = "DONE"  # marker file: the phase finished; rerunning it is a no-op


class WorkdirError(ValueError):
  """A workdir that cannot be used for the requested phase."""


def atomic_write(path: str, data, mode: str = "w"):
  d = os.path.dirname(os.path.abspath(path))
  os.makedirs(d, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, mode) as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; artifacts are meant to be shared
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def atomic_write_json(path: str, obj):
  atomic_write(path, json.dumps(obj, indent=1, sort_keys=True, default=_json_default) + "\n")


def _json_default(x):
  if hasattr(x, "tolist"):
    return x.tolist()
  if isinstance(x, tuple):
    return list(x)
  raise TypeError(f"not JSON serializable: {type(x)}")


def config_to_dict(config) -> dict:
  """A ConfigDict as plain JSON-able data (tuples become lists)."""
  return json.loads(json.dumps(config.to_dict(), default=_json_default))


def read_json(path: str):
  try:
    with open(path) as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise WorkdirError(f"{path} is not valid JSON: {e}") from None


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a phase recorded in WORKDIR/config.json."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise WorkdirError(f"{workdir} has no config.json (is it a darts-rl workdir?)")
  d = read_json(path)
  d.pop("phase", None)
  return ml_collections.ConfigDict(d)


def _diff(a, b, prefix=""):
  keys = sorted(set(a) | set(b))
  out = []
  for k in keys:
    va, vb = a.get(k), b.get(k)
    if isinstance(va, dict) and isinstance(vb, dict):
      out += _diff(va, vb, f"{prefix}{k}.")
    elif va != vb:
      out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
  return out


def claim(workdir: str, phase: str, config) -> bool:
  """Makes `workdir` this phase's, or checks it already is. Returns True if the phase is done.

  Raises WorkdirError if the directory holds another phase's output or another config.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "config.json")
  want = dict(config_to_dict(config), phase=phase)
  if os.path.exists(path):
    have = read_json(path)
    if have.get("phase") != phase:
      raise WorkdirError(f"{workdir} belongs to phase '{have.get('phase')}', not '{phase}': "
                         "use another --workdir")
    diff = _diff(have, want)
    if diff:
      raise WorkdirError(f"{workdir} was started with another config ({'; '.join(diff[:3])}"
                         f"{' ...' if len(diff) > 3 else ''}): use another --workdir")
    return os.path.exists(os.path.join(workdir, DONE))
  others = [f for f in os.listdir(workdir) if not f.startswith(".")]
  if others:
    raise WorkdirError(f"{workdir} is not empty and has no config.json ({', '.join(sorted(others)[:3])}"
                       "): use another --workdir")
  atomic_write_json(path, want)
  return False


def mark_done(workdir: str, summary: Optional[dict] = None):
  atomic_write_json(os.path.join(workdir, DONE), summary or {})
