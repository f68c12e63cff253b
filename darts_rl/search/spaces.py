"""Micro search-space skeletons: where cells sit in the encoder (docs/paper.md, "Skeletons").

- `impala`: [optional stem conv] -> for each stage: conv3x3 -> maxpool 3x3/2 -> N normal cells.
  The SAC release's DARTS encoder: stem conv 3x3 stride 2 VALID, then one such stage.
  The cells replace IMPALA-CNN's residual blocks (no residual around them). No reduction cell.
- `standard`: stem conv3x3 -> for each stage: reduction cell -> N normal cells.
The encoder head (flatten -> features) lives in darts_rl.networks.encoders.
"""

import dataclasses
from typing import Any, Callable, ClassVar, Dict, Optional, Tuple

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from darts_rl.pooling import max_pool
from darts_rl.search import alphas as alphas_lib
from darts_rl.search import cells, ops
from darts_rl.search import shape as shape_lib
from darts_rl.search.genotype import Genotype, discretize, sample_genotype

SKELETONS = ("impala", "standard")
PADDINGS = ("SAME", "VALID")
_GENOTYPE_KEYS = ("op_set", "num_nodes")  # shape fields a Genotype holds itself


@dataclasses.dataclass(frozen=True)
class MicroSpace(shape_lib.Shaped):
  """Everything that fixes the shape of the alphas and of the cell positions."""

  SHAPE_FIELDS: ClassVar[Dict[str, str]] = {
    "skeleton": "skeleton",
    "op_set": "op_names",
    "num_nodes": "num_nodes",
    "channels": "channels",
    "cells_per_stage": "cells_per_stage",
    "stem_channels": "stem_channels",
    "stem_stride": "stem_stride",
    "stem_padding": "stem_padding",
    "node_norm": "node_norm",
  }

  skeleton: str = "impala"
  op_names: Tuple[str, ...] = ops.OP_SETS["base"]
  channels: Tuple[int, ...] = (16, 32, 32)
  cells_per_stage: int = 2
  num_nodes: int = 4
  stem_channels: int = 0  # impala: 0 = no stem; standard: required (> 0)
  stem_stride: int = 1
  stem_padding: str = "SAME"  # SAME | VALID (the SAC release's stem)
  node_norm: bool = False

  def __post_init__(self):
    if self.skeleton not in SKELETONS:
      raise ValueError(
        f"unknown skeleton '{self.skeleton}'; valid skeletons: {', '.join(SKELETONS)}"
      )
    object.__setattr__(self, "op_names", ops.resolve_op_set(self.op_names))
    object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
    if not self.channels or min(self.channels) < 1:
      raise ValueError(f"channels must be a non-empty list of positive ints, got {self.channels}")
    if self.num_nodes < 1 or self.cells_per_stage < 0:
      raise ValueError("num_nodes must be >= 1 and cells_per_stage >= 0")
    if self.skeleton == "standard" and self.stem_channels < 1:
      raise ValueError("the standard skeleton needs stem_channels >= 1")
    if self.stem_padding not in PADDINGS:
      raise ValueError(f"unknown stem_padding '{self.stem_padding}'; valid: {', '.join(PADDINGS)}")

  @property
  def cell_types(self) -> Tuple[str, ...]:
    return ("normal",) if self.skeleton == "impala" else ("normal", "reduce")

  # --- The space protocol: what the phases need from a search space. MacroSpace implements
  # the same methods, so search / discretize / evaluate / random search never ask which
  # space they have.

  def init_alphas(self) -> alphas_lib.Alphas:
    return alphas_lib.init_alphas(self.cell_types, self.num_nodes, len(self.op_names))

  def discretize(self, alphas, k: int = 2, temperature: float = 1.0) -> Genotype:
    return self.fit(discretize(alphas, self.op_names, k, temperature))

  def sample(self, rng: np.random.Generator, k: int = 2) -> Genotype:
    return self.fit(sample_genotype(rng, self.op_names, self.cell_types, self.num_nodes, k))

  def parse_genotype(self, d) -> Genotype:
    """A genotype dict (parsed JSON) -> Genotype that fits this space, else ValueError."""
    return self.fit(Genotype.from_dict(d))

  def fit(self, g: Genotype) -> Genotype:
    """`g` recording this space's shape; ValueError unless it fits (the shape it records,
    op set, cell types, nodes)."""
    shape = self.shape()
    shape_lib.check_recorded(g.shape(), shape)
    g.check_fits(self.op_names, self.cell_types, self.num_nodes)
    return g.with_space({k: v for k, v in shape.items() if k not in _GENOTYPE_KEYS})

  @classmethod
  def canonical(cls, key: str, value):
    return list(ops.resolve_op_set(value)) if key == "op_set" else shape_lib.json_value(value)

  def trunk(
    self,
    genotype: Optional[Genotype] = None,
    temperature: float = 1.0,
    partial_channels: int = 1,
    fused_edges: bool = True,
    dtype: Any = jnp.float32,
  ) -> nn.Module:
    """The supernet trunk when genotype is None, else the fixed network of that genotype.
    fused_edges: the cells' edge form (cells.SearchCell, cells.FixedCell); dtype: the convolutions'
    compute dtype (params stay float32)."""
    if genotype is None:

      def cell_fn(cell_type, channels, name):
        return cells.SearchCell(
          channels,
          self.num_nodes,
          cell_type == "reduce",
          self.node_norm,
          dtype=dtype,
          op_names=self.op_names,
          temperature=temperature,
          partial_channels=partial_channels,
          fused_edges=fused_edges,
          name=name,
        )
    else:
      genotype.check_fits(self.op_names, self.cell_types, self.num_nodes)

      def cell_fn(cell_type, channels, name):
        return cells.FixedCell(
          channels,
          self.num_nodes,
          cell_type == "reduce",
          self.node_norm,
          dtype=dtype,
          cell=genotype.cell(cell_type),
          fused_edges=fused_edges,
          name=name,
        )

    return SkeletonTrunk(self, cell_fn, dtype=dtype)

  def mixing_summary(self, alphas, temperature: float = 1.0) -> Dict[str, float]:
    """Flat {'normal/n1_in0/Conv3x3': weight, 'normal/entropy': nats} for logging."""
    return alphas_lib.mixing_summary(alphas, self.op_names, temperature)


# cell_fn(cell_type, channels, name) -> module called as module(x, alphas_of_that_type)
CellFn = Callable[[str, int, str], nn.Module]


class SkeletonTrunk(nn.Module):
  """Places cells built by `cell_fn` into a skeleton. x float [B, H, W, C] -> [B, h, w, c]."""

  space: MicroSpace
  cell_fn: CellFn
  dtype: Any = jnp.float32  # the stem and stage convolutions' compute dtype

  @nn.compact
  def __call__(self, x, alphas):
    sp = self.space
    get = lambda ct: alphas_lib.cell_alphas(alphas, ct)
    if sp.stem_channels:
      x = nn.Conv(
        sp.stem_channels,
        (3, 3),
        (sp.stem_stride,) * 2,
        padding=sp.stem_padding,
        dtype=self.dtype,
        name="stem",
      )(x)
    for s, ch in enumerate(sp.channels):
      if sp.skeleton == "impala":
        x = nn.Conv(ch, (3, 3), padding="SAME", dtype=self.dtype, name=f"stage{s}_conv")(x)
        x = max_pool(x, 3, 2)
      else:
        x = self.cell_fn("reduce", ch, f"stage{s}_reduce")(x, get("reduce"))
      for c in range(sp.cells_per_stage):
        x = self.cell_fn("normal", ch, f"stage{s}_cell{c}")(x, get("normal"))
    return x
