"""A search space's shape: what must match to rebuild a genotype's network.

A space's shape is a dict {encoder-config key: JSON value} (MicroSpace: skeleton, op_set,
num_nodes, channels, ...; MacroSpace: channels, cells_per_stage, ...). Genotypes record the
shape of the space they were drawn from, so evaluate can rebuild the network from the genotype
alone (darts_rl.networks.space_config resolves it against a config). Genotypes are frozen
dataclasses: they hold the shape as sorted (key, value) pairs with lists as tuples (`freeze`),
and write it back as JSON (`thaw`).
"""

from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple

Frozen = Tuple[Tuple[str, Any], ...]


def json_value(v):
  """Tuples (and lists) as lists, recursively: how a shape value is written and compared."""
  return [json_value(x) for x in v] if isinstance(v, (list, tuple)) else v


def _frozen_value(key, v):
  if isinstance(v, (list, tuple)):
    return tuple(_frozen_value(key, x) for x in v)
  if v is not None and not isinstance(v, (str, int, float, bool)):
    raise ValueError(f"genotype space '{key}' has a value that is not JSON data: {v!r}")
  return v


def freeze(shape: Optional[Mapping]) -> Frozen:
  """{key: JSON value} -> sorted ((key, value), ...) with lists as tuples (hashable); None
  (not recorded) -> ()."""
  if shape is None:
    return ()
  if not isinstance(shape, Mapping) or not all(isinstance(k, str) for k in shape):
    raise ValueError(f"genotype 'space' must be an object of shape fields, got {shape!r}")
  return tuple(sorted((k, _frozen_value(k, v)) for k, v in shape.items()))


def thaw(frozen: Frozen) -> Dict[str, Any]:
  return {k: json_value(v) for k, v in frozen}


def describe(shape: Mapping) -> str:
  """One line, keys sorted: `space: cells_per_stage=2 channels=16,32,32 num_nodes=4 ...`."""
  fmt = lambda v: ",".join(map(str, v)) if isinstance(v, list) else str(v)
  return "space: " + " ".join(f"{k}={fmt(json_value(v))}" for k, v in sorted(shape.items()))


def check_recorded(recorded: Mapping, shape: Mapping):
  """Raises ValueError unless every key a genotype records has the space's value."""
  for key, value in recorded.items():
    if key not in shape:
      raise ValueError(
        f"genotype records an unknown space field '{key}'; the space's fields: {', '.join(shape)}"
      )
    if json_value(value) != shape[key]:
      raise ValueError(
        f"genotype records {key}={json_value(value)!r}, the space has {shape[key]!r}"
      )


class Shaped:
  """Mixin of a space dataclass whose shape is the fields named in SHAPE_FIELDS."""

  SHAPE_FIELDS: ClassVar[Dict[str, str]] = {}  # encoder-config key -> dataclass field

  def shape(self) -> Dict[str, Any]:
    """{config key: JSON value}, in SHAPE_FIELDS order."""
    return {k: json_value(getattr(self, f)) for k, f in self.SHAPE_FIELDS.items()}

  @classmethod
  def from_shape(cls, shape: Mapping):
    """The space of a complete shape dict; ValueError on a bad value."""
    try:
      return cls(**{f: shape[k] for k, f in cls.SHAPE_FIELDS.items()})
    except TypeError as e:  # e.g. channels=5: a wrong type, not a crash
      raise ValueError(f"bad search-space shape {dict(shape)}: {e}") from None

  @classmethod
  def canonical(cls, key: str, value):
    """A config value of shape field `key` as shape() writes it (to compare with a genotype's)."""
    return json_value(value)
