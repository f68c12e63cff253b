"""config.json and DONE: which phase owns a workdir, with which config, and whether it finished.

`claim` records the phase and the resolved config in config.json; a workdir of another phase,
or of the same phase with another config, is refused with one line naming the difference.
DONE marks a finished phase: rerunning it is a no-op that says so.
"""

import json
import os
from typing import Any, List, Optional, Tuple

import ml_collections

from darts_rl.artifacts.files import ArtifactError, atomic_write_json, missing, read_json, to_json

CONFIG = "config.json"
DONE = "DONE"


def config_to_dict(config) -> dict:
  """A ConfigDict as plain JSON-able data (tuples become lists)."""
  return json.loads(to_json(config.to_dict()))


# Fields added after config.json files were first written, with the value a config without
# them means: how runs behaved before the field existed (not always today's default:
# loop.overlap was off, ppo.grad_chunks 1). A group the config lacks (ppo in a SAC config)
# stays absent.
ADDED_FIELDS = {
  "encoder.compute_dtype": "float32",
  "encoder.fused_edges": True,
  "arch.unrolled_lr": 0.0,
  "arch.clip_together": True,
  "ppo.grad_chunks": 1,
  "rainbow.exploration.decay_power": 7.0,
  "env.num_threads": 0,
  "loop.num_logs": 100,
  "loop.num_checkpoints": 20,
  "loop.eval_batch": 0,
  "loop.overlap": "off",
  "loop.wandb": False,
}


def upgrade_config(d: dict) -> dict:
  """A config.json dict of any release -> the same config with every field of ADDED_FIELDS it
  lacks set to its former meaning: readers of a config read each field as today's name, with
  no default of their own. `d` is not changed."""
  d = json.loads(json.dumps(d))
  for key, value in ADDED_FIELDS.items():
    *groups, name = key.split(".")
    node = d
    for group in groups:
      node = node.get(group) if isinstance(node, dict) else None
    if isinstance(node, dict):
      node.setdefault(name, value)
  return d


def read_config(workdir: str) -> dict:
  """WORKDIR/config.json as written by `claim` (the resolved config plus "phase"), upgraded to
  today's fields (upgrade_config)."""
  path = os.path.join(workdir, CONFIG)
  if not os.path.exists(path):
    raise missing(workdir, CONFIG, "is it a darts-rl workdir?")
  return upgrade_config(read_json(path))


def phase(workdir: str) -> Optional[str]:
  """The phase recorded in WORKDIR/config.json (None if it names none)."""
  return read_config(workdir).get("phase")


def load_config(workdir: str, want_phase: Optional[str] = None) -> ml_collections.ConfigDict:
  """The resolved config a phase recorded in WORKDIR/config.json. want_phase: refuse a
  workdir of any other phase."""
  d = read_config(workdir)
  have = d.pop("phase", None)
  if want_phase is not None and have != want_phase:
    raise ArtifactError(f"{workdir} belongs to phase '{have}', not '{want_phase}'")
  return ml_collections.ConfigDict(d)


# Where a run's logs go, not what it computes: a resumed run may change them.
LOGGING_KEYS = ("loop.tensorboard", "loop.wandb", "loop.wandb_project", "loop.wandb_entity")
# May differ between a run and its resume (config.json keeps the first run's): the logging
# sinks, how one update's gradient is split into calls (ppo.grad_chunks: the same update up
# to float summation order; its `auto` resolves by backend, so a run may resume elsewhere), and
# how many env rows an evaluation's acting call computes (loop.eval_batch: likewise).
FREE_KEYS = LOGGING_KEYS + ("ppo.grad_chunks", "loop.eval_batch")


def config_differences(a: dict, b: dict, prefix: str = "", skip=()) -> List[Tuple[str, Any, Any]]:
  """[(dotted key, a's value, b's value)] of every setting where two config dicts (as in
  config.json) differ, nested sections flattened, sorted by key; keys in `skip` (dotted,
  prefix included) are left out. A key one side lacks has None there."""
  out = []
  for k in sorted(set(a) | set(b)):
    key = f"{prefix}{k}"
    if key in skip:
      continue
    va, vb = a.get(k), b.get(k)
    if isinstance(va, dict) and isinstance(vb, dict):
      out += config_differences(va, vb, f"{key}.", skip)
    elif va != vb:
      out.append((key, va, vb))
  return out


def claim(workdir: str, phase_name: str, config) -> bool:
  """Makes `workdir` this phase's, or checks it already is. Returns True if the phase is done.

  Raises ArtifactError if the directory holds another phase's output or another config
  (FREE_KEYS may differ: config.json keeps the first run's), or
  is not empty without a config.json; nothing is written then.
  """
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG)
  want = dict(config_to_dict(config), phase=phase_name)
  if os.path.exists(path):
    have = upgrade_config(read_json(path))  # a config.json of an earlier release, read as today's
    if have.get("phase") != phase_name:
      raise ArtifactError(
        f"{workdir} belongs to phase '{have.get('phase')}', not "
        f"'{phase_name}': use another --workdir"
      )
    diff = [
      f"{k}: {va!r} -> {vb!r}"
      for k, va, vb in config_differences(have, upgrade_config(want), skip=FREE_KEYS)
    ]
    if diff:
      raise ArtifactError(
        f"{workdir} was started with another config ({'; '.join(diff[:3])}"
        f"{' ...' if len(diff) > 3 else ''}): use another --workdir"
      )
    return is_done(workdir)
  others = [f for f in os.listdir(workdir) if not f.startswith(".")]
  if others:
    raise ArtifactError(
      f"{workdir} is not empty and has no {CONFIG} "
      f"({', '.join(sorted(others)[:3])}): use another --workdir"
    )
  atomic_write_json(path, want)
  return False


def mark_done(workdir: str, summary: Optional[dict] = None):
  """Writes WORKDIR/DONE (a JSON object: `summary`, e.g. the final env step count)."""
  atomic_write_json(os.path.join(workdir, DONE), summary or {})


def is_done(workdir: str) -> bool:
  return os.path.exists(os.path.join(workdir, DONE))


def require_done(workdir: str, what: str = "a finished run", how: str = ""):
  """ArtifactError unless WORKDIR/DONE exists: '<workdir> is not <what> (no DONE)[: <how>]'."""
  if not is_done(workdir):
    raise ArtifactError(f"{workdir} is not {what} (no {DONE})" + (f": {how}" if how else ""))
