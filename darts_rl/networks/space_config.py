"""Encoder config -> search space: which fields fix a space's shape, and where they come from.

A search (encoder.kind=supernet) and random search build their space from the config alone
(`make_space`). A fixed encoder rebuilds a genotype, and a genotype records the shape of the
space it was drawn from (genotype.json's op_set, num_nodes and "space"; darts_rl.search.shape),
so evaluate configs leave the shape fields unset (darts_rl.config.leave_shape_to_genotype) and
`genotype_space` takes the genotype's. A field the config does set must equal the genotype's.
Genotypes written before they recorded their space take the fields they lack from the config.
"""

from typing import List

from darts_rl.search import macro
from darts_rl.search.spaces import MicroSpace

SPACES = {"micro": MicroSpace, "macro": macro.MacroSpace}


def _space_class(name):
  if name not in SPACES:
    raise ValueError(f"unknown search space '{name}'; valid spaces: {', '.join(SPACES)}")
  return SPACES[name]


def unset_fields(config) -> List[str]:
  """The fields fixing the space's shape that the encoder config leaves unset (None); with
  `space` unset, those of every space."""
  if config.get("space") is None:
    keys = dict.fromkeys(k for cls in SPACES.values() for k in cls.SHAPE_FIELDS)
    return ["space"] + [k for k in keys if config.get(k) is None]
  return [k for k in _space_class(config.space).SHAPE_FIELDS if config.get(k) is None]


def unset_phrase(keys: List[str]) -> str:
  """'encoder.a is unset' | 'encoder.a, encoder.b are unset'."""
  return f"encoder.{', encoder.'.join(keys)} {'is' if len(keys) == 1 else 'are'} unset"


def require(config, *keys: str):
  """ValueError naming the first of `keys` the encoder config leaves unset."""
  for k in keys:
    if config.get(k) is None:
      raise ValueError(f"{unset_phrase([k])}: encoder.kind={config.kind} needs it")


def make_space(config):
  """The search space the encoder config names (every shape field set), else ValueError."""
  unset = unset_fields(config)
  if unset:
    raise ValueError(
      f"{unset_phrase(unset)}: a search space needs its shape from the config "
      "(only kind=fixed takes it from its genotype)"
    )
  cls = _space_class(config.space)
  return cls.from_shape({k: config[k] for k in cls.SHAPE_FIELDS})


def genotype_space(config, genotype):
  """A genotype (Genotype or MacroGenotype, as artifacts.load_genotype reads it) -> (its space,
  the genotype recording that space's shape).

  Each shape field is the genotype's; a field the encoder config sets must equal it; a field
  an older genotype does not record is the config's. ValueError on a conflict, a field neither
  gives, or a genotype that does not fit.
  """
  name = "macro" if isinstance(genotype, macro.MacroGenotype) else "micro"
  if config.get("space") not in (None, name):
    raise ValueError(
      f"encoder.space={config.space!r} conflicts with the genotype's space "
      f"'{name}': leave encoder.space unset"
    )
  cls = SPACES[name]
  recorded = genotype.shape()
  shape, unset = {}, []
  for key in cls.SHAPE_FIELDS:
    given = config.get(key)
    if key not in recorded:
      shape[key] = given
      unset += [key] if given is None else []
    elif given is None or cls.canonical(key, given) == recorded[key]:
      shape[key] = recorded[key]
    else:
      raise ValueError(
        f"encoder.{key}={given!r} conflicts with the genotype's {key} "
        f"{recorded[key]!r}: leave encoder.{key} unset (the genotype records "
        "its space's shape)"
      )
  if unset:
    raise ValueError(
      f"the genotype does not record {', '.join(unset)} (written before genotypes "
      "recorded their space's shape) and the config leaves them unset: set "
      f"{' '.join(f'--config.encoder.{k}=...' for k in unset)} to the search's "
      "values"
    )
  space = cls.from_shape(shape)
  return space, space.fit(genotype)
