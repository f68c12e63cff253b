"""A genotype file of either space, read for analysis (reports, cell similarity)."""

from darts_rl import artifacts
from darts_rl.search import macro
from darts_rl.search.genotype import Genotype


def load_genotype(path: str):
  """genotype.json -> Genotype, or MacroGenotype when its "format" says so. ArtifactError naming
  the file if it is not a valid genotype of either kind."""
  d = artifacts.read_genotype_json(path)
  try:
    # Any version of the macro format ("darts_rl.macro_genotype/<n>"); from_dict checks which.
    if str(d.get("format", "")).startswith(macro.FORMAT.split("/")[0] + "/"):
      return macro.MacroGenotype.from_dict(d)
    return Genotype.from_dict(d)
  except ValueError as e:
    raise artifacts.ArtifactError(f"{path}: {e}") from None
