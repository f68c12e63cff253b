"""genotype.json and genotype.png: a discretized architecture and its diagram.

discretize writes both into the search workdir; evaluate reads a genotype.json from any path
(--config.encoder.genotype). `load_genotype` is the one reader of the file: a genotype of
either search space, by its "format"; fitting it to a space is the space's `fit`.
"""

import os

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


def write_genotype(path: str, genotype):
  """Writes `genotype` (anything with .to_json(), micro or macro) to `path` atomically."""
  atomic_write(path, genotype.to_json() + "\n")
