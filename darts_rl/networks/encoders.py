"""make_encoder(config): the one way an agent gets its image encoder.

An encoder is a Flax module called as `module(obs_uint8 [B, H, W, C], alphas) -> [B, D]` plus
its initial alphas pytree. Fixed encoders (impala, cnn4, fixed genotype) get `{}` and ignore it,
so agents never know which encoder they have. A fixed encoder receives its genotype parsed
(darts_rl.artifacts.encoder_genotype reads the file encoder.genotype names); its space shape
comes from the genotype (darts_rl.networks.space_config), and the spec's genotype records the
shape it was built with.

`encoder.compute_dtype=bfloat16` runs every encoder's convolutions and dense layers in bfloat16
with float32 parameters (so gradients and optimizer state stay float32); mixing weights, norms
and the encoder's output are float32, so the agents' heads and losses see float32 features.
"""

from typing import Any, NamedTuple, Optional

import flax.linen as nn
import jax.numpy as jnp

from darts_rl.networks import baselines
from darts_rl.networks.baselines import FilterResponseNorm
from darts_rl.networks.space_config import genotype_space, make_space, require
from darts_rl.search import robustness

ENCODERS = ("impala", "cnn4", "supernet", "fixed")
HEADS = ("impala", "sac")
HEAD_NORMS = ("none", "frn")
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class FeatureHead(nn.Module):
  """x [B, H, W, C] -> [B, dim].

  `norm` of the feature map first: none | frn (FilterResponseNorm + TLU: the SAC release's
  DARTS encoder). Then `impala`: flatten -> ReLU -> Dense(dim) -> ReLU (IMPALA-CNN);
  `sac`: flatten -> Dense(dim) -> LayerNorm (pixel SAC encoders, docs/paper.md). The Dense
  layer computes in `dtype` (params float32); the norms compute in float32 (params and input
  promote to it)."""

  kind: str = "impala"
  dim: int = 256
  norm: str = "none"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.norm not in HEAD_NORMS:
      raise ValueError(f"unknown encoder head_norm '{self.norm}'; valid: {', '.join(HEAD_NORMS)}")
    if self.norm == "frn":
      x = FilterResponseNorm(name="frn")(x)
    x = x.reshape(x.shape[0], -1)
    dense = nn.Dense(self.dim, dtype=self.dtype, name="dense")
    if self.kind == "impala":
      return nn.relu(dense(nn.relu(x)))
    if self.kind == "sac":
      return nn.LayerNorm(name="norm")(dense(x))
    raise ValueError(f"unknown encoder head '{self.kind}'; valid heads: {', '.join(HEADS)}")


class Encoder(nn.Module):
  """uint8 obs -> float in [0, 1] -> trunk(x, alphas) -> head -> float32 features."""

  trunk: nn.Module
  head: nn.Module

  def __call__(self, obs, alphas):
    x = obs.astype(jnp.float32) / 255.0
    return self.head(self.trunk(x, alphas)).astype(jnp.float32)


class EncoderSpec(NamedTuple):
  module: nn.Module
  alphas: Any  # initial architecture weights ({} for fixed encoders)
  space: Optional[Any] = None  # the search space (MicroSpace / MacroSpace) when searchable
  genotype: Optional[Any] = None  # a fixed encoder's genotype, recording its space's shape


def compute_dtype(config):
  """encoder.compute_dtype -> the jnp dtype; ValueError naming the valid ones."""
  name = config.compute_dtype
  if name not in COMPUTE_DTYPES:
    raise ValueError(f"unknown encoder.compute_dtype '{name}'; valid: {', '.join(COMPUTE_DTYPES)}")
  return COMPUTE_DTYPES[name]


def make_encoder(config, genotype=None, arch=None) -> EncoderSpec:
  """config: the `encoder` ConfigDict. genotype: the Genotype or MacroGenotype a `fixed`
  encoder builds (required there, ignored by the other kinds), as read from the file
  `config.genotype` names; a genotype that does not fit the config is an error naming that
  file. `arch` (the `arch` ConfigDict) adds the entries its robustness options need to a
  supernet's alphas and space (darts_rl/search/robustness.py); fixed encoders ignore it.
  Raises ValueError with one clear line on bad input."""
  kind = config.kind
  dtype = compute_dtype(config)
  head = FeatureHead(config.head, config.feature_dim, config.head_norm, dtype)
  if kind == "impala":
    require(config, "channels", "cells_per_stage")
    trunk = baselines.ImpalaTrunk(tuple(config.channels), config.cells_per_stage, dtype)
    return EncoderSpec(Encoder(trunk, head), {})
  if kind == "cnn4":
    require(config, "channels")
    trunk = baselines.CNN4Trunk(config.channels[0], config.cnn4_activation, dtype)
    return EncoderSpec(Encoder(trunk, head), {})
  if kind == "supernet":
    p = config.partial_channels
    if p < 1 or any(ch % p for ch in config.channels):
      raise ValueError(
        f"encoder.partial_channels={p} must be >= 1 and divide every stage's "
        f"channels {tuple(config.channels)}"
      )
    space = make_space(config)
    options = None if arch is None else robustness.SearchOptions.from_config(arch)
    extras = robustness.init_extras(space, options, config.temperature)
    if extras:
      space = robustness.OptionSpace(space, extras)
    trunk = space.trunk(
      None, config.temperature, config.partial_channels, config.fused_edges, dtype
    )
    return EncoderSpec(Encoder(trunk, head), space.init_alphas(), space=space)
  if kind == "fixed":
    if genotype is None:
      raise ValueError(
        "encoder.kind=fixed needs a parsed genotype: make_encoder(config, genotype), the "
        "genotype read with darts_rl.artifacts.encoder_genotype(config)"
      )
    try:
      space, genotype = genotype_space(config, genotype)
    except ValueError as e:
      if not config.genotype:  # a genotype made in code, from no file
        raise
      raise ValueError(f"{config.genotype}: {e}") from None
    trunk = space.trunk(genotype, fused_edges=config.fused_edges, dtype=dtype)
    return EncoderSpec(Encoder(trunk, head), {}, space=space, genotype=genotype)
  raise ValueError(f"unknown encoder kind '{kind}'; valid kinds: {', '.join(ENCODERS)}")
