"""genotype.json and genotype.png: a discretized architecture and its diagram.

discretize writes both into the search workdir; evaluate reads a genotype.json from any path
(--config.encoder.genotype). This module reads and writes the JSON file; turning its dict into
a Genotype (and validating it against a space) is darts_rl.search's `parse_genotype`.
"""

import os

from darts_rl.artifacts.files import atomic_write, read_json

GENOTYPE = "genotype.json"
GENOTYPE_PNG = "genotype.png"


def genotype_path(workdir: str) -> str:
  return os.path.join(workdir, GENOTYPE)


def genotype_png_path(workdir: str) -> str:
  return os.path.join(workdir, GENOTYPE_PNG)


def read_genotype_json(path: str) -> dict:
  """The JSON object of a genotype file; ArtifactError naming the file if it cannot be read or
  is not a JSON object."""
  return read_json(path, "genotype")


def write_genotype(path: str, genotype):
  """Writes `genotype` (anything with .to_json(), micro or macro) to `path` atomically."""
  atomic_write(path, genotype.to_json() + "\n")
