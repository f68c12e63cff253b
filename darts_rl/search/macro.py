"""Macro search space over the IMPALA-CNN skeleton (docs/paper.md, "Macro space").

The paper's exact macro space is not public; this is this project's reading of it. Per stage s:

    conv3x3(width_s) -> downsample choice -> block choice x blocks_per_stage

- downsample ops: maxpool 3x3/2, avgpool 3x3/2 (TF-style, padding not counted), conv3x3 stride 2.
- block ops: res3x3 (IMPALA's residual block), res5x5, conv3x3relu, skip.
- width (only with search_width): one conv of max(widths) channels whose channels >= w are masked
  to zero; the mask is the width-weighted sum of the candidate masks (FBNetV2-style) and is
  applied to every conv output of the stage, so a one-hot width is exactly a width-w stage.
Every choice has its own alphas (no sharing across stages or slots):

    {'downsample': [S, n_down], 'blocks': [S, B, n_block], 'width': [S, n_widths] (search_width)}

MacroSpace implements the space protocol of MicroSpace (init_alphas, discretize, sample,
parse_genotype, fit, shape, trunk, mixing_summary), so the phases never ask which space they have.
"""

import dataclasses
import json
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from darts_rl.search import alphas as alphas_lib
from darts_rl.search import ops
from darts_rl.search import shape as shape_lib

FORMAT = "darts_rl.macro_genotype/1"


# --- Candidate ops. Each is called as op(x, mask) with mask None or [C] (width search).


def _masked(y, mask):
  return y if mask is None else y * mask


class ConvOp(nn.Module):
  """SAME conv with bias, optionally + ReLU; output channels masked."""

  channels: int
  kernel: int = 3
  stride: int = 1
  relu: bool = False
  dtype: Any = jnp.float32  # compute dtype of the convolutions here and below (params float32)

  @nn.compact
  def __call__(self, x, mask=None):
    y = nn.Conv(
      self.channels,
      (self.kernel,) * 2,
      (self.stride,) * 2,
      padding="SAME",
      dtype=self.dtype,
      name="conv",
    )(x)
    return _masked(nn.relu(y) if self.relu else y, mask)


class PoolOp(nn.Module):
  """3x3 stride-2 pooling (ops.Pool: max, or TF-style average)."""

  kind: str

  @nn.compact
  def __call__(self, x, mask=None):
    del mask  # pooling keeps zero (masked) channels zero; masking again would square a soft mask
    return ops.Pool(self.kind, 2)(x)


class ResidualOp(nn.Module):
  """IMPALA residual block x + conv(relu(conv(relu(x)))) with a k x k kernel.

  kernel=3 without mask is baselines.ResidualBlock (same param names conv0/conv1, same output;
  tests/test_macro.py checks it); it is rewritten here only to mask the inner conv's channels.
  """

  channels: int
  kernel: int = 3
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, mask=None):
    conv = lambda name: nn.Conv(
      self.channels, (self.kernel,) * 2, padding="SAME", dtype=self.dtype, name=name
    )
    y = _masked(conv("conv0")(nn.relu(x)), mask)
    y = _masked(conv("conv1")(nn.relu(y)), mask)
    return x + y


class SkipOp(nn.Module):
  def __call__(self, x, mask=None):
    return x


# name -> constructor(channels, name, dtype=float32) -> op module.
DOWNSAMPLE_OPS = {
  "maxpool": lambda ch, name, dtype=None: PoolOp("max", name=name),
  "avgpool": lambda ch, name, dtype=None: PoolOp("avg", name=name),
  "conv3x3s2": lambda ch, name, dtype=jnp.float32: ConvOp(ch, 3, 2, dtype=dtype, name=name),
}
BLOCK_OPS = {
  "res3x3": lambda ch, name, dtype=jnp.float32: ResidualOp(ch, 3, dtype, name=name),
  "res5x5": lambda ch, name, dtype=jnp.float32: ResidualOp(ch, 5, dtype, name=name),
  "conv3x3relu": lambda ch, name, dtype=jnp.float32: ConvOp(
    ch, 3, 1, relu=True, dtype=dtype, name=name
  ),
  "skip": lambda ch, name, dtype=None: SkipOp(name=name),
}
_REGISTRY = {"downsample": DOWNSAMPLE_OPS, "block": BLOCK_OPS}


class Choice(nn.Module):
  """One choice. With weights [K]: sum_k w_k op_k(x) (supernet); without: its one op.

  Candidates are named by op name, so a fixed net's params are a subset of the supernet's.
  """

  kind: str  # downsample | block
  op_names: Tuple[str, ...]
  channels: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, weights=None, mask=None):
    make = lambda name: _REGISTRY[self.kind][name](self.channels, name, self.dtype)
    if weights is None:
      assert len(self.op_names) == 1, "a fixed choice has exactly one op"
      return make(self.op_names[0])(x, mask)
    return sum(weights[k] * make(name)(x, mask) for k, name in enumerate(self.op_names))


class Stage(nn.Module):
  """conv3x3 -> downsample choice -> block choices. x [B, H, W, C] -> [B, H/2, W/2, channels]."""

  channels: int
  downsample_ops: Tuple[str, ...]
  block_ops: Tuple[Tuple[str, ...], ...]  # candidates per block slot
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, down_w=None, block_w=None, mask=None):
    x = _masked(
      nn.Conv(self.channels, (3, 3), padding="SAME", dtype=self.dtype, name="conv")(x), mask
    )
    x = Choice("downsample", self.downsample_ops, self.channels, self.dtype, name="downsample")(
      x, down_w, mask
    )
    for b, names in enumerate(self.block_ops):
      x = Choice("block", names, self.channels, self.dtype, name=f"block{b}")(
        x, None if block_w is None else block_w[b], mask
      )
    return x


# --- Genotype.


@dataclasses.dataclass(frozen=True)
class StageGene:
  downsample: str
  blocks: Tuple[str, ...]
  width: int


@dataclasses.dataclass(frozen=True)
class MacroGenotype:
  """One discrete choice per stage: downsample op, block op per slot, width. JSON:

      {"format": "darts_rl.macro_genotype/1",
       "space": {"channels": [16, 32, 32], "cells_per_stage": 2, ...},
       "stages": [{"width": 16, "downsample": "maxpool", "blocks": ["res3x3", "skip"]}, ...]}

  "space" is the shape of the space it was drawn from (MacroSpace.shape), absent from genotypes
  written before they recorded it.
  """

  stages: Tuple[StageGene, ...]
  space: shape_lib.Frozen = ()  # () when not recorded

  def __post_init__(self):
    if not self.stages:
      raise ValueError("macro genotype has no stages")
    for s, st in enumerate(self.stages):
      if st.downsample not in DOWNSAMPLE_OPS:
        raise ValueError(
          f"macro genotype stage {s}: unknown downsample op '{st.downsample}'; "
          f"valid: {', '.join(DOWNSAMPLE_OPS)}"
        )
      for b, op in enumerate(st.blocks):
        if op not in BLOCK_OPS:
          raise ValueError(
            f"macro genotype stage {s} block {b}: unknown block op '{op}'; "
            f"valid: {', '.join(BLOCK_OPS)}"
          )
      if st.width < 1:
        raise ValueError(f"macro genotype stage {s}: width must be >= 1, got {st.width}")

  def shape(self) -> Dict:
    """The space shape this genotype records."""
    return shape_lib.thaw(self.space)

  def with_space(self, space: Mapping) -> "MacroGenotype":
    return dataclasses.replace(self, space=shape_lib.freeze(space))

  def to_dict(self) -> Dict:
    d = {"format": FORMAT}
    if self.space:
      d["space"] = shape_lib.thaw(self.space)
    d["stages"] = [
      {"width": st.width, "downsample": st.downsample, "blocks": list(st.blocks)}
      for st in self.stages
    ]
    return d

  def to_json(self) -> str:
    return json.dumps(self.to_dict(), indent=1)

  @classmethod
  def from_dict(cls, d) -> "MacroGenotype":
    if not isinstance(d, Mapping):
      raise ValueError("macro genotype JSON must be an object")
    if d.get("format") != FORMAT:
      raise ValueError(f"genotype format is {d.get('format')!r}, expected {FORMAT!r}")
    stages = d.get("stages")
    if not isinstance(stages, list) or not stages:
      raise ValueError("macro genotype 'stages' must be a non-empty list")
    genes = []
    for s, st in enumerate(stages):
      if not isinstance(st, Mapping) or set(st) != {"width", "downsample", "blocks"}:
        raise ValueError(
          f"macro genotype stage {s} must be an object with exactly the keys "
          f"width, downsample, blocks; got {st!r}"
        )
      w, down, blocks = st["width"], st["downsample"], st["blocks"]
      if (
        isinstance(w, bool)
        or not isinstance(w, int)
        or not isinstance(down, str)
        or not isinstance(blocks, list)
        or not all(isinstance(b, str) for b in blocks)
      ):
        raise ValueError(
          f"macro genotype stage {s}: width must be an int, downsample an op "
          f"name and blocks a list of op names; got {dict(st)!r}"
        )
      genes.append(StageGene(down, tuple(blocks), w))
    return cls(tuple(genes), shape_lib.freeze(d.get("space")))

  @classmethod
  def from_json(cls, text: str) -> "MacroGenotype":
    try:
      d = json.loads(text)
    except json.JSONDecodeError as e:
      raise ValueError(f"genotype is not valid JSON: {e}") from None
    return cls.from_dict(d)

  def describe(self) -> str:
    """The recorded space shape (if any) on one line, then one line per stage, e.g.
    `stage0: conv3x3(16) -> maxpool -> res3x3 -> skip`."""
    lines = [shape_lib.describe(self.shape())] if self.space else []
    return "\n".join(
      lines
      + [
        f"stage{s}: " + " -> ".join((f"conv3x3({st.width})", st.downsample) + st.blocks)
        for s, st in enumerate(self.stages)
      ]
    )


# --- The space.


def _op_tuple(names, registry, what) -> Tuple[str, ...]:
  names = tuple(names)
  if not names:
    raise ValueError(f"macro space: {what} ops are empty")
  bad = [n for n in names if n not in registry]
  if bad:
    raise ValueError(f"macro space: unknown {what} ops {bad}; valid: {', '.join(registry)}")
  if len(set(names)) != len(names):
    raise ValueError(f"macro space: {what} ops list an op twice: {list(names)}")
  return names


@dataclasses.dataclass(frozen=True)
class MacroSpace(shape_lib.Shaped):
  """Per-stage choices over the IMPALA-CNN skeleton; see the module docstring. SHAPE_FIELDS:
  its shape by config key, as genotypes record it (the candidate ops have no config key)."""

  SHAPE_FIELDS: ClassVar[Dict[str, str]] = {
    "channels": "channels",
    "cells_per_stage": "blocks_per_stage",
    "macro_search_width": "search_width",
    "macro_widths": "widths",
  }
  channels: Tuple[int, ...] = (16, 32, 32)  # stage widths when search_width is off
  blocks_per_stage: int = 2
  downsample_ops: Tuple[str, ...] = tuple(DOWNSAMPLE_OPS)
  block_ops: Tuple[str, ...] = tuple(BLOCK_OPS)
  search_width: bool = False
  widths: Tuple[int, ...] = (16, 32, 64)  # candidate widths of every stage (search_width)

  def __post_init__(self):
    object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
    object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
    object.__setattr__(
      self, "downsample_ops", _op_tuple(self.downsample_ops, DOWNSAMPLE_OPS, "downsample")
    )
    object.__setattr__(self, "block_ops", _op_tuple(self.block_ops, BLOCK_OPS, "block"))
    if not self.channels or min(self.channels) < 1:
      raise ValueError(f"channels must be a non-empty list of positive ints, got {self.channels}")
    if self.blocks_per_stage < 0:
      raise ValueError(f"blocks_per_stage must be >= 0, got {self.blocks_per_stage}")
    if not self.widths or min(self.widths) < 1 or len(set(self.widths)) != len(self.widths):
      raise ValueError(f"widths must be distinct positive ints, got {self.widths}")

  @property
  def num_stages(self) -> int:
    return len(self.channels)

  @property
  def cell_types(self) -> Tuple[str, ...]:
    return ()  # no cells in the macro space

  def _shapes(self) -> Dict[str, Tuple[int, ...]]:
    s = self.num_stages
    shapes = {
      "downsample": (s, len(self.downsample_ops)),
      "blocks": (s, self.blocks_per_stage, len(self.block_ops)),
    }
    if self.search_width:
      shapes["width"] = (s, len(self.widths))
    return shapes

  def _check_alphas(self, alphas):
    shapes = self._shapes()
    if not isinstance(alphas, Mapping) or set(alphas) != set(shapes):
      got = sorted(alphas) if isinstance(alphas, Mapping) else type(alphas).__name__
      raise ValueError(f"macro alphas must have keys {sorted(shapes)}, got {got}")
    for key, shape in shapes.items():
      if tuple(jnp.shape(alphas[key])) != shape:
        raise ValueError(
          f"macro alphas '{key}' have shape {tuple(jnp.shape(alphas[key]))}, expected {shape}"
        )

  # --- The space protocol (same methods as MicroSpace).

  def init_alphas(self) -> Dict[str, jnp.ndarray]:
    """Zero alphas (uniform mixtures), shapes in the module docstring."""
    return {k: jnp.zeros(shape, jnp.float32) for k, shape in self._shapes().items()}

  def discretize(self, alphas, k: int = 2, temperature: float = 1.0) -> MacroGenotype:
    """Argmax of the mixing weights per choice; ties go to the lower index. k is unused
    (it is the micro space's edges per node)."""
    del k
    self._check_alphas(alphas)
    pick = lambda key: np.argmax(
      np.asarray(alphas_lib.mixing_weights(alphas[key], temperature)), axis=-1
    )
    down, blocks = pick("downsample"), pick("blocks")
    widths = pick("width") if self.search_width else None
    return self.fit(
      MacroGenotype(
        tuple(
          StageGene(
            self.downsample_ops[down[s]],
            tuple(self.block_ops[i] for i in blocks[s]),
            self.widths[widths[s]] if self.search_width else self.channels[s],
          )
          for s in range(self.num_stages)
        )
      )
    )

  def sample(self, rng: np.random.Generator, k: int = 2) -> MacroGenotype:
    """Uniform over every choice independently (the random-search baseline); k is unused."""
    del k
    pick = lambda options: options[int(rng.integers(len(options)))]
    return self.fit(
      MacroGenotype(
        tuple(
          StageGene(
            pick(self.downsample_ops),
            tuple(pick(self.block_ops) for _ in range(self.blocks_per_stage)),
            pick(self.widths) if self.search_width else self.channels[s],
          )
          for s in range(self.num_stages)
        )
      )
    )

  def check_fits(self, g: MacroGenotype):
    """Raises ValueError unless genotype `g` is a point of this space."""
    if len(g.stages) != self.num_stages:
      raise ValueError(f"macro genotype has {len(g.stages)} stages, the space {self.num_stages}")
    for s, st in enumerate(g.stages):
      if st.downsample not in self.downsample_ops:
        raise ValueError(
          f"macro genotype stage {s}: downsample op '{st.downsample}' is not in "
          f"the space's downsample ops {list(self.downsample_ops)}"
        )
      if len(st.blocks) != self.blocks_per_stage:
        raise ValueError(
          f"macro genotype stage {s} has {len(st.blocks)} blocks, the space {self.blocks_per_stage}"
        )
      bad = [op for op in st.blocks if op not in self.block_ops]
      if bad:
        raise ValueError(
          f"macro genotype stage {s}: block ops {bad} are not in the space's "
          f"block ops {list(self.block_ops)}"
        )
      allowed = self.widths if self.search_width else (self.channels[s],)
      if st.width not in allowed:
        raise ValueError(
          f"macro genotype stage {s}: width {st.width} is not allowed; allowed: "
          f"{list(allowed)}"
          + ("" if self.search_width else " (width search is off: the stage's channels)")
        )

  def parse_genotype(self, d) -> MacroGenotype:
    """A genotype dict (parsed JSON) -> MacroGenotype that fits this space, else ValueError."""
    return self.fit(MacroGenotype.from_dict(d))

  def fit(self, g: MacroGenotype) -> MacroGenotype:
    """`g` recording this space's shape; ValueError unless it fits (check_fits, and the
    shape it records)."""
    shape = self.shape()
    shape_lib.check_recorded(g.shape(), shape)
    self.check_fits(g)
    return g.with_space(shape)

  def trunk(
    self,
    genotype: Optional[MacroGenotype] = None,
    temperature: float = 1.0,
    partial_channels: int = 1,
    fused_edges: bool = True,
    dtype: Any = jnp.float32,
  ) -> nn.Module:
    """The supernet trunk when genotype is None, else the fixed network of that genotype.
    Called as module(x float [B, H, W, C], alphas) -> [B, H / 2^S, W / 2^S, C_last].
    dtype: the convolutions' compute dtype (params stay float32); fused_edges is unused (the
    micro space's cells have edges, this space has none)."""
    del fused_edges
    if partial_channels != 1:
      raise ValueError(
        "partial_channels (PC-DARTS) is a micro-space option; the macro space "
        f"needs partial_channels=1, got {partial_channels}"
      )
    if genotype is not None:
      self.check_fits(genotype)
    return MacroTrunk(self, genotype, temperature, dtype)

  def mixing_summary(self, alphas, temperature: float = 1.0) -> Dict[str, float]:
    """Flat {'downsample/stage0/maxpool': w, 'blocks/stage1_slot0/res3x3': w,
    'width/stage0/w16': w, 'downsample/entropy': nats, ...} for logging."""
    self._check_alphas(alphas)
    out = {}
    w = jax.device_get(alphas_lib.all_mixing_weights(alphas, temperature))
    for s in range(self.num_stages):
      for i, name in enumerate(self.downsample_ops):
        out[f"downsample/stage{s}/{name}"] = float(w["downsample"][s, i])
      for b in range(self.blocks_per_stage):
        for i, name in enumerate(self.block_ops):
          out[f"blocks/stage{s}_slot{b}/{name}"] = float(w["blocks"][s, b, i])
      if self.search_width:
        for i, width in enumerate(self.widths):
          out[f"width/stage{s}/w{width}"] = float(w["width"][s, i])
    # Mean entropy per kind of choice.
    for key, wk in w.items():
      out[f"{key}/entropy"] = float(np.mean(alphas_lib.entropy(wk)))
    return out


class MacroTrunk(nn.Module):
  """Stages `stage{s}` of the supernet (genotype None) or of a fixed genotype (alphas ignored).
  x float [B, H, W, C] -> [B, h, w, c]."""

  space: MacroSpace
  genotype: Optional[MacroGenotype] = None
  temperature: float = 1.0
  dtype: Any = jnp.float32  # the convolutions' compute dtype

  @nn.compact
  def __call__(self, x, alphas=None):
    sp = self.space
    if self.genotype is not None:
      for s, st in enumerate(self.genotype.stages):
        x = Stage(
          st.width, (st.downsample,), tuple((op,) for op in st.blocks), self.dtype, name=f"stage{s}"
        )(x)
      return x
    sp._check_alphas(alphas)
    mix = lambda key: alphas_lib.mixing_weights(alphas[key], self.temperature)
    down, blocks = mix("downsample"), mix("blocks")  # [S, n_down], [S, B, n_block]
    masks = [None] * sp.num_stages
    channels = sp.channels
    if sp.search_width:
      c_max = max(sp.widths)
      # Candidate masks [n_widths, C_max]: channel c is kept by width w iff c < w.
      keep = (jnp.arange(c_max)[None, :] < jnp.asarray(sp.widths)[:, None]).astype(jnp.float32)
      masks = mix("width") @ keep  # [S, C_max]
      channels = (c_max,) * sp.num_stages
    for s in range(sp.num_stages):
      x = Stage(
        channels[s],
        sp.downsample_ops,
        (sp.block_ops,) * sp.blocks_per_stage,
        self.dtype,
        name=f"stage{s}",
      )(x, down[s], blocks[s], masks[s])
    return x
