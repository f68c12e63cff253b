"""genotype.json and genotype.png: a discretized architecture and its diagram.

discretize writes both into the search workdir; evaluate reads a genotype.json from any path
(--config.encoder.genotype). `load_genotype` is the one reader of the file: a genotype of
either search space, by its "format"; `encoder_genotype` reads the one an encoder config names,
for networks.make_encoder, which fits it to its space (the space's `fit`).
"""

import json
import os
from typing import Optional

from darts_rl.artifacts.files import ArtifactError, atomic_write, read_json
from darts_rl.search import genotype as micro
from darts_rl.search import macro

GENOTYPE = "genotype.json"
GENOTYPE_PNG = "genotype.png"
# genotype.json "format" -> the genotype class of that search space.
FORMATS = {micro.FORMAT: micro.Genotype, macro.FORMAT: macro.MacroGenotype}


def genotype_path(workdir: str) -> str:
  return os.path.join(workdir, GENOTYPE)


def genotype_png_path(workdir: str) -> str:
  return os.path.join(workdir, GENOTYPE_PNG)


def read_genotype_json(path: str) -> dict:
  """The JSON object of a genotype file; ArtifactError naming the file if it cannot be read or
  is not a JSON object."""
  return read_json(path, "genotype")


def load_genotype(path: str):
  """genotype.json -> Genotype or MacroGenotype, by its "format" (not yet fitted to a space).
  ArtifactError naming the file if it is not a valid genotype of either kind."""
  d = read_genotype_json(path)
  try:
    if d.get("format") not in FORMATS:
      raise ValueError(
        f"genotype format is {d.get('format')!r}, expected one of {', '.join(map(repr, FORMATS))}"
      )
    return FORMATS[d["format"]].from_dict(d)
  except ValueError as e:
    raise ArtifactError(f"{path}: {e}") from None


def encoder_genotype(encoder):
  """The parsed genotype a fixed encoder is built from (networks.make_encoder's `genotype`):
  load_genotype(encoder.genotype) when encoder.kind is fixed, else None. ValueError when a fixed
  encoder names no file; ArtifactError naming a file that is not a genotype."""
  if encoder.kind != "fixed":
    return None
  if not encoder.genotype:
    raise ValueError(f"encoder.kind=fixed needs --config.encoder.genotype=PATH/{GENOTYPE}")
  return load_genotype(encoder.genotype)


# The key of a genotype file that says where its cell was searched ({"games": [...]} or
# {"task": ...}: the search config's env); genotype parsers ignore it.
SEARCHED_ON = "searched_on"


def searched_on(env) -> dict:
  """The part of an env config (ConfigDict or dict) that names what a search trained on."""
  keys = ("kind", "games", "task", "distribution_mode")
  return {k: list(env[k]) if isinstance(env[k], tuple) else env[k] for k in keys if k in env}


def write_genotype(path: str, genotype, env=None):
  """Writes `genotype` (anything with .to_dict(), micro or macro) to `path` atomically, with
  `searched_on(env)` when the search's env config is given."""
  d = genotype.to_dict()
  if env is not None:
    d[SEARCHED_ON] = searched_on(env)
  atomic_write(path, json.dumps(d, indent=1) + "\n")


def transfer_note(path: str, env) -> Optional[str]:
  """'searched on starpilot, retrained on bigfish' when the genotype file at `path` records a
  search env other than `env` (the retraining config's), else None (also for files that
  record none)."""
  origin = read_genotype_json(path).get(SEARCHED_ON)
  if not isinstance(origin, dict):
    return None
  here = searched_on(env)
  if all(origin.get(k) == here.get(k) for k in origin):
    return None

  def name(e):
    return ",".join(e.get("games") or []) or str(e.get("task", "?"))

  return f"searched on {name(origin)}, retrained on {name(here)}"
